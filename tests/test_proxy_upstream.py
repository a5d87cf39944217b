"""The proxy's upstream client against a scripted HTTP/1.1 server on 127.0.0.1 (real sockets)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from spendtag.server.proxy.upstream import HIGH_WATER, UpstreamClient, UpstreamError

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """Answers each connection with ``script``; counts connections and requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.go = asyncio.Event()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head + body


def _json(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_request_is_one_head_and_body_and_the_connection_is_kept() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while True:
            await s.request(r)
            w.write(_json(b'{"ok":true}', b"X-Mixed-Case: yes\r\n"))

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}/v1")
            target = client.target(f"http://127.0.0.1:{s.port}/v1/chat/completions")
            assert target == b"/v1/chat/completions"
            for _ in range(3):
                resp = await client.request(b"POST", target + b"?a=1", [(b"content-type", b"application/json")],
                                            b'{"model":"m"}')
                assert (resp.status, await resp.read()) == (200, b'{"ok":true}')
                assert resp.header(b"x-mixed-case") == b"yes" and (b"X-Mixed-Case", b"yes") in resp.raw_headers
            assert s.connections == 1
            assert s.requests[0] == (b"POST /v1/chat/completions?a=1 HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n"
                                     b"content-type: application/json\r\ncontent-length: 13\r\n\r\n"
                                     b'{"model":"m"}' % s.port)
            client.close()

    run(main())


def test_chunked_bodies_stream_as_they_arrive_and_bodies_can_end_with_the_connection() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        req = await s.request(r)
        if b"/close" in req:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
            await w.drain()
            return
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                b"6\r\ndata: \r\n")
        await w.drain()
        await s.go.wait()
        w.write(b"3\r\none\r\n0\r\n\r\n")
        await w.drain()
        await s.request(r)

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}")
            resp = await client.request(b"POST", b"/stream", [], b"{}")
            assert resp.header(b"content-type") == b"text/event-stream"
            pieces = []
            async for piece in resp.chunks():
                pieces.append(piece)
                s.go.set()          # the rest is sent only once the first piece was read
            assert pieces == [b"data: ", b"one"]
            resp = await client.request(b"GET", b"/close", [], b"")
            assert await resp.read() == b"until the end"
            client.close()

    run(main())


def test_a_stale_kept_connection_is_retried_for_a_get_but_never_for_a_post() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.request(r)
        w.write(_json(b"{}"))
        await w.drain()
        await s.request(r)       # a second request on this connection: closed without an answer

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}")
            assert await (await client.request(b"GET", b"/models", [], b"")).read() == b"{}"
            assert await (await client.request(b"GET", b"/models", [], b"")).read() == b"{}"   # retried
            assert s.connections == 2 and len(s.requests) == 3
            with pytest.raises(UpstreamError):
                await client.request(b"POST", b"/chat", [], b"{}")
            assert len(s.requests) == 4        # sent once: a POST may have been served
            client.close()

    run(main())


def test_read_timeout_before_the_head_and_between_body_reads() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        req = await s.request(r)
        if b"/half" in req:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await w.drain()
        await asyncio.sleep(30)

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}", read_timeout=0.2)
            with pytest.raises(TimeoutError):
                await client.request(b"POST", b"/silent", [], b"{}")
            resp = await client.request(b"POST", b"/half", [], b"{}")
            with pytest.raises(TimeoutError):
                await resp.read()
            client.close()

    run(main())


def test_unreachable_upstream_is_an_os_error() -> None:
    async def main() -> None:
        async with Server(lambda r, w, s: asyncio.sleep(0)) as s:
            port = s.port
        client = UpstreamClient(f"http://127.0.0.1:{port}")
        with pytest.raises(OSError):
            await client.request(b"GET", b"/", [], b"")

    run(main())


def test_interim_responses_are_skipped_and_a_head_has_no_body() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        req = await s.request(r)
        if req.startswith(b"HEAD"):
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
        else:
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n" + _json(b"[1]"))
        await w.drain()
        await asyncio.sleep(1)

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}")
            resp = await client.request(b"POST", b"/x", [], b"")
            assert (resp.status, await resp.read()) == (200, b"[1]")
            assert s.requests[0].endswith(b"content-length: 0\r\n\r\n")   # a POST always says its length
            resp = await client.request(b"HEAD", b"/x", [], b"")
            assert (resp.status, resp.header(b"content-length"), await resp.read()) == (200, b"1234", b"")
            client.close()

    run(main())


def test_a_slow_stream_consumer_pauses_reading_and_gets_every_byte() -> None:
    size = 4 * HIGH_WATER

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.request(r)
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for i in range(size // 4096):
            w.write(bytes([i % 256]) * 4096)
            await w.drain()

    async def main() -> None:
        async with Server(script) as s:
            client = UpstreamClient(f"http://127.0.0.1:{s.port}")
            resp = await client.request(b"GET", b"/big", [], b"")
            got = bytearray()
            paused = False
            async for piece in resp.chunks():
                got += piece
                await asyncio.sleep(0.01)
                paused = paused or resp._conn is not None and resp._conn.paused
            assert paused and bytes(got) == b"".join(bytes([i % 256]) * 4096 for i in range(size // 4096))
            client.close()

    run(main())


def test_https_upstream_verifies_its_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.request(r)
        w.write(_json(b'{"tls":true}'))
        await w.drain()

    async def main() -> None:
        server = Server(script)
        server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.server.sockets[0].getsockname()[1]
        client = UpstreamClient(f"https://127.0.0.1:{port}/v1", ssl_context=trusting)
        resp = await client.request(b"POST", client.target(f"https://127.0.0.1:{port}/v1/messages"), [], b"{}")
        assert await resp.read() == b'{"tls":true}'
        assert server.requests[0].startswith(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n" % port)
        client.close()
        with pytest.raises(ssl.SSLCertVerificationError):     # the system's CAs do not know this one
            await UpstreamClient(f"https://127.0.0.1:{port}").request(b"GET", b"/", [], b"")
        server.server.close()

    run(main())
