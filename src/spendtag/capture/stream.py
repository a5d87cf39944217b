"""Reading usage out of a streamed response, chunk by chunk, as it passes through.

This sits in the metering proxy's hot path, so :meth:`StreamReader.feed` does little per
chunk: SSE framing on bytes, and JSON decoding only for events that can carry usage (the
per-API states test the raw bytes first). Streamed text is only measured, for the output
estimate a cut stream needs.
"""

from __future__ import annotations

from collections.abc import Callable

from spendtag.capture._fields import load_event, text
from spendtag.capture.anthropic import MessagesStream
from spendtag.capture.gemini import GeminiStream
from spendtag.capture.openai import ChatStream, ResponsesStream
from spendtag.capture.parsed import Parsed, StreamState, normalise_provider
from spendtag.capture.sse import SSEDecoder
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

_STATES: dict[str, Callable[[], StreamState]] = {
    "chat": ChatStream,
    "responses": ResponsesStream,
    "messages": MessagesStream,
    "gemini": GeminiStream,
}
_API_ALIASES = {
    "chat": "chat", "chat.completions": "chat", "chat_completions": "chat", "completions": "chat",
    "responses": "responses", "codex": "responses",
    "messages": "messages", "anthropic": "messages",
    "gemini": "gemini", "generate_content": "gemini", "generatecontent": "gemini",
}
_ANTHROPIC_EVENTS = frozenset({"message_start", "message_delta", "message_stop", "content_block_start",
                               "content_block_delta", "content_block_stop", "ping"})


def api_name(api: str) -> str:
    """``api`` as one of chat, responses, messages, gemini."""
    name = _API_ALIASES.get(api.strip().lower())
    if name is None:
        raise UsageFormatError(f"unknown api {api!r}; expected one of chat, responses, messages, gemini")
    return name


def sniff_api(provider: str, event: str | None, data: bytes) -> str | None:
    """Which API a stream speaks, from its first event; None when that event tells nothing."""
    if event in _ANTHROPIC_EVENTS:
        return "messages"
    if event is not None and event.startswith("response."):
        return "responses"
    obj = load_event(data)
    if obj is None:
        return None
    kind = text(obj, "type") or ""
    if kind in _ANTHROPIC_EVENTS:
        return "messages"
    if kind.startswith("response."):
        return "responses"
    if "candidates" in obj or "usageMetadata" in obj or "usage_metadata" in obj:
        return "gemini"
    if "choices" in obj or "object" in obj:
        return "chat"
    if obj.get("error"):
        return {"anthropic": "messages", "google": "gemini"}.get(provider, "chat")
    return None


class StreamReader:
    """Feed a streamed response body in chunks of any size; :meth:`finish` gives its usage."""

    __slots__ = ("provider", "_decoder", "_state", "_result")

    def __init__(self, provider: str, api: str | None = None) -> None:
        self.provider = normalise_provider(provider)
        self._decoder = SSEDecoder()
        self._state: StreamState | None = _STATES[api_name(api)]() if api is not None else None
        self._result: Parsed | None = None

    def feed(self, chunk: bytes) -> None:
        for event, data in self._decoder.feed(chunk):
            self._event(event, data)

    def _event(self, event: str | None, data: bytes) -> None:
        state = self._state
        if state is None:
            api = sniff_api(self.provider, event, data)
            if api is None:
                return
            state = self._state = _STATES[api]()
        state.on_event(event, data)

    def finish(self) -> Parsed:
        """End of stream: exact usage if it arrived, else an estimate marked so (status "aborted")."""
        if self._result is None:
            for event, data in self._decoder.close():
                self._event(event, data)
            if self._state is None:
                # Nothing readable arrived; the request may still be billed, so the record
                # stays, marked as an estimate of nothing known.
                self._result = Parsed(self.provider, None, Usage(estimated=True), None, "aborted")
            else:
                self._result = self._state.finish(self.provider)
        return self._result


def parse_stream(provider: str, data: bytes, api: str | None = None) -> Parsed:
    reader = StreamReader(provider, api)
    reader.feed(data)
    return reader.finish()
