"""The proxy's HTTP/1.1 client for its upstreams.

aiohttp's client cost the proxy about as much CPU per call as everything spendtag does with
the call (at one call at a time: 0.36 ms for a bare uvicorn + aiohttp pass-through against
0.20 ms with this client, on the bench's pinned set-up). Here a request is one
``transport.write`` of its head and body on a kept-alive connection, the response is parsed
by httptools (llhttp, the parser uvicorn reads requests with), and the task that sent it
wakes once the head has arrived, usually with the whole body already read. The read
timeout is one timer per request checked against the time of the last read, not a timer
rescheduled on every read.

What the proxy needs and nothing more: no redirects followed (a redirect goes back to the
client), no cookies, no decompression (the bytes pass through as the upstream sent them),
no proxies from the environment.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

KEEPALIVE = 30.0            # seconds an idle connection is kept for reuse
HIGH_WATER = 1 << 18        # bytes read ahead of a streaming consumer before reading pauses
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
_NO_BODY = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"DELETE"})


class UpstreamError(Exception):
    """The upstream closed the connection early or answered with something that is not HTTP/1.1."""


class Response:
    """One response: its head once :meth:`UpstreamClient.request` returns, its body read or iterated after."""

    __slots__ = ("status", "raw_headers", "_conn", "_loop", "_body", "_size", "_done", "_exc", "_waiter",
                 "_head", "_head_only", "_streaming")

    def __init__(self, conn: _Connection, loop: asyncio.AbstractEventLoop, head_only: bool) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._conn: _Connection | None = conn
        self._loop = loop
        self._body: list[bytes] = []
        self._size = 0
        self._done = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._head: asyncio.Future[None] = loop.create_future()
        self._head_only = head_only
        self._streaming = False     # read ahead at most HIGH_WATER bytes (a whole read takes everything)

    def header(self, name: bytes) -> bytes | None:
        """A header's value (``name`` in lower case), or None."""
        for n, v in self.raw_headers:
            if n.lower() == name:
                return v
        return None

    async def read(self) -> bytes:
        """The whole body."""
        while not self._done:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        body = self._body
        return body[0] if len(body) == 1 else b"".join(body)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever has been read since the last chunk."""
        self._streaming = True
        while True:
            body = self._body
            if body:
                data = body[0] if len(body) == 1 else b"".join(body)
                self._body = []
                if self._size >= HIGH_WATER and self._conn is not None:
                    self._conn.resume()
                self._size = 0
                yield data
            elif self._done:
                return
            elif self._exc is not None:
                raise self._exc
            else:
                await self._wait()

    def received(self) -> bytes:
        """What of the body has arrived and not been taken yet (of a body cut short: all of it)."""
        return b"".join(self._body)

    def close(self) -> None:
        """Stop reading: an unfinished response's connection is closed, never reused."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._done:
            conn.abort()

    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        except BaseException:
            self.close()      # cancelled mid-body: what is left of it is never read
            raise
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- called by the connection ------------------------------------------------------------

    def _headers_done(self, status: int) -> None:
        self.status = status
        if not self._head.done():
            self._head.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._body.append(data)
        self._size += len(data)
        if self._streaming and self._size >= HIGH_WATER and self._conn is not None:
            self._conn.pause()
        self._wake()

    def _finish(self) -> None:
        self._done = True
        self._conn = None
        if not self._head.done():
            self._head.set_result(None)
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc = exc
        self._conn = None
        if not self._head.done():
            self._head.set_exception(exc)
            self._head.exception()      # retrieved: a caller that left first is not warned about it
        self._wake()


class _Connection(asyncio.Protocol):
    """One kept-alive connection to an upstream; serves one request at a time."""

    def __init__(self, pool: UpstreamClient) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: Response | None = None
        self.idle_since = 0.0
        self.last_read = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False
        self.got_bytes = False     # the current request has had an answer, even a partial one

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None:             # nothing was asked: a server that talks out of turn is not reused
            self.abort()
            return
        self.got_bytes = True
        self.last_read = self.pool.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"bad HTTP from the upstream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.discard(self)
        self._stop_timer()
        resp, self.resp = self.resp, None
        self.transport = None
        if resp is None:
            return
        if resp._head.done() and _until_close(resp):
            resp._finish()           # a body that ends when the connection does
        else:
            error = UpstreamError("the upstream closed the connection before its response was complete")
            if exc is not None:
                error.__cause__ = exc
            resp._fail(error)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.resp is not None:
            self.resp.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.resp
        if resp is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:      # an interim response: the real one follows
            resp.raw_headers = []
            return
        resp._headers_done(status)
        if resp._head_only:          # no body follows a HEAD's head, whatever its headers say
            self.resp = None
            self._stop_timer()
            resp._finish()
            self.abort()

    def on_body(self, body: bytes) -> None:
        if self.resp is not None:
            self.resp._feed(body)

    def on_message_complete(self) -> None:
        resp = self.resp
        if resp is None or not resp._head.done():
            return                   # the end of an interim response
        self.resp = None
        self._stop_timer()
        resp._finish()
        if self.parser.should_keep_alive() and self.transport is not None and not self.transport.is_closing():
            self.pool.release(self)
        else:
            self.abort()

    # -- used by the pool and the response ---------------------------------------------------

    def send(self, resp: Response, data: bytes) -> None:
        assert self.transport is not None
        self.resp = resp
        self.got_bytes = False
        loop = self.pool.loop
        self.last_read = now = loop.time()
        timeout = self.pool.read_timeout
        if timeout is not None and self.timer is None:
            self.timer = loop.call_at(now + timeout, self._check_timeout)
        self.transport.write(data)

    def _check_timeout(self) -> None:
        self.timer = None
        resp, timeout = self.resp, self.pool.read_timeout
        if resp is None or timeout is None:
            return
        loop = self.pool.loop
        now = loop.time()
        if self.paused:              # waiting on our own consumer, not on the upstream
            self.last_read = now
        due = self.last_read + timeout
        if due > now:                # read since the timer was set
            self.timer = loop.call_at(due, self._check_timeout)
            return
        self._fail(TimeoutError(f"no data from the upstream for {timeout:g} s"))

    def _stop_timer(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.cancel()

    def _fail(self, exc: BaseException) -> None:
        resp, self.resp = self.resp, None
        self._stop_timer()
        self.abort()
        if resp is not None:
            resp._fail(exc)

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.pool.discard(self)
        transport = self.transport
        if transport is not None:
            transport.abort()        # connection_lost follows and fails what was in flight


class UpstreamClient:
    """Kept-alive connections to one upstream origin (scheme, host, port)."""

    def __init__(self, base_url: str, *, connect_timeout: float = 10.0, read_timeout: float | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        split = urlsplit(base_url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.origin = f"{split.scheme}://{split.netloc}"
        self.host = split.hostname
        self.port = split.port or (443 if split.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = None
        if split.scheme == "https":
            self.ssl = ssl_context or _default_ssl()
        netloc = split.netloc.rpartition("@")[2]
        self._host_line = b"host: " + netloc.encode("idna" if not netloc.isascii() else "ascii") + b"\r\n"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]   # set on first use

    def target(self, url: str) -> bytes:
        """The request target (path and query) of ``url``, an URL of this origin."""
        if not url.startswith(self.origin):
            raise ValueError(f"{url!r} is not on {self.origin}")
        return (url[len(self.origin):] or "/").encode()

    async def request(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes) -> Response:
        """Send a request; returns once the response's head has arrived. ``headers`` go as given
        (plus host and content-length), so they must not hold CR or LF."""
        head = [method, b" ", target, b" HTTP/1.1\r\n", self._host_line]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        if body or method not in _NO_BODY:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        head.append(body)
        data = b"".join(head)
        while True:
            conn = self._acquire()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            resp = Response(conn, self.loop, method == b"HEAD")
            conn.send(resp, data)
            try:
                await resp._head
            except UpstreamError:
                # A kept-alive connection the upstream had just closed: retried once for a request
                # that may be repeated (RFC 9112 9.3.1), as aiohttp did; never a POST.
                if reused and not conn.got_bytes and method in _IDEMPOTENT:
                    continue
                raise
            except BaseException:
                resp.close()
                raise
            return resp

    def _acquire(self) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if transport is None or transport.is_closing():
                continue
            if self.loop.time() - conn.idle_since > KEEPALIVE:
                conn.abort()
                continue
            return conn
        return None

    async def _connect(self) -> _Connection:
        loop = self.loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl,
                                   server_hostname=self.host if self.ssl is not None else None),
            self.connect_timeout)
        self._open.add(conn)
        return conn

    def release(self, conn: _Connection) -> None:
        conn.idle_since = self.loop.time()
        self._idle.append(conn)

    def discard(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)

    def close(self) -> None:
        for conn in list(self._open):
            conn.abort()
        self._idle.clear()


def _until_close(resp: Response) -> bool:
    """A response whose body is delimited by the connection closing (no length, not chunked)."""
    if resp.status in (204, 304):
        return False
    return resp.header(b"content-length") is None and resp.header(b"transfer-encoding") is None


_SSL: ssl.SSLContext | None = None


def _default_ssl() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = ssl.create_default_context()
        _SSL.set_alpn_protocols(["http/1.1"])
    return _SSL
