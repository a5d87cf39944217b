"""The coalescing transport under uvicorn: one send per loop turn, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
import uvicorn
from test_proxy_helpers import free_port

from spendtag.server.protocol import CoalescingTransport, http_protocol


class Recorder(asyncio.Transport):
    """Records what reaches the real transport, send by send."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.sends.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        self.sends.append(b"".join(lines))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_turn_leave_together_and_in_order() -> None:
    async def scenario() -> list[bytes]:
        raw = Recorder()
        t = CoalescingTransport(raw, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"")
        t.write(b"body")
        assert raw.sends == []                       # nothing yet: the turn is not over
        assert t.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        t.writelines([b"next ", b"turn"])
        await asyncio.sleep(0)
        t.write(b"last")
        t.close()                                    # closing sends what is pending first
        assert raw.closed
        return raw.sends

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next turn", b"last"]


def test_abort_drops_what_is_pending() -> None:
    async def scenario() -> Recorder:
        raw = Recorder()
        t = CoalescingTransport(raw, asyncio.get_running_loop())
        t.write(b"never sent")
        t.abort()
        await asyncio.sleep(0)
        return raw

    raw = asyncio.run(scenario())
    assert (raw.sends, raw.aborted) == ([], True)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@pytest.fixture
def server() -> Any:
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=http_protocol(), lifespan="off",
                            log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.02)
    yield port
    srv.should_exit = True
    thread.join(5)


def _read_response(sock: socket.socket, buf: bytearray) -> bytes:
    """One keep-alive response (content-length or chunked) from ``sock``; the rest stays in ``buf``."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length:" in lower:
        n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < n:
            rest += sock.recv(65536)
        buf[:] = rest[n:]
        return rest[:n]
    while not rest.endswith(b"0\r\n\r\n"):
        rest += sock.recv(65536)
    buf[:] = b""
    out, data = b"", rest
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2:]


def test_uvicorn_with_the_coalescing_protocol_serves_keep_alive_and_streams(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        buf = bytearray()
        for path in ("/a", "/bb", "/stream", "/ccc"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            got = _read_response(sock, buf)
            assert got == (b"one two three" if path == "/stream" else path.encode())
