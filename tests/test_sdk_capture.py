"""The real openai, anthropic and google-genai SDKs, instrumented, against a fixture-replaying server."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
import test_sdk_helpers as helpers
from conftest import fixture_path
from google import genai
from test_sdk_helpers import MSG, Ledger, Upstream, no_spendtag_headers

import spendtag.capture.sdk as sdk

upstream = helpers.upstream
ledger = helpers.ledger


def _openai(up: Upstream, ledger: Ledger, **kw: object) -> openai.OpenAI:
    return sdk.instrument(openai.OpenAI(base_url=up.url + "/v1", api_key="sk-test", max_retries=0), sink=ledger,
                          **kw)  # type: ignore[arg-type]


def _buckets(e: object) -> tuple[int, ...]:
    u = e.usage  # type: ignore[attr-defined]
    return (u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.output_tokens,
            u.reasoning_tokens)


def test_openai_sync_non_stream_records_every_field(upstream: Upstream, ledger: Ledger) -> None:
    client = _openai(upstream, ledger, tags={"client": "acme", "agent": "writer"})
    with sdk.tags(feature="summarise", session="s-1"):
        completion = client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    assert completion.usage is not None and completion.usage.prompt_tokens == 3150   # caller sees the body as sent
    [p] = ledger.events()
    e = p.event
    assert (e.provider, e.model, e.status, e.source) == ("openai", "gpt-5-mini-2025-08-07", "ok", "sdk")
    assert _buckets(e) == (206, 2944, 0, 0, 702, 640) and not e.usage.estimated
    assert e.usage.service_tier == "default"
    assert e.tags == {"client": "acme", "feature": "summarise"}
    assert (e.session, e.agent, e.project, e.user) == ("s-1", "writer", None, None)
    assert e.response_id == completion.id and e.event_id != completion.id
    assert p.cost.priced and p.cost.total > 0
    assert no_spendtag_headers(upstream.seen[-1].headers)


def test_openai_stream_is_passed_through_unchanged_and_metered(upstream: Upstream, ledger: Ledger) -> None:
    plain = openai.OpenAI(base_url=upstream.url + "/v1", api_key="sk-test", max_retries=0)
    kwargs = {"model": "gpt-4o-mini", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    expected = [c.model_dump() for c in plain.chat.completions.create(**kwargs)]  # type: ignore[call-overload]
    got = [c.model_dump() for c in _openai(upstream, ledger).chat.completions.create(**kwargs)]  # type: ignore[call-overload]
    assert got == expected and got[-1]["usage"]["prompt_tokens"] == 1536
    [p] = ledger.events()
    assert _buckets(p.event) == (256, 1280, 0, 0, 5, 0)
    assert p.event.model == "gpt-4o-mini-2024-07-18" and p.event.status == "ok"


def test_openai_async_and_async_stream(upstream: Upstream, ledger: Ledger) -> None:
    client = sdk.instrument(openai.AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk-test", max_retries=0),
                            sink=ledger)

    async def main() -> int:
        with sdk.tags(client="async-co"):
            await client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
            stream = await client.chat.completions.create(  # type: ignore[call-overload]
                model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True})
            return len([c async for c in stream])

    assert asyncio.run(main()) > 1
    whole, streamed = ledger.events()
    assert _buckets(whole.event) == (206, 2944, 0, 0, 702, 640)
    assert _buckets(streamed.event) == (256, 1280, 0, 0, 5, 0)
    assert whole.event.tags == streamed.event.tags == {"client": "async-co"}


def test_openai_error_response_is_recorded_as_an_error(upstream: Upstream, ledger: Ledger) -> None:
    client = _openai(upstream, ledger)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-5-mini", messages=MSG,  # type: ignore[arg-type]
                                       extra_headers={"x-test-mode": "error429"})
    [p] = ledger.events()
    assert (p.event.status, p.event.model, p.event.provider) == ("error", "gpt-5-mini", "openai")
    assert p.event.usage.total_tokens == 0 and p.cost.total == 0


def test_openai_stream_closed_early_is_aborted_with_an_estimate(upstream: Upstream, ledger: Ledger) -> None:
    stream = _openai(upstream, ledger).chat.completions.create(  # type: ignore[call-overload]
        model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True},
        extra_headers={"x-test-mode": "slow"})
    next(iter(stream))
    stream.close()
    [p] = ledger.events()
    assert p.event.status == "aborted" and p.event.usage.estimated


def test_anthropic_sync_async_and_streams(upstream: Upstream, ledger: Ledger) -> None:
    client = sdk.instrument(anthropic.Anthropic(base_url=upstream.url, api_key="sk-ant", max_retries=0), sink=ledger)
    aclient = sdk.instrument(anthropic.AsyncAnthropic(base_url=upstream.url, api_key="sk-ant", max_retries=0),
                             sink=ledger, tags={"client": "acme"})
    with sdk.tags(agent="coder", project="/work/acme"):
        msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MSG)  # type: ignore[arg-type]
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSG) as s:  # type: ignore[arg-type]
            final = s.get_final_message()

    async def main() -> int:
        async with aclient.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSG) as s:  # type: ignore[arg-type]
            return (await s.get_final_message()).usage.output_tokens

    assert asyncio.run(main()) == final.usage.output_tokens == 14
    whole, streamed, async_streamed = ledger.events()
    e = whole.event
    assert (e.provider, e.model, e.response_id) == ("anthropic", "claude-sonnet-4-5-20250929", msg.id)
    assert _buckets(e) == (1422, 20480, 1024, 4096, 611, 0) and e.usage.web_search_requests == 1
    assert (e.agent, e.project, e.tags) == ("coder", "/work/acme", {})
    assert _buckets(streamed.event) == _buckets(async_streamed.event) == (472, 18304, 0, 0, 14, 0)
    assert async_streamed.event.tags == {"client": "acme"} and async_streamed.event.agent is None


def _genai(up: Upstream, ledger: Ledger) -> genai.Client:
    client = genai.Client(api_key="gem-test", http_options={"base_url": up.url, "retry_options": {"attempts": 1}})
    return sdk.instrument(client, sink=ledger, tags={"client": "g"})


def test_google_genai_sync_stream_and_async(upstream: Upstream, ledger: Ledger) -> None:
    client = _genai(upstream, ledger)
    resp = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert resp.usage_metadata is not None
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.thoughts_token_count == 432

    async def main() -> None:
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        async for _ in await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            pass

    asyncio.run(main())
    events = [p.event for p in ledger.events()]
    assert len(events) == 4 and len(upstream.seen) == 4
    whole, streamed = events[0], events[1]
    body = json.loads(fixture_path("gemini", "01_generate_content.json").read_text())
    meta = body["usageMetadata"]
    assert whole.provider == "google" and whole.model == body.get("modelVersion")
    assert whole.usage.input_tokens == meta["promptTokenCount"] - meta.get("cachedContentTokenCount", 0)
    assert whole.usage.output_tokens == meta["candidatesTokenCount"] + meta.get("thoughtsTokenCount", 0)
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens, streamed.usage.reasoning_tokens) == (9, 455, 432)
    assert [e.usage for e in events[2:]] == [whole.usage, streamed.usage]
    assert all(e.tags == {"client": "g"} for e in events)


def test_google_genai_error(upstream: Upstream, ledger: Ledger) -> None:
    client = _genai(upstream, ledger)
    with pytest.raises(genai.errors.APIError):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi",
                                       config={"http_options": {"headers": {"x-test-mode": "error429"}}})
    [p] = ledger.events()
    assert (p.event.status, p.event.model, p.event.provider) == ("error", "gemini-2.5-flash", "google")


def test_compatible_base_url_names_the_provider(ledger: Ledger) -> None:
    from spendtag.capture.sdk.meter import provider_for_host

    assert provider_for_host("api.groq.com", "openai") == "groq"
    assert provider_for_host("my-res.openai.azure.com", "openai") == "azure"
    assert provider_for_host("127.0.0.1", "openai") == "openai"
    client = sdk.instrument(openai.OpenAI(base_url="https://api.deepseek.com/v1", api_key="x"), sink=ledger)
    assert client._client._transport.meter.provider == "deepseek"  # type: ignore[attr-defined]


def test_unsupported_client_is_a_clear_error() -> None:
    with pytest.raises(sdk.BudgetExceeded.__mro__[1], match="unsupported client"):
        sdk.instrument(object())
