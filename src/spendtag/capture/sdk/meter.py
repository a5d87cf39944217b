"""One metered call: the request's tags and dimensions, and the event built from its response.

The transport in :mod:`spendtag.capture.sdk.transport` calls :meth:`Meter.begin` before
sending (spendtag's own headers are read and removed there, and a budget may refuse the
call) and :meth:`Call.finish` once the response body has been read to its end or closed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spendtag.capture.estimate import body_output_tokens, prompt_tokens
from spendtag.capture.parsed import Parsed, normalise_provider
from spendtag.capture.parsers import parse_response
from spendtag.capture.sdk.context import EMPTY, Context, current
from spendtag.capture.stream import StreamReader
from spendtag.errors import SpendtagError
from spendtag.tags import merge, parse_header
from spendtag.usage import Status, Usage, UsageEvent, new_event_id

if TYPE_CHECKING:
    from spendtag.capture.sdk.enforce import Enforcer
    from spendtag.capture.sdk.sinks import Sink

MAX_BODY = 16 * 1024 * 1024      # a JSON body larger than this is passed through unread
_HEADER_DIMS = {"x-spendtag-session": "session", "x-spendtag-agent": "agent", "x-spendtag-project": "project",
                "x-spendtag-user": "user"}
_GEMINI_MODEL = re.compile(r"/models/([^/:]+):")
# Hosts of OpenAI-compatible APIs, so that an openai.OpenAI(base_url=...) client records the right provider.
COMPAT_HOSTS: dict[str, str] = {
    "api.openai.com": "openai", "openai.azure.com": "azure", "api.groq.com": "groq", "api.deepseek.com": "deepseek",
    "openrouter.ai": "openrouter", "api.mistral.ai": "mistral", "generativelanguage.googleapis.com": "google",
    "api.x.ai": "x-ai", "api.together.xyz": "together", "api.fireworks.ai": "fireworks",
    "api.anthropic.com": "anthropic",
}


def provider_for_host(host: str, default: str) -> str:
    host = host.lower()
    for suffix, provider in COMPAT_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return provider
    return default


class Meter:
    """What one instrumented client adds to its calls, and where their events go."""

    def __init__(self, provider: str, sink: Sink, *, context: Context, enforcer: Enforcer | None = None,
                 source: str = "sdk", on_event: Callable[[UsageEvent], None] | None = None) -> None:
        self.provider = normalise_provider(provider)
        self.sink = sink
        self.context = context
        self.enforcer = enforcer
        self.source = source
        self.on_event = on_event
        self._header_tags: dict[str, dict[str, str]] = {}

    def begin(self, method: str, host: str, path: str, headers: MutableMapping[str, str]) -> Call:
        """Read and strip spendtag's headers, merge the tags, check the budget; the call's state."""
        found = current()
        ctx = self.context if found is EMPTY else self.context.merged(found)
        own = [k for k in headers if k.lower().startswith(("x-spendtag-", "x-metering-tags"))]
        if own:
            ctx = ctx.merged(self._from_headers({k.lower(): headers[k] for k in own}))
            for k in own:
                del headers[k]
        if self.enforcer is not None:
            self.enforcer.check(ctx.tags, agent=ctx.agent, project=ctx.project)
        return Call(self, ctx, method, provider_for_host(host, self.provider), path)

    def _from_headers(self, own: Mapping[str, str]) -> Context:
        tags: dict[str, str] = {}
        for name in ("x-metering-tags", "x-spendtag-tags"):
            raw = own.get(name)
            if raw:
                found = self._header_tags.get(raw)
                if found is None:
                    found = self._header_tags[raw] = parse_header(raw)
                tags = merge(tags, found)
        dims = {field: own[name] for name, field in _HEADER_DIMS.items() if own.get(name)}
        return Context(tags, **dims)


@dataclass(slots=True)
class Call:
    meter: Meter
    context: Context
    method: str
    provider: str
    path: str
    event_id: str = ""
    ts: datetime | None = None
    request_body: bytes = b""       # as the caller wrote it
    done: bool = False
    strip_usage: bool = False       # spendtag asked for the usage chunk: the caller must not see it

    def __post_init__(self) -> None:
        self.event_id = new_event_id()
        self.ts = datetime.now(UTC)

    def reader(self, status: int, headers: Mapping[str, str]) -> BodyReader | None:
        """What reads this response's body for usage; None for one that carries none."""
        if status >= 400 and self.method != "POST":
            return None
        ctype = headers.get("content-type", "")
        stream = "event-stream" in ctype
        if stream or "json" in ctype or status >= 400:
            return BodyReader(self, status, headers.get("content-encoding", ""), stream)
        return None

    def event(self, parsed: Parsed | None, status: int, cut: bool, partial: bytes = b"") -> UsageEvent | None:
        """The call's event from what its body said; None when the body carried nothing billable.

        ``partial``: what arrived of a body cut short (``cut``), whose usage never came."""
        state: Status
        if status >= 400:
            state = "error"
            usage = parsed.usage if parsed is not None and parsed.usage is not None else Usage()
        elif cut and parsed is None and self._request_model() is not None:
            # A model call's body cut short (the upstream dropped it, or the caller closed it):
            # the call ran and is billed, so it is its estimate, the prompt's tokens added below.
            state = "aborted"
            usage = Usage(output_tokens=body_output_tokens(partial, self.provider), estimated=True)
        elif parsed is None or parsed.usage is None:
            return None     # a list of models, a file
        else:
            usage = parsed.usage
            # Closed after its end (an SDK closes a chat stream at [DONE]) is not cut short.
            state = "aborted" if cut and parsed.status != "ok" else parsed.status
        if usage.estimated and not usage.total_input_tokens and state != "error":
            # The usage never came (the caller closed the stream, the upstream cut it): the
            # prompt was sent and billed all the same, so its estimate goes in with the output so far.
            usage = usage.replace(input_tokens=prompt_tokens(self.request_body, self.provider))
        ctx = self.context
        assert self.ts is not None
        model = (parsed.model if parsed is not None else None) or self._request_model() or "unknown"
        return UsageEvent(
            event_id=self.event_id, ts=self.ts, provider=parsed.provider if parsed is not None else self.provider,
            model=model, usage=usage, tags=dict(ctx.tags), project=ctx.project, session=ctx.session,
            agent=ctx.agent, user=ctx.user, source=self.meter.source, status=state,
            response_id=parsed.response_id if parsed is not None else None,
        )

    def _request_model(self) -> str | None:
        m = _GEMINI_MODEL.search(self.path)
        if m:
            return m[1]
        if self.request_body.startswith(b"{"):
            try:
                model = json.loads(self.request_body).get("model")
            except ValueError:
                return None
            return model if isinstance(model, str) else None
        return None


class BodyReader:
    """Keeps a copy of a response body as it passes to the caller; reads its usage at the end.

    On the caller's path a chunk is only appended to a list: decoding and parsing run when
    the sink's thread takes the call (while the application waits on its next request),
    unless ``enforce`` or ``on_event`` need the event at once. A streamed body larger than
    ``MAX_BODY`` is read incrementally from then on instead of being kept whole.
    """

    __slots__ = ("call", "status", "encoding", "stream", "_parts", "_size", "_decoder", "_reader", "_too_big")

    def __init__(self, call: Call, status: int, encoding: str, stream: bool) -> None:
        self.call = call
        self.status = status
        self.encoding = encoding
        self.stream = stream
        self._parts: list[bytes] = []
        self._size = 0
        self._decoder: Callable[[bytes], bytes] | None = None
        self._reader: StreamReader | None = None
        self._too_big = False

    def feed(self, chunk: bytes) -> None:
        if self._reader is not None:
            self._reader.feed(self._decoder(chunk) if self._decoder is not None else chunk)
            return
        if self._too_big:
            return
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size > MAX_BODY:
            if self.stream:
                self._incremental()
            else:
                self._too_big = True
                self._parts = []

    def _incremental(self) -> None:
        self._decoder = content_decoder(self.encoding)
        self._reader = StreamReader(self.call.provider)
        parts, self._parts = self._parts, []
        for part in parts:
            self._reader.feed(self._decoder(part) if self._decoder is not None else part)

    def finish(self, cut: bool) -> None:
        """The body ended (``cut``: the caller closed it before its end)."""
        call = self.call
        if call.done:
            return
        call.done = True
        meter = call.meter
        if meter.enforcer is None and meter.on_event is None:
            meter.sink.put(lambda: self.event(cut))
            return
        event = self.event(cut)
        if event is None:
            return
        meter.sink.put(event)
        if meter.enforcer is not None:
            meter.enforcer.observe(event)
        if meter.on_event is not None:
            meter.on_event(event)

    def event(self, cut: bool) -> UsageEvent | None:
        try:
            if self.stream:
                if self._reader is None:
                    self._incremental()
                assert self._reader is not None
                parsed: Parsed | None = self._reader.finish()
            elif self._too_big or (cut and self.status < 400):
                parsed = None
                if not self._too_big:
                    decode = content_decoder(self.encoding)
                    body = b"".join(self._parts)
                    return self.call.event(None, self.status, cut, decode(body) if decode is not None else body)
            else:
                decode = content_decoder(self.encoding)
                body = b"".join(self._parts)
                parsed = _parse(self.call.provider, decode(body) if decode is not None else body)
        except (SpendtagError, ValueError, zlib.error):
            parsed = None
        return self.call.event(parsed, self.status, cut)


def _parse(provider: str, body: bytes) -> Parsed | None:
    if not body.strip():
        return None
    try:
        return parse_response(provider, body)
    except SpendtagError:
        return None


def content_decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """A function decoding a body sent with Content-Encoding ``encoding`` piece by piece; None for identity."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return None
    if codings in (["gzip"], ["deflate"]):
        return _ZlibDecoder(codings[0]).decode
    return _ForeignDecoder(codings).decode


class _ZlibDecoder:
    def __init__(self, coding: str) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)
        self._raw = coding == "deflate"
        self._first = True

    def decode(self, data: bytes) -> bytes:
        try:
            return self._z.decompress(data)
        except zlib.error:
            if self._raw and self._first:   # some servers send deflate without the zlib header
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self._z.decompress(data)
            raise
        finally:
            self._first = False


class _ForeignDecoder:
    """br, zstd and chains: the HTTP client's own decoders (httpx2 yields pieces, httpx returns bytes)."""

    def __init__(self, codings: list[str]) -> None:
        from httpx2._decoders import MultiDecoder

        self._d: Any = MultiDecoder(codings)

    def decode(self, data: bytes) -> bytes:
        out = self._d.decode(data)
        return out if isinstance(out, bytes) else b"".join(_as_iter(out))


def _as_iter(value: Any) -> Iterable[bytes]:
    return value  # type: ignore[no-any-return]
