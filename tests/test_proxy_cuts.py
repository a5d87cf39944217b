"""Calls the client abandoned or the upstream cut: charged their estimate, and a cut is a failure the client sees.

Driven with the real openai and anthropic SDKs through the proxy to the fixture-replaying
upstream of :mod:`test_proxy_helpers` (``x-test-mode: hang`` holds a stream half-way until
the client leaves; ``cut`` drops the connection half-way through a stream or a body).
"""

from __future__ import annotations

import json

import anthropic
import httpx2
import openai
import pytest
import test_proxy_helpers as helpers
from test_proxy_helpers import FAKE_KEY, Proxy, Upstream, call

from spendtag.capture.estimate import prompt_tokens

proxy = helpers.proxy
upstream = helpers.upstream

# A prompt of the size the fixtures' usage reports for these calls (the OpenAI chat stream
# reports 1,536 input tokens, the Responses stream 2,311): about 6,100 and 9,200 characters.
_SENTENCE = "Please reconcile the March invoices for the Acme account against the rate card. "
CHAT_PROMPT = _SENTENCE * 76
RESPONSES_PROMPT = _SENTENCE * 114
TOLERANCE = 0.3      # the calibration's error on a prompt this long (see spendtag.capture.estimate)


def _openai(base_url: str, mode: str = "") -> openai.OpenAI:
    headers = {"x-test-mode": mode} if mode else {}
    return openai.OpenAI(base_url=base_url, api_key="sk-client", default_headers=headers, max_retries=0)


def _anthropic(base_url: str, mode: str = "") -> anthropic.Anthropic:
    headers = {"x-test-mode": mode} if mode else {}
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-client", default_headers=headers, max_retries=0)


def _near(estimate: int, real: int) -> bool:
    return abs(estimate - real) <= TOLERANCE * real


def test_an_abandoned_chat_stream_is_charged_its_prompt_near_the_real_count(proxy: Proxy,
                                                                              upstream: Upstream) -> None:
    client = _openai(proxy.url + "/openai/v1")
    messages = [{"role": "user", "content": CHAT_PROMPT}]
    whole = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,  # type: ignore[arg-type]
                                                stream_options={"include_usage": True}))
    real = next(c.usage for c in whole if c.usage is not None).prompt_tokens
    stream = _openai(proxy.url + "/openai/v1", "hang").chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True)  # type: ignore[arg-type]
    next(iter(stream))
    stream.close()
    exact, cut = proxy.events()
    assert exact.event.usage.input_tokens + exact.event.usage.cache_read_tokens == real == 1536
    e = cut.event
    assert (e.status, e.usage.estimated) == ("aborted", True)
    assert e.usage.input_tokens == prompt_tokens(upstream.seen[-1].body, "openai")
    assert _near(e.usage.input_tokens, real), (e.usage.input_tokens, real)
    assert cut.cost.total > 0


def test_an_abandoned_responses_stream_is_charged_its_prompt_near_the_real_count(proxy: Proxy,
                                                                                   upstream: Upstream) -> None:
    client = _openai(proxy.url + "/openai/v1")
    events = list(client.responses.create(model="gpt-4.1-mini", input=RESPONSES_PROMPT, stream=True))
    usage = events[-1].response.usage  # type: ignore[union-attr]
    assert usage is not None
    real = usage.input_tokens
    stream = _openai(proxy.url + "/openai/v1", "hang").responses.create(
        model="gpt-4.1-mini", input=RESPONSES_PROMPT, stream=True)
    next(iter(stream))
    stream.close()
    exact, cut = proxy.events()
    assert exact.event.usage.input_tokens + exact.event.usage.cache_read_tokens == real == 2311
    e = cut.event
    assert (e.status, e.usage.estimated) == ("aborted", True)
    assert e.usage.input_tokens == prompt_tokens(upstream.seen[-1].body, "openai")
    assert _near(e.usage.input_tokens, real), (e.usage.input_tokens, real)
    assert cut.cost.total > 0


def test_a_cut_chat_stream_counts_the_output_streamed_so_far(proxy: Proxy) -> None:
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in _openai(proxy.url + "/openai/v1", "cut").chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello in French."}], stream=True):  # type: ignore[arg-type]
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Bonjour le monde"     # half the stream, then the cut
    [p] = proxy.events()
    u = p.event.usage
    assert (p.event.status, u.estimated) == ("aborted", True)
    assert u.output_tokens == 4                     # 16 characters at four a token
    assert u.input_tokens == prompt_tokens(json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in French."}]}).encode(),
        "openai") > 0


def _openai_error(base_url: str) -> type[BaseException]:
    with pytest.raises(Exception) as info:   # noqa: PT011 - the type is what is compared
        list(_openai(base_url, "cut").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True))  # type: ignore[arg-type]
    return type(info.value)


def _anthropic_error(base_url: str) -> type[BaseException]:
    stream = _anthropic(base_url, "cut").messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(Exception) as info, stream as s:   # noqa: PT011 - the type is what is compared
        s.get_final_message()
    return type(info.value)


def test_a_cut_stream_is_an_error_for_the_openai_sdk_as_without_the_proxy(proxy: Proxy, upstream: Upstream) -> None:
    direct = _openai_error(upstream.url + "/v1")
    assert issubclass(direct, (openai.APIConnectionError, httpx2.TransportError))
    assert _openai_error(proxy.url + "/openai/v1") is direct
    [p] = proxy.events()
    assert p.event.status == "aborted" and p.event.usage.estimated and p.event.usage.input_tokens > 0


def test_a_cut_stream_is_an_error_for_the_anthropic_sdk_as_without_the_proxy(proxy: Proxy,
                                                                               upstream: Upstream) -> None:
    direct = _anthropic_error(upstream.url)
    assert issubclass(direct, (anthropic.APIConnectionError, httpx2.TransportError))
    assert _anthropic_error(proxy.url + "/anthropic") is direct
    [p] = proxy.events()
    u = p.event.usage
    # input and cache exact from message_start, output estimated from the text that came through
    assert (p.event.status, u.estimated, u.input_tokens, u.cache_read_tokens) == ("aborted", True, 472, 18304)


def test_a_cut_body_is_a_502_with_the_event_id_and_recorded_with_its_estimate(proxy: Proxy) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": CHAT_PROMPT}]}
    r = call("POST", proxy.url + "/anthropic/v1/messages", body, {"x-test-mode": "cut"})
    assert r.status_code == 502
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "api_error"
    assert "cut" in r.json()["error"]["message"]
    [p] = proxy.events()
    assert r.headers["x-spendtag-event-id"] == p.event.event_id
    u = p.event.usage
    assert (p.event.status, u.estimated) == ("aborted", True)
    assert u.input_tokens == prompt_tokens(json.dumps(body).encode(), "anthropic") > 1000
    assert p.cost.priced and p.cost.total > 0


def test_a_cut_body_is_an_error_for_the_openai_sdk(proxy: Proxy) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        _openai(proxy.url + "/openai/v1", "cut").chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}])  # type: ignore[arg-type]
    event_id = info.value.response.headers["x-spendtag-event-id"]
    [p] = proxy.events()
    u = p.event.usage
    assert p.event.event_id == event_id and u.estimated and u.input_tokens > 0 and p.cost.total > 0
    # the half of the body that arrived holds the answer: "The invoice total is 1,284.50 EUR."
    assert u.output_tokens == 9


def test_an_upstream_error_body_reaches_the_client_unchanged_and_its_key_is_stored_nowhere(
        proxy: Proxy, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        _openai(proxy.url + "/openai/v1", "error401").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])  # type: ignore[arg-type]
    assert info.value.body == helpers.LEAKY_401["error"]     # the provider's words, as sent
    [p] = proxy.events()
    assert p.event.status == "error"
    for path in proxy.tmp.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
