"""OpenAI Chat Completions (and compatible providers) and the Responses API.

OpenAI counts are *inclusive*: ``prompt_tokens``/``input_tokens`` contain cached,
cache-write and audio tokens, ``completion_tokens`` contains reasoning, prediction and
audio tokens. The functions here subtract the contained parts to give disjoint buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from spendtag.bounds import MAX_CALL_COST
from spendtag.capture._fields import JSON, count, load_event, sub, subtract, text
from spendtag.capture.estimate import raw_chars, string_fields, tokens_for_chars
from spendtag.capture.parsed import Parsed
from spendtag.errors import UsageFormatError
from spendtag.money import PICO_PER_USD, MoneyError, from_decimal
from spendtag.usage import Status, Usage

_PTD = "usage.prompt_tokens_details."
_CTD = "usage.completion_tokens_details."


def chat_usage(u: JSON, provider: str = "openai", service_tier: str | None = None) -> Usage:
    """A Chat Completions ``usage`` object, including the compatible providers' extras.

    ``service_tier`` is the response's (it sits beside ``usage``, not in it)."""
    prompt = count(u, "prompt_tokens", "usage.")
    completion = count(u, "completion_tokens", "usage.")
    pd, cd = sub(u, "prompt_tokens_details"), sub(u, "completion_tokens_details")

    if u.get("prompt_cache_hit_tokens") is not None:
        # DeepSeek: hit + miss = prompt; its prompt_tokens_details.cached_tokens repeats the hit.
        cache_read, cache_write, audio_in = count(u, "prompt_cache_hit_tokens", "usage."), 0, 0
        if u.get("prompt_cache_miss_tokens") is not None:
            uncached = count(u, "prompt_cache_miss_tokens", "usage.")
        else:
            uncached = subtract(prompt, "usage.prompt_tokens", {"prompt_cache_hit_tokens": cache_read})
    else:
        cache_read = count(pd, "cached_tokens", _PTD)
        # Inside prompt_tokens per the Usage API; OpenRouter's cost figures confirm it for its gateway.
        cache_write = count(pd, "cache_write_tokens", _PTD)
        audio_in = count(pd, "audio_tokens", _PTD)
        uncached = subtract(prompt, "usage.prompt_tokens", {
            "cached_tokens": cache_read, "cache_write_tokens": cache_write, "audio_tokens": audio_in})

    audio_out = count(cd, "audio_tokens", _CTD)
    # Reasoning and accepted/rejected prediction tokens are billed as output: they stay in it.
    output = subtract(completion, "usage.completion_tokens", {"completion audio_tokens": audio_out})
    reasoning = count(cd, "reasoning_tokens", _CTD)
    if provider == "google" and cd.get("reasoning_tokens") is None:
        # Gemini's OpenAI-compatible endpoint leaves thinking out of completion_tokens and
        # counts it only in total_tokens (FORMATS.md 3.4): the gap is billed output.
        hidden = count(u, "total_tokens", "usage.") - prompt - completion
        if hidden > 0:
            reasoning = hidden
            output += hidden

    return Usage(
        input_tokens=uncached,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=cache_write,
        output_tokens=output,
        reasoning_tokens=reasoning,
        input_audio_tokens=audio_in,
        output_audio_tokens=audio_out,
        reported_cost=_reported_cost(u),
        service_tier=service_tier or None,
    )


def _reported_cost(u: JSON) -> int | None:
    """OpenRouter's ``cost`` (credits, 1 credit = 1 USD) in pico-USD, through Decimal(str(x))."""
    cost = _usd(u.get("cost"), "usage.cost")
    if cost is None:
        return None
    if u.get("is_byok") is True:
        # With your own key, ``cost`` is only OpenRouter's fee; the upstream provider bills
        # its inference to that key separately, and the call cost both.
        upstream = _usd(sub(u, "cost_details").get("upstream_inference_cost"),
                        "usage.cost_details.upstream_inference_cost")
        cost += upstream or 0
    return cost


def _usd(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageFormatError(f"usage field {name} must be a number of USD, got {value!r}")
    try:
        # str() of a float is its shortest repr, so 0.0103236 stays exactly 0.0103236.
        usd = Decimal(str(value)[:60])
        if not usd.is_finite() or abs(usd) > _MAX_USD:
            raise UsageFormatError(f"usage field {name} is beyond the bound of $100,000 for one call, "
                                   f"got {str(value)[:40]}")
        pico = from_decimal(usd)
    except (InvalidOperation, MoneyError):
        raise UsageFormatError(f"usage field {name} must be a number of USD, got {str(value)[:40]!r}") from None
    if pico < 0:
        raise UsageFormatError(f"usage field {name} must not be negative, got {value!r}")
    return pico


_MAX_USD = Decimal(MAX_CALL_COST) / PICO_PER_USD


def responses_usage(u: JSON) -> Usage:
    """A Responses API ``usage`` object; Codex's flat TokenUsage has the same meaning."""
    total_in = count(u, "input_tokens", "usage.")
    total_out = count(u, "output_tokens", "usage.")
    idt, odt = sub(u, "input_tokens_details"), sub(u, "output_tokens_details")
    where = "usage.input_tokens_details."

    if idt.get("cached_tokens") is not None:
        cache_read = count(idt, "cached_tokens", where)
    else:
        cache_read = count(u, "cached_input_tokens", "usage.")      # Codex
    if idt.get("cache_write_tokens") is not None:
        cache_write = count(idt, "cache_write_tokens", where)
    else:
        cache_write = count(u, "cache_write_input_tokens", "usage.")  # some Codex forks

    # Usage has 5m and 1h write buckets; OpenAI's TTLs are 30m and 12h. They go to the
    # short and long bucket respectively, and the price source decides each bucket's rate.
    ttl = sub(idt, "cache_write_tokens_details")
    long_writes = count(ttl, "ttl_12h_tokens", where) or count(ttl, "ttl_12h", where)
    short_writes = count(ttl, "ttl_30m_tokens", where) or count(ttl, "ttl_30m", where)
    cache_write = max(cache_write, short_writes + long_writes)
    short_writes = cache_write - long_writes   # writes without a stated TTL count as short

    if odt.get("reasoning_tokens") is not None:
        reasoning = count(odt, "reasoning_tokens", "usage.output_tokens_details.")
    else:
        reasoning = count(u, "reasoning_output_tokens", "usage.")   # Codex
    uncached = subtract(total_in, "usage.input_tokens",
                        {"cached_tokens": cache_read, "cache_write_tokens": cache_write})
    return Usage(
        input_tokens=uncached,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=short_writes,
        cache_write_1h_tokens=long_writes,
        output_tokens=total_out,
        reasoning_tokens=reasoning,
    )


def parse_chat(body: JSON, provider: str) -> Parsed:
    raw = body.get("usage")
    if not isinstance(raw, Mapping):
        raw = sub(body, "x_groq").get("usage")
    usage = None
    if isinstance(raw, Mapping):
        usage = chat_usage(raw, provider, text(body, "service_tier"))
    return Parsed(provider, text(body, "model"), usage, text(body, "id"), "ok")


def parse_responses(body: JSON, provider: str) -> Parsed:
    state = body.get("status")
    status: Status = "error" if state == "failed" else "aborted" if state == "cancelled" else "ok"
    raw = body.get("usage")
    usage = None
    if isinstance(raw, Mapping):
        usage = responses_usage(raw).replace(
            web_search_requests=web_searches(body), service_tier=text(body, "service_tier"))
    return Parsed(provider, text(body, "model"), usage, text(body, "id"), status)


def web_searches(body: JSON) -> int:
    """Billable web searches of a Response: the hosted-tool count, else the search actions."""
    reported = sub(sub(body, "tool_usage"), "web_search")
    if reported.get("num_requests") is not None:
        return count(reported, "num_requests", "tool_usage.web_search.")
    output = body.get("output")
    if not isinstance(output, list):
        return 0
    # Only "search" actions are billed; open_page and find_in_page are not (FORMATS.md 1.5).
    return sum(1 for item in output if isinstance(item, Mapping)
               and item.get("type") == "web_search_call" and sub(item, "action").get("type") == "search")


# --- streaming -------------------------------------------------------------------------

_CHAT_TEXT = string_fields("content", "reasoning_content", "reasoning", "refusal", "arguments")
_DELTA_TEXT = string_fields("delta")
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _may_carry_usage(data: bytes) -> bool:
    """False for chunks that cannot hold usage or an error, told apart without decoding them.

    OpenAI sends ``"usage":null`` on every chunk but the last one when usage is requested;
    Groq puts usage in ``x_groq`` (not necessarily announced on the first chunk, so always
    looked for). A false positive only costs a decode.
    """
    at = data.find(b'"usage"')
    if at >= 0 and not data[at + 7:at + 14].lstrip(b": ").startswith(b"null"):
        return True
    return b'"error"' in data or b'"x_groq"' in data


class ChatStream:
    """Chat Completions chunks: keep the last non-null usage from any chunk (FORMATS.md 3.4)."""

    __slots__ = ("_model", "_id", "_tier", "_usage", "_chars", "_done", "_error", "_seen")

    def __init__(self) -> None:
        self._model: str | None = None
        self._id: str | None = None
        self._tier: str | None = None
        self._usage: JSON | None = None
        self._chars = 0
        self._done = False
        self._error = False
        self._seen = False   # the first chunk is always decoded: it names the model and id

    def on_event(self, event: str | None, data: bytes) -> None:
        if data == b"[DONE]":
            self._done = True
            return
        self._chars += raw_chars(_CHAT_TEXT, data)
        if self._seen and not _may_carry_usage(data):
            return
        obj = load_event(data)
        if obj is None:
            return
        self._seen = True
        self._model = text(obj, "model") or self._model
        self._id = text(obj, "id") or self._id
        self._tier = text(obj, "service_tier") or self._tier
        if obj.get("error"):
            self._error = True
        raw = obj.get("usage")
        if not isinstance(raw, Mapping):
            raw = sub(obj, "x_groq").get("usage")   # Groq streams put usage there
        if isinstance(raw, Mapping):
            self._usage = raw

    def finish(self, provider: str) -> Parsed:
        if self._usage is not None:
            usage = chat_usage(self._usage, provider, self._tier)
            status: Status = "error" if self._error else "ok"
        else:
            # No usage chunk: either include_usage was off ([DONE] arrived) or the stream was
            # cut. The prompt is not in the stream: whoever holds the request adds its estimate.
            usage = Usage(output_tokens=tokens_for_chars(self._chars, provider), service_tier=self._tier,
                          estimated=True)
            status = "error" if self._error else "ok" if self._done else "aborted"
        return Parsed(provider, self._model, usage, self._id, status)


class ResponsesStream:
    """Responses API events: usage only on the terminal event, which embeds the whole Response."""

    __slots__ = ("_model", "_id", "_final", "_chars", "_error", "_seen")

    def __init__(self) -> None:
        self._model: str | None = None
        self._id: str | None = None
        self._final: JSON | None = None
        self._chars = 0
        self._error = False
        self._seen = False

    def on_event(self, event: str | None, data: bytes) -> None:
        if self._seen and event is not None and event not in _TERMINAL and event != "error":
            if event.endswith(".delta") and "audio" not in event:   # audio deltas are base64
                self._chars += raw_chars(_DELTA_TEXT, data)
            return
        obj = load_event(data)
        if obj is None:
            return
        self._seen = True
        kind = text(obj, "type") or event or ""
        if kind.endswith(".delta") and "audio" not in kind:
            self._chars += raw_chars(_DELTA_TEXT, data)
        response = sub(obj, "response")
        self._model = text(response, "model") or self._model
        self._id = text(response, "id") or self._id
        if kind in _TERMINAL:
            self._final = response
        elif kind == "error":
            self._error = True

    def finish(self, provider: str) -> Parsed:
        if self._final is not None:
            parsed = parse_responses(self._final, provider)
            status: Status = "error" if self._error else parsed.status
            if parsed.usage is not None:
                return Parsed(provider, parsed.model, parsed.usage, parsed.response_id, status)
        else:
            status = "error" if self._error else "aborted"
        usage = Usage(output_tokens=tokens_for_chars(self._chars, provider), estimated=True)
        return Parsed(provider, self._model, usage, self._id, status)
