"""OpenAI chat streams through ``spendtag.instrument()`` without ``stream_options.include_usage``.

The real openai SDK, sync and async, against a local server that speaks OpenAI's exact SSE
format: with ``include_usage`` it adds ``"usage":null`` to every chunk and one usage-only
chunk before ``data: [DONE]``; without it, neither (FORMATS.md 1.2). spendtag asks for the
usage on the wire and gives the caller the very bytes it would have had without spendtag,
and the call is recorded with the usage of the same call made without streaming.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web
from conftest import fixture_path
from hypothesis import given
from hypothesis import strategies as st
from test_sdk_helpers import Ledger

import spendtag.capture.sdk as sdk
from spendtag.capture.estimate import prompt_tokens
from spendtag.capture.stream import parse_stream
from spendtag.capture.usage_chunk import UsageChunkStripper, ask_for_usage, drop_null_usage
from spendtag.usage import Usage

# The fixture is OpenAI's stream *with* include_usage; without it, the server sends it less
# the usage chunk and the "usage":null members.
WITH_USAGE = fixture_path("openai", "02_chat_completion_stream_include_usage.sse").read_bytes()
WITHOUT_USAGE = b"".join(e.replace(b',"usage":null', b"") + b"\n\n" for e in WITH_USAGE.split(b"\n\n")
                         if e.strip() and b'"choices":[]' not in e)
RESPONSES = fixture_path("openai", "05_responses_stream.sse").read_bytes()
MSG = [{"role": "system", "content": "Translate into French."}, {"role": "user", "content": "Hello world!"}]
EXACT = Usage(input_tokens=256, cache_read_tokens=1280, output_tokens=5, service_tier="default")


def _events(raw: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]


def _completion() -> bytes:
    """The same call unstreamed: the stream's id, model, text and usage in one chat.completion."""
    chunks = [json.loads(e[6:]) for e in WITH_USAGE.split(b"\n\n") if e.startswith(b"data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    first = chunks[0]
    return json.dumps({
        "id": first["id"], "object": "chat.completion", "created": first["created"], "model": first["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": chunks[-1]["usage"], "service_tier": "default", "system_fingerprint": first["system_fingerprint"],
    }).encode()


@dataclass
class OpenAIServer:
    """``x-test-mode``: ``gzip`` (a compressed stream), ``strict`` (400 for stream_options, as some
    OpenAI-compatible servers answer), ``slow`` (50 ms between events)."""

    port: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        self.bodies.append(body)
        mode = request.headers.get("x-test-mode", "")
        if request.path.endswith("/responses"):
            return await self._stream(request, _events(RESPONSES), mode)
        if not body.get("stream"):
            return web.Response(body=_completion(), content_type="application/json")
        if mode == "strict" and "stream_options" in body:
            error = {"error": {"message": "Unrecognized request argument supplied: stream_options",
                               "type": "invalid_request_error", "param": None, "code": None}}
            return web.json_response(error, status=400)
        asked = (body.get("stream_options") or {}).get("include_usage")
        return await self._stream(request, _events(WITH_USAGE if asked else WITHOUT_USAGE), mode)

    async def _stream(self, request: web.Request, events: list[bytes], mode: str) -> web.StreamResponse:
        headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        if mode == "gzip":
            headers["content-encoding"] = "gzip"
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        try:
            if mode == "gzip":
                await resp.write(gzip.compress(b"".join(events)))
            for event in events if mode != "gzip" else []:
                await resp.write(event)
                if mode == "slow":
                    await asyncio.sleep(0.05)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_route("POST", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    s = OpenAIServer()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    sink = Ledger(str(tmp_path / "ledger.db"))
    yield sink
    sink.close()


def plain(server: OpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)


def metered(server: OpenAIServer, ledger: Ledger) -> openai.OpenAI:
    return sdk.instrument(plain(server), sink=ledger)


def streamed_bytes(client: openai.OpenAI, **kwargs: Any) -> bytes:
    """The response body exactly as the SDK hands it to the caller."""
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MSG,  # type: ignore[arg-type]
                                                                stream=True, **kwargs) as resp:
        return b"".join(resp.iter_bytes())


def chunks(client: openai.OpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    """The chunks the caller iterates, with exactly the fields that were sent (unset ones left out)."""
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True, **kwargs)  # type: ignore[arg-type, call-overload]
    return [c.model_dump(exclude_unset=True) for c in stream]


# -- the proof ------------------------------------------------------------------------------------

def test_a_stream_without_include_usage_is_recorded_with_the_usage_of_the_same_call_unstreamed(
        server: OpenAIServer, ledger: Ledger) -> None:
    client = metered(server, ledger)
    client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    got = chunks(client)
    assert got and all(c["choices"] for c in got) and all("usage" not in c for c in got)
    whole, streamed = sorted(ledger.events(), key=lambda p: p.event.ts)
    assert whole.event.usage == streamed.event.usage == EXACT
    assert (streamed.event.status, streamed.event.usage.estimated) == ("ok", False)
    assert streamed.cost.total == whole.cost.total > 0
    # On the wire the request asked for the usage chunk, and was otherwise the caller's.
    sent = server.bodies[-1]
    assert sent.pop("stream_options") == {"include_usage": True}
    assert sent == {"model": "gpt-4o-mini", "messages": MSG, "stream": True}


@pytest.mark.parametrize("kwargs", [{}, {"stream_options": {"include_usage": True}},
                                    {"stream_options": {"include_usage": False}}, {"temperature": 0.2}])
def test_the_caller_gets_byte_for_byte_the_stream_it_would_have_got(server: OpenAIServer, ledger: Ledger,
                                                                    kwargs: dict[str, Any]) -> None:
    expected = streamed_bytes(plain(server), **kwargs)
    assert streamed_bytes(metered(server, ledger), **kwargs) == expected
    assert chunks(metered(server, ledger), **kwargs) == chunks(plain(server), **kwargs)
    asked = kwargs.get("stream_options", {}).get("include_usage")
    assert (expected == WITH_USAGE) if asked else (expected == WITHOUT_USAGE)
    assert [p.event.usage for p in ledger.events()] == [EXACT, EXACT]


def test_async_streams_too(server: OpenAIServer, ledger: Ledger) -> None:
    async def read(client: openai.AsyncOpenAI) -> tuple[bytes, list[dict[str, Any]]]:
        async with client.chat.completions.with_streaming_response.create(
                model="gpt-4o-mini", messages=MSG, stream=True) as resp:  # type: ignore[arg-type]
            raw = b"".join([b async for b in resp.iter_bytes()])
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)  # type: ignore[arg-type]
        return raw, [c.model_dump(exclude_unset=True) async for c in stream]

    def client() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)

    assert asyncio.run(read(sdk.instrument(client(), sink=ledger))) == asyncio.run(read(client()))
    assert [p.event.usage for p in ledger.events()] == [EXACT, EXACT]


def test_a_compressed_stream_is_hidden_and_read_the_same(server: OpenAIServer, ledger: Ledger) -> None:
    headers = {"x-test-mode": "gzip"}
    assert streamed_bytes(metered(server, ledger), extra_headers=headers) == streamed_bytes(plain(server),
                                                                                        extra_headers=headers)
    assert streamed_bytes(plain(server), extra_headers=headers) == WITHOUT_USAGE
    assert [p.event.usage for p in ledger.events()] == [EXACT]


def test_a_server_that_refuses_stream_options_gets_the_request_as_written(server: OpenAIServer,
                                                                           ledger: Ledger) -> None:
    headers = {"x-test-mode": "strict"}
    before = len(server.bodies)
    assert chunks(metered(server, ledger), extra_headers=headers) == chunks(plain(server), extra_headers=headers)
    tried, sent = server.bodies[before:before + 2]
    assert tried["stream_options"] == {"include_usage": True} and "stream_options" not in sent
    (p,) = ledger.events()
    # No usage on the wire: an estimate, marked so; the prompt is counted, never 0.
    u = p.event.usage
    assert u.estimated and p.event.status == "ok"
    assert u.input_tokens == prompt_tokens(json.dumps({"messages": MSG, "model": "gpt-4o-mini",
                                                       "stream": True}).encode()) > 0
    assert u.output_tokens == 5          # "Bonjour le monde !" at four characters a token
    # A 400 for another reason is the caller's, untouched.
    with pytest.raises(openai.BadRequestError):
        metered(server, ledger).chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True,  # type: ignore[arg-type]
                                                        stream_options={"include_usage": True},
                                                        extra_headers=headers)


def test_a_stream_closed_early_is_an_estimate_with_its_prompt(server: OpenAIServer, ledger: Ledger) -> None:
    stream = metered(server, ledger).chat.completions.create(  # type: ignore[call-overload]
        model="gpt-4o-mini", messages=MSG, stream=True, extra_headers={"x-test-mode": "slow"})
    first = next(iter(stream))
    stream.close()
    assert first.choices and first.usage is None
    (p,) = ledger.events()
    u = p.event.usage
    assert (p.event.status, u.estimated) == ("aborted", True)
    assert u.input_tokens == prompt_tokens(json.dumps({"model": "gpt-4o-mini", "messages": MSG}).encode()) > 0
    assert p.cost.total > 0


def test_a_responses_stream_is_sent_as_written_and_read_from_its_last_event(server: OpenAIServer,
                                                                            ledger: Ledger) -> None:
    client = metered(server, ledger)
    events = list(client.responses.create(model="gpt-4.1-mini", input="Hello", stream=True))
    assert events[-1].type == "response.completed"
    assert server.bodies[-1] == {"model": "gpt-4.1-mini", "input": "Hello", "stream": True}
    (p,) = ledger.events()
    assert p.event.usage == parse_stream("openai", RESPONSES).usage and not p.event.usage.estimated
    assert p.event.usage.input_tokens + p.event.usage.cache_read_tokens == 2311


# -- the parts --------------------------------------------------------------------------------

def test_ask_for_usage_changes_only_what_it_must() -> None:
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}'
    assert ask_for_usage(body) == (b'{"stream_options":{"include_usage":true},"model":"gpt-4o",'
                                   b'"messages":[{"role":"user","content":"hi"}],"stream":true}')
    assert json.loads(ask_for_usage(b'{"stream":true,"stream_options":{"include_obfuscation":false}}') or b"") == {
        "stream": True, "stream_options": {"include_obfuscation": False, "include_usage": True}}
    for unchanged in (b'{"stream":true,"stream_options":{"include_usage":true}}', b'{"model":"x"}',
                      b'{"stream":false}', b"not json", b'["stream"]', b""):
        assert ask_for_usage(unchanged) is None


def test_drop_null_usage_takes_out_the_member_only() -> None:
    assert drop_null_usage(b'data: {"a":1,"usage":null,"b":2}\n\n') == b'data: {"a":1,"b":2}\n\n'
    assert drop_null_usage(b'data: {"usage": null, "b":2}\n\n') == b'data: {"b":2}\n\n'
    assert drop_null_usage(b'data: {"a":1, "usage" : null}\n\n') == b'data: {"a":1}\n\n'
    text = b'data: {"choices":[{"delta":{"content":"\\",\\"usage\\":null"}}],"usage":null}\n\n'
    assert drop_null_usage(text) == b'data: {"choices":[{"delta":{"content":"\\",\\"usage\\":null"}}]}\n\n'
    assert drop_null_usage(b'data: {"usage":{"prompt_tokens":1}}\n\n') == b'data: {"usage":{"prompt_tokens":1}}\n\n'


@given(cuts=st.lists(st.integers(0, len(WITH_USAGE)), max_size=20))
def test_the_stripper_gives_the_stream_without_usage_however_it_is_cut(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(WITH_USAGE)]
    s = UsageChunkStripper(nulls=True)
    out = b"".join(s.feed(WITH_USAGE[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)) + s.close()
    assert out == WITHOUT_USAGE


def test_prompt_estimates_count_text_not_images() -> None:
    text = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400}]}
    image = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "x" * 400},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}]}]}
    # The text's 400 characters at four a token, and the message's framing; the model and role are settings.
    assert prompt_tokens(json.dumps(text).encode()) == 100 + 4
    # The image's base64 does not count, nor do the parts' types.
    assert prompt_tokens(json.dumps(image).encode()) == 100 + 4
    # Claude's tokenizer is denser (three characters a token), and tools bring a hidden system prompt.
    assert prompt_tokens(json.dumps(text).encode(), "anthropic") == 134 + 4
    tools = {**text, "tools": [{"name": "f", "input_schema": {"type": "object"}}]}
    assert prompt_tokens(json.dumps(tools).encode(), "anthropic") == 149 + 4 + 346   # 447 chars with the tool's JSON
    assert prompt_tokens(b"raw prompt") == 3 and prompt_tokens(b"{}") == 1 and prompt_tokens(b"") == 0
