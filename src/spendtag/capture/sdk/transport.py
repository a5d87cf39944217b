"""httpx transports that meter every call an SDK makes, and tees that read the response as it passes.

The SDK keeps its own client (connection pool, proxies, retries, timeouts): only the
transport underneath is wrapped, so every endpoint the SDK calls is seen. The response
body reaches the caller byte for byte; a copy of each chunk goes to a
:class:`~spendtag.capture.sdk.meter.BodyReader`, and the event is handed to the sink when
the body ends or the caller closes it. Works with httpx and its fork httpx2 (which the
openai, anthropic and google-genai SDKs use), duck-typed: the tee classes subclass the
byte-stream bases of whichever module the client comes from.

An OpenAI-style chat stream carries usage only when asked for (``stream_options``), so a
request that streams without asking is sent asking, as the proxy does, and the caller gets
the stream it asked for: the usage chunk and the ``"usage":null`` members it brings are
taken out again (:mod:`spendtag.capture.usage_chunk`). A server that refuses the option
(HTTP 400 or 422 naming it) gets the request as the caller wrote it, and the call is then
recorded from an estimate, like a stream the caller closes before its usage arrives.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from spendtag.capture.sdk.meter import BodyReader, Call, Meter, content_decoder
from spendtag.capture.usage_chunk import UsageChunkStripper, ask_for_usage

_TEES: dict[str, tuple[type[Any], type[Any]]] = {}


# HTTP statuses with which a server may refuse the stream_options spendtag added.
_REFUSED = frozenset({400, 422})
# Kept on a request whose body spendtag changed: the body as the caller wrote it (a redirect
# sends a copy of the request, extensions included, through the transport again).
_ORIGINAL = "spendtag.original_body"


def _request_call(meter: Meter, request: Any) -> Call:
    url = request.url
    call = meter.begin(request.method, url.host, url.path, request.headers)
    if call.method == "POST":
        original = request.extensions.get(_ORIGINAL)
        if original is not None:
            call.request_body, call.strip_usage = original, True
            return call
        try:
            call.request_body = request.content    # already in memory for SDK requests
        except Exception:  # noqa: BLE001 - a streamed upload: the model comes from the response instead
            call.request_body = b""
        if url.path.endswith("/completions"):
            asked = ask_for_usage(call.request_body)
            if asked is not None:
                request.extensions[_ORIGINAL] = call.request_body
                _set_body(request, asked)
                call.strip_usage = True
    return call


def _set_body(request: Any, body: bytes) -> None:
    request.headers["content-length"] = str(len(body))
    request._content = body
    request.stream = _byte_stream(request, body)


def _byte_stream(obj: Any, body: bytes) -> Any:
    return importlib.import_module(_module_of(obj)).ByteStream(body)


def _refuses_option(response: Any, raw: bytes) -> bool:
    """Whether an error body (``raw``, as received) says that stream_options is not accepted."""
    decode = content_decoder(response.headers.get("content-encoding", ""))
    try:
        text = decode(raw) if decode is not None else raw
    except Exception:  # noqa: BLE001 - an undecodable error body refuses nothing we can tell
        return False
    return b"stream_options" in text


def _as_asked(request: Any, call: Call) -> None:
    """Send ``request`` again as the caller wrote it (the server refused the option spendtag added)."""
    del request.extensions[_ORIGINAL]
    _set_body(request, call.request_body)
    call.strip_usage = False


def _metered(call: Call, response: Any, tee: type[Any]) -> Any:
    """``response`` with its body passing through a tee to the call's reader (and stripper, if spendtag asked)."""
    headers = response.headers
    status = response.status_code
    strip = call.strip_usage and status < 400 and "event-stream" in headers.get("content-type", "")
    decode = None
    if strip:
        decode = content_decoder(headers.get("content-encoding", ""))
        if decode is not None:
            # Taken out of a compressed stream: what the caller gets is the decoded text.
            del headers["content-encoding"]
            headers.pop("content-length", None)
    reader = call.reader(status, headers)
    if reader is not None:
        response.stream = tee(response.stream, reader, UsageChunkStripper(nulls=True) if strip else None, decode)
    return response


def _tee_classes(module: str) -> tuple[type[Any], type[Any]]:
    found = _TEES.get(module)
    if found is None:
        mod = importlib.import_module(module)
        found = _TEES[module] = (type("SyncTee", (_SyncTee, mod.SyncByteStream), {"__slots__": ()}),
                                 type("AsyncTee", (_AsyncTee, mod.AsyncByteStream), {"__slots__": ()}))
    return found


def _module_of(obj: Any) -> str:
    for cls in type(obj).__mro__:
        root = (cls.__module__ or "").split(".")[0]
        if root in ("httpx", "httpx2"):
            return root
    return "httpx2"


class _SyncTee:
    __slots__ = ("_inner", "_reader", "_ended", "_strip", "_decode")

    def __init__(self, inner: Any, reader: BodyReader, strip: UsageChunkStripper | None = None,
                 decode: Callable[[bytes], bytes] | None = None) -> None:
        self._inner = inner
        self._reader = reader
        self._ended = False
        self._strip = strip
        self._decode = decode

    def __iter__(self) -> Iterator[bytes]:
        feed = self._reader.feed
        strip = self._strip
        if strip is None:
            for chunk in self._inner:
                feed(chunk)
                yield chunk
        else:
            decode = self._decode
            for chunk in self._inner:
                if decode is not None:
                    chunk = decode(chunk)
                feed(chunk)
                shown = strip.feed(chunk)
                if shown:
                    yield shown
            tail = strip.close()
            if tail:
                yield tail
        self._end(False)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end(True)

    def _end(self, cut: bool) -> None:
        if not self._ended:
            self._ended = True
            self._reader.finish(cut)


class _AsyncTee:
    __slots__ = ("_inner", "_reader", "_ended", "_strip", "_decode")

    def __init__(self, inner: Any, reader: BodyReader, strip: UsageChunkStripper | None = None,
                 decode: Callable[[bytes], bytes] | None = None) -> None:
        self._inner = inner
        self._reader = reader
        self._ended = False
        self._strip = strip
        self._decode = decode

    async def __aiter__(self) -> AsyncIterator[bytes]:
        feed = self._reader.feed
        strip = self._strip
        if strip is None:
            async for chunk in self._inner:
                feed(chunk)
                yield chunk
        else:
            decode = self._decode
            async for chunk in self._inner:
                if decode is not None:
                    chunk = decode(chunk)
                feed(chunk)
                shown = strip.feed(chunk)
                if shown:
                    yield shown
            tail = strip.close()
            if tail:
                yield tail
        self._end(False)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._end(True)

    def _end(self, cut: bool) -> None:
        if not self._ended:
            self._ended = True
            self._reader.finish(cut)


class MeteredTransport:
    """Wraps a sync httpx(2) transport."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter
        self._tee = _tee_classes(_module_of(inner))[0]

    def handle_request(self, request: Any) -> Any:
        call = _request_call(self.meter, request)
        response = self.inner.handle_request(request)
        if call.strip_usage and response.status_code in _REFUSED:
            raw = b"".join(response.stream)
            response.stream.close()
            if _refuses_option(response, raw):
                _as_asked(request, call)
                response = self.inner.handle_request(request)
            else:
                response.stream = _byte_stream(response, raw)
        return _metered(call, response, self._tee)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> MeteredTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.inner.__exit__(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class AsyncMeteredTransport:
    """Wraps an async httpx(2) transport."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter
        self._tee = _tee_classes(_module_of(inner))[1]

    async def handle_async_request(self, request: Any) -> Any:
        call = _request_call(self.meter, request)
        response = await self.inner.handle_async_request(request)
        if call.strip_usage and response.status_code in _REFUSED:
            raw = b"".join([chunk async for chunk in response.stream])
            await response.stream.aclose()
            if _refuses_option(response, raw):
                _as_asked(request, call)
                response = await self.inner.handle_async_request(request)
            else:
                response.stream = _byte_stream(response, raw)
        return _metered(call, response, self._tee)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> AsyncMeteredTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.inner.__aexit__(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wrap_client(http_client: Any, meter: Meter) -> None:
    """Meter an httpx(2) Client or AsyncClient in place: its transport and any mounted (proxy) ones."""
    if hasattr(http_client, "_inner_client_cls") and hasattr(http_client, "_loop_clients"):
        _wrap_per_loop(http_client, meter)
    wrapper: type[Any] = AsyncMeteredTransport if hasattr(http_client, "aclose") else MeteredTransport
    if isinstance(http_client._transport, (MeteredTransport, AsyncMeteredTransport)):
        http_client._transport.meter = meter       # instrumented again: the latest settings win
    else:
        http_client._transport = wrapper(http_client._transport, meter)
    mounts = getattr(http_client, "_mounts", None)
    if mounts:
        for pattern, transport in list(mounts.items()):
            if transport is None:
                continue
            if isinstance(transport, (MeteredTransport, AsyncMeteredTransport)):
                transport.meter = meter
            else:
                mounts[pattern] = wrapper(transport, meter)


def _wrap_per_loop(http_client: Any, meter: Meter) -> None:
    """google-genai's async client sends through one inner client per event loop, made on demand: meter those."""
    make = http_client._inner_client_cls
    if getattr(make, "_spendtag_meter", None) is not None:
        make._spendtag_meter[0] = meter
        make = make._spendtag_make
    box = [meter]

    def metered(**kwargs: Any) -> Any:
        client = make(**kwargs)
        wrap_client(client, box[0])
        return client

    metered._spendtag_meter = box  # type: ignore[attr-defined]
    metered._spendtag_make = make  # type: ignore[attr-defined]
    http_client._inner_client_cls = metered
    for client in list(http_client._loop_clients.values()):
        wrap_client(client, meter)
