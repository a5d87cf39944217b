"""Shared by the proxy tests: a fixture-replaying upstream and the proxy, both on 127.0.0.1 in threads.

The upstream speaks the providers' exact formats by replaying tests/fixtures/formats and
records every request it gets (path, headers, body). A request header ``x-test-mode``
selects a behaviour: ``error429`` (a rate-limit error body), ``error401`` (a bad-key error
whose message quotes the key, as OpenAI's does), ``slow`` (50 ms between SSE events), ``hang``
(half the stream, then wait until the client leaves), ``cut`` (half the stream or half the
body, then the connection is dropped), ``redirect`` (a 307 to another path of the upstream).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from aiohttp import web
from conftest import fixture_path

from spendtag.cli.app import App
from spendtag.usage import PricedEvent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers (a process started in the background); fails if the process exits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "process exited during start-up"
        try:
            get_json(url)
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def _events(raw: bytes) -> list[bytes]:
    text = raw.replace(b"\r\n", b"\n")
    return [e + b"\n\n" for e in text.split(b"\n\n") if e.strip()]


# A bad-key answer that quotes (part of) the key, as OpenAI's 401 does.
FAKE_KEY = "sk-proj-Zx81TqLm0c9VbN4sRw7YhU2eKa5Jd3Fg"
LEAKY_401 = {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.",
                       "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    answered: int = 0
    aborted: int = 0
    _runner: web.AppRunner | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.path, dict(request.headers), body))
        mode = request.headers.get("x-test-mode", "")
        path = request.path
        req: dict[str, Any] = json.loads(body) if body.startswith(b"{") else {}
        if mode == "redirect":
            self.answered += 1
            return web.json_response({"moved": True}, status=307, headers={"location": "/elsewhere"})
        if mode == "error401":
            self.answered += 1
            return web.json_response(LEAKY_401, status=401)
        if mode == "error429":
            if path.endswith("/messages"):
                err = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
            else:
                err = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
            self.answered += 1
            return web.json_response(err, status=429, headers={"retry-after": "7"})
        if path.endswith("/chat/completions"):
            if req.get("stream"):
                events = _events(fixture_path("openai", "02_chat_completion_stream_include_usage.sse").read_bytes())
                if not (req.get("stream_options") or {}).get("include_usage"):
                    events = [e.replace(b',"usage":null', b"") for e in events if b'"choices":[]' not in e]
                return await self._stream(request, events, mode)
            return await self._json(request, fixture_path("openai", "01_chat_completion_nonstream.json"), mode)
        if path.endswith("/responses"):
            if req.get("stream"):
                return await self._stream(request, _events(fixture_path("openai", "05_responses_stream.sse")
                                                           .read_bytes()), mode)
            return await self._json(request, fixture_path("openai", "04_responses_nonstream_web_search.json"), mode)
        if path.endswith("/messages"):
            if req.get("stream"):
                return await self._stream(request, _events(fixture_path("anthropic", "02_message_stream.sse")
                                                           .read_bytes()), mode)
            return await self._json(request, fixture_path("anthropic", "01_message_nonstream.json"), mode)
        if path.endswith(":streamGenerateContent"):
            return await self._stream(request, _events(fixture_path("gemini", "02_stream_generate_content.sse")
                                                       .read_bytes()), mode)
        if path.endswith(":generateContent"):
            return await self._json(request, fixture_path("gemini", "01_generate_content.json"), mode)
        if path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
        return web.json_response({"error": {"message": "not found"}}, status=404)

    async def _json(self, request: web.Request, path: Path, mode: str) -> web.StreamResponse:
        body = path.read_bytes()
        if mode == "cut":     # the head and half the body it announces, then the connection drops
            resp = web.StreamResponse(headers={"content-type": "application/json"})
            resp.content_length = len(body)
            await resp.prepare(request)
            await resp.write(body[:len(body) // 2])
            assert request.transport is not None
            request.transport.abort()
            self.aborted += 1
            return resp
        self.answered += 1
        return web.Response(body=body, content_type="application/json")

    async def _stream(self, request: web.Request, events: list[bytes], mode: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        try:
            for i, event in enumerate(events):
                if mode == "cut" and i == len(events) // 2:
                    assert request.transport is not None
                    request.transport.abort()
                    raise ConnectionResetError
                if mode == "hang" and i == len(events) // 2:
                    for _ in range(600):      # until the proxy hangs up (at most 30 s)
                        await asyncio.sleep(0.05)
                        if request.transport is None or request.transport.is_closing():
                            raise ConnectionResetError
                await resp.write(event)
                if mode == "slow":
                    await asyncio.sleep(0.05)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.aborted += 1
            raise
        self.answered += 1
        return resp

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)


class Proxy:
    """spendtag's proxy over a temporary ledger, served by uvicorn in a thread."""

    def __init__(self, tmp: Path, upstream: Upstream, config: str = "") -> None:
        import os

        self.tmp = tmp
        (tmp / "config.toml").write_text(config)
        os.environ["SPENDTAG_CONFIG"] = str(tmp / "config.toml")
        self.db = str(tmp / "ledger.db")
        self.app = App(db=self.db)
        self.port = free_port()
        self.upstream = upstream

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        from spendtag.server.proxy.serve import build, config_for

        up = self.upstream.url
        config = config_for(self.app, {"openai": up + "/v1", "anthropic": up, "gemini": up})
        self.asgi = build(self.app, config, access_log=False)
        self.server = uvicorn.Server(uvicorn.Config(self.asgi, host="127.0.0.1", port=self.port, loop="asyncio",
                                                    http="httptools", lifespan="on", log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def events(self) -> list[PricedEvent]:
        """Everything recorded, once the writer has caught up (flushes by stopping the proxy if still running)."""
        from spendtag.ledger.query import Filters

        if self.thread.is_alive():
            self.stop()
        return sorted(self.app.store.events(Filters()), key=lambda p: p.event.event_id)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    up.start()
    yield up
    up.stop()


@pytest.fixture
def proxy(tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real")
    monkeypatch.setenv("GEMINI_API_KEY", "gem-real")
    p = Proxy(tmp_path, upstream, '[proxy]\nkey_cache_seconds = 0\nmetric_tags = ["client"]\n')
    p.start()
    yield p
    if p.thread.is_alive():
        p.stop()
    p.app.close()


def cli_group() -> click.Group:
    """The proxy's commands under a group that makes the App, as the main CLI does."""
    from spendtag.cli.proxy import COMMANDS

    @click.group()
    @click.option("--db")
    @click.pass_context
    def group(ctx: click.Context, db: str | None) -> None:
        ctx.obj = App(db=db)
        ctx.call_on_close(ctx.obj.close)

    for command in COMMANDS:
        group.add_command(command)
    return group


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode()


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """One plain HTTP request (urllib: no client library in the way of what is tested)."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
