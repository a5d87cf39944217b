"""httpx transports that meter every call an SDK makes, and tees that read the response as it passes.

The SDK keeps its own client (connection pool, proxies, retries, timeouts): only the
transport underneath is wrapped, so every endpoint the SDK calls is seen. The response
body reaches the caller byte for byte; a copy of each chunk goes to a
:class:`~spendtag.capture.sdk.meter.BodyReader`, and the event is handed to the sink when
the body ends or the caller closes it. Works with httpx and its fork httpx2 (which the
openai, anthropic and google-genai SDKs use), duck-typed: the tee classes subclass the
byte-stream bases of whichever module the client comes from.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from spendtag.capture.sdk.meter import BodyReader, Call, Meter

_TEES: dict[str, tuple[type[Any], type[Any]]] = {}


def _request_call(meter: Meter, request: Any) -> Call:
    url = request.url
    call = meter.begin(request.method, url.host, url.path, request.headers)
    if call.method == "POST":
        try:
            call.request_body = request.content    # already in memory for SDK requests
        except Exception:  # noqa: BLE001 - a streamed upload: the model comes from the response instead
            call.request_body = b""
    return call


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
    __slots__ = ("_inner", "_reader", "_ended")

    def __init__(self, inner: Any, reader: BodyReader) -> None:
        self._inner = inner
        self._reader = reader
        self._ended = False

    def __iter__(self) -> Iterator[bytes]:
        feed = self._reader.feed
        for chunk in self._inner:
            feed(chunk)
            yield chunk
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
    __slots__ = ("_inner", "_reader", "_ended")

    def __init__(self, inner: Any, reader: BodyReader) -> None:
        self._inner = inner
        self._reader = reader
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        feed = self._reader.feed
        async for chunk in self._inner:
            feed(chunk)
            yield chunk
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
        reader = call.reader(response.status_code, response.headers)
        if reader is not None:
            response.stream = self._tee(response.stream, reader)
        return response

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
        reader = call.reader(response.status_code, response.headers)
        if reader is not None:
            response.stream = self._tee(response.stream, reader)
        return response

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
