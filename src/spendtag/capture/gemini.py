"""Google Gemini ``generateContent`` / ``streamGenerateContent?alt=sse`` (REST camelCase or SDK snake_case).

``promptTokenCount`` includes cached tokens; ``thoughtsTokenCount`` is NOT inside
``candidatesTokenCount`` and is billed as output; ``toolUsePromptTokenCount`` (tool results
fed back, e.g. grounding) is billed as input. Zero fields are omitted (proto3 JSON).
"""

from __future__ import annotations

from collections.abc import Mapping

from spendtag.capture._fields import EMPTY, JSON, count, load_event, subtract, text
from spendtag.capture.estimate import raw_chars, string_fields, tokens_for_chars
from spendtag.capture.parsed import Parsed
from spendtag.usage import Status, Usage

_TIERS = {
    "ON_DEMAND": "standard",
    "ON_DEMAND_FLEX": "flex",
    "ON_DEMAND_PRIORITY": "priority",
}


_SNAKE: dict[str, str] = {}


def _snake(name: str) -> str:
    """``promptTokenCount`` -> ``prompt_token_count`` (our own field names only: the cache stays small)."""
    found = _SNAKE.get(name)
    if found is None:
        found = _SNAKE[name] = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return found


def _get(obj: JSON, camel: str) -> object:
    value = obj.get(camel)
    return obj.get(_snake(camel)) if value is None else value


def _count(obj: JSON, camel: str) -> int:
    key = camel if obj.get(camel) is not None else _snake(camel)
    return count(obj, key, "usageMetadata.")


def _mapping(obj: JSON, camel: str) -> JSON:
    value = _get(obj, camel)
    return value if isinstance(value, Mapping) else EMPTY


def _audio(obj: JSON, camel: str) -> int:
    """Tokens of the AUDIO modality in a ``*TokensDetails`` list."""
    details = _get(obj, camel)
    if not isinstance(details, list):
        return 0
    return sum(_count(d, "tokenCount") for d in details
               if isinstance(d, Mapping) and d.get("modality") == "AUDIO")


def gemini_usage(um: JSON) -> Usage:
    prompt = _count(um, "promptTokenCount")
    cached = _count(um, "cachedContentTokenCount")
    candidates = _count(um, "candidatesTokenCount")
    thoughts = _count(um, "thoughtsTokenCount")
    # Cached audio stays in cache_read (there is no audio-cache bucket).
    audio_in = max(0, _audio(um, "promptTokensDetails") - _audio(um, "cacheTokensDetails"))
    audio_out = _audio(um, "candidatesTokensDetails")
    uncached = subtract(prompt, "usageMetadata.promptTokenCount",
                        {"cachedContentTokenCount": cached, "uncached AUDIO tokens": audio_in})
    text_out = subtract(candidates, "usageMetadata.candidatesTokenCount", {"AUDIO tokens": audio_out})
    traffic = _get(um, "trafficType")
    tier = _TIERS.get(traffic, traffic.lower()) if isinstance(traffic, str) and traffic else None
    return Usage(
        input_tokens=uncached + _count(um, "toolUsePromptTokenCount"),
        cache_read_tokens=cached,
        output_tokens=text_out + thoughts,
        reasoning_tokens=thoughts,
        input_audio_tokens=audio_in,
        output_audio_tokens=audio_out,
        service_tier=tier,
    )


def web_search_queries(body: JSON) -> int:
    """Grounding searches: the ``webSearchQueries`` of every candidate."""
    candidates = body.get("candidates")
    if not isinstance(candidates, list):
        return 0
    total = 0
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            queries = _get(_mapping(candidate, "groundingMetadata"), "webSearchQueries")
            total += len(queries) if isinstance(queries, list) else 0
    return total


def parse_generate_content(body: JSON, provider: str, *, searches: int | None = None) -> Parsed:
    um = _mapping(body, "usageMetadata")
    usage = None
    if um:
        found = web_search_queries(body)
        usage = gemini_usage(um).replace(web_search_requests=max(found, searches or 0))
    return Parsed(provider, text(body, "modelVersion") or text(body, "model_version"), usage,
                  text(body, "responseId") or text(body, "response_id"), "ok")


def parse_chunks(chunks: list[JSON], provider: str) -> Parsed:
    """A streamed JSON array (``streamGenerateContent`` without ``alt=sse``)."""
    state = GeminiStream()
    for chunk in chunks:
        state.take(chunk)
    return state.finish(provider)


_TEXT = string_fields("text")


class GeminiStream:
    """Every chunk repeats the cumulative usage: keep the last one (decoded only at the end)."""

    __slots__ = ("_last", "_previous", "_first", "_searches", "_chars", "_finished", "_error")

    def __init__(self) -> None:
        self._last: JSON | bytes | None = None      # newest chunk carrying usageMetadata
        self._previous: JSON | bytes | None = None  # fallback if the newest does not decode
        self._first: JSON | bytes | None = None     # model and id for streams without usage
        self._searches = 0
        self._chars = 0
        self._finished = False
        self._error = False

    def on_event(self, event: str | None, data: bytes) -> None:
        if self._first is None:
            self._first = data
        if b'"usageMetadata"' in data or b'"usage_metadata"' in data:
            self._previous, self._last = self._last, data
        self._chars += raw_chars(_TEXT, data)
        if b'"finishReason"' in data or b'"finish_reason"' in data:
            self._finished = True
        if b'"error"' in data or b"webSearchQueries" in data or b"web_search_queries" in data:
            obj = load_event(data)
            if obj is not None:
                self._inspect(obj)

    def take(self, chunk: JSON) -> None:
        """A decoded chunk (JSON-array streams)."""
        if self._first is None:
            self._first = chunk
        if _get(chunk, "usageMetadata") is not None:
            self._previous, self._last = self._last, chunk
        candidates = chunk.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else ():
            if isinstance(candidate, Mapping) and _get(candidate, "finishReason"):
                self._finished = True
            parts = _mapping(candidate, "content").get("parts") if isinstance(candidate, Mapping) else None
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    self._chars += len(part["text"])
        self._inspect(chunk)

    def _inspect(self, obj: JSON) -> None:
        if obj.get("error"):
            self._error = True
        # Grounding metadata normally arrives once, on the final chunk; if a chunk repeats it,
        # the largest list is the whole of it.
        self._searches = max(self._searches, web_search_queries(obj))

    def finish(self, provider: str) -> Parsed:
        last = _decoded(self._last) or _decoded(self._previous)
        status: Status = "error" if self._error else "ok" if self._finished else "aborted"
        if last is not None:
            parsed = parse_generate_content(last, provider, searches=self._searches)
            usage = parsed.usage
            if usage is not None and status != "ok":
                # Cumulative counts stop where the stream did; generation may have gone on.
                output = max(usage.output_tokens, tokens_for_chars(self._chars, provider))
                usage = usage.replace(output_tokens=output, estimated=True)
            return Parsed(provider, parsed.model, usage, parsed.response_id, status)
        first = _decoded(self._first) or EMPTY
        usage = Usage(output_tokens=tokens_for_chars(self._chars, provider), web_search_requests=self._searches,
                      estimated=True)
        model = text(first, "modelVersion") or text(first, "model_version")
        return Parsed(provider, model, usage, text(first, "responseId") or text(first, "response_id"), status)


def _decoded(chunk: JSON | bytes | None) -> JSON | None:
    if isinstance(chunk, bytes):
        return load_event(chunk)
    return chunk
