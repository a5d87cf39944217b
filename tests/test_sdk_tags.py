"""Tags from context: nesting, the decorator, asyncio tasks, threads, and per-call headers (stripped)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import openai
import pytest
import test_sdk_helpers as helpers
from test_sdk_helpers import MSG, Ledger, Upstream, no_spendtag_headers

import spendtag.capture.sdk as sdk
from spendtag.capture.sdk.context import current
from spendtag.errors import TagError

upstream = helpers.upstream
ledger = helpers.ledger


def _client(up: Upstream, ledger: Ledger) -> openai.OpenAI:
    return sdk.instrument(openai.OpenAI(base_url=up.url + "/v1", api_key="sk", max_retries=0), sink=ledger,
                          tags={"client": "base", "env": "dev"})


def _call(client: openai.OpenAI, **kw: object) -> None:
    client.chat.completions.create(model="gpt-5-mini", messages=MSG, **kw)  # type: ignore[call-overload]


def test_nesting_merges_and_the_inner_value_wins(upstream: Upstream, ledger: Ledger) -> None:
    client = _client(upstream, ledger)
    with sdk.tags(client="acme", feature="chat", session="outer"):
        with sdk.tags(feature="summarise", team="x", agent="bot"):
            _call(client)
            assert current().session == "outer"
        _call(client)
    _call(client)
    inner, outer, none = (p.event for p in ledger.events())
    assert inner.tags == {"client": "acme", "env": "dev", "feature": "summarise", "team": "x"}
    assert (inner.session, inner.agent) == ("outer", "bot")
    assert outer.tags == {"client": "acme", "env": "dev", "feature": "chat"} and outer.agent is None
    assert none.tags == {"client": "base", "env": "dev"} and none.session is None


def test_decorator_on_sync_and_async_functions(upstream: Upstream, ledger: Ledger) -> None:
    client = _client(upstream, ledger)
    aclient = sdk.instrument(openai.AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk", max_retries=0),
                             sink=ledger)

    @sdk.tagged(agent="support-bot", client="acme")
    def answer() -> None:
        _call(client)

    @sdk.tagged(feature="async")
    async def answer_async() -> None:
        await aclient.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]

    answer()
    asyncio.run(answer_async())
    assert answer.__name__ == "answer"
    sync_e, async_e = (p.event for p in ledger.events())
    assert sync_e.agent == "support-bot" and sync_e.tags == {"client": "acme", "env": "dev"}
    assert async_e.tags == {"feature": "async"} and async_e.agent is None


def test_asyncio_tasks_keep_their_own_tags(upstream: Upstream, ledger: Ledger) -> None:
    aclient = sdk.instrument(openai.AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk", max_retries=0),
                             sink=ledger)

    async def work(name: str) -> None:
        with sdk.tags(client=name):
            await asyncio.sleep(0.01)
            await aclient.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]

    async def main() -> None:
        with sdk.tags(env="prod"):
            await asyncio.gather(*(work(f"c{i}") for i in range(5)))

    asyncio.run(main())
    assert sorted(tuple(sorted(p.event.tags.items())) for p in ledger.events()) == [
        (("client", f"c{i}"), ("env", "prod")) for i in range(5)]


def test_threads_started_with_copy_context(upstream: Upstream, ledger: Ledger) -> None:
    client = _client(upstream, ledger)
    with sdk.tags(client="threaded"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(_call, client))
    thread.start()
    thread.join()
    plain = threading.Thread(target=_call, args=(client,))    # a bare thread starts from an empty context
    plain.start()
    plain.join()
    tags = sorted(p.event.tags["client"] for p in ledger.events())
    assert tags == ["base", "threaded"]


def test_per_call_headers_are_honoured_and_stripped(upstream: Upstream, ledger: Ledger) -> None:
    client = _client(upstream, ledger)
    with sdk.tags(client="acme"):
        _call(client, extra_headers={"X-Spendtag-Tags": "client=per-call,ticket=T-1", "X-Spendtag-Session": "s-9",
                                     "X-Spendtag-Agent": "hdr-agent"})
        _call(client, extra_headers={"X-Spendtag-Tags": '{"ticket": "T-2"}'})
    first, second = (p.event for p in ledger.events())
    assert first.tags == {"client": "per-call", "env": "dev", "ticket": "T-1"}
    assert (first.session, first.agent) == ("s-9", "hdr-agent")
    assert second.tags == {"client": "acme", "env": "dev", "ticket": "T-2"} and second.session is None
    assert len(upstream.seen) == 2 and all(no_spendtag_headers(s.headers) for s in upstream.seen)


def test_bad_tags_are_refused_where_they_are_written() -> None:
    with pytest.raises(TagError):
        sdk.tags(**{"bad key": "x"})
    with pytest.raises(TagError):
        sdk.tagged(client="a\nb")
