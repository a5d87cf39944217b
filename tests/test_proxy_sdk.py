"""The real openai and anthropic SDKs through the proxy to a fixture-replaying upstream: exact usage recorded."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
import test_proxy_helpers as helpers
from test_proxy_helpers import Proxy, Upstream, call

proxy = helpers.proxy
upstream = helpers.upstream

MSG = [{"role": "user", "content": "hi"}]


def _openai(p: Proxy, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.url + "/openai/v1", api_key="sk-client",
                         default_headers={"X-Spendtag-Tags": "client=acme,env=test", **headers}, max_retries=0)


def _anthropic(p: Proxy, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=p.url + "/anthropic", api_key="sk-ant-client",
                               default_headers={"X-Spendtag-Tags": "client=acme", **headers}, max_retries=0)


def test_openai_non_stream_records_exact_usage_and_cost_header(proxy: Proxy, upstream: Upstream) -> None:
    raw = _openai(proxy).chat.completions.with_raw_response.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    completion = raw.parse()
    assert completion.usage is not None and completion.usage.prompt_tokens == 3150
    cost_header = raw.headers["x-spendtag-cost-usd"]
    [p] = proxy.events()
    e = p.event
    assert (e.provider, e.model, e.status, e.source) == ("openai", "gpt-5-mini-2025-08-07", "ok", "proxy")
    u = e.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (206, 2944, 702, 640)
    assert not u.estimated and e.tags == {"client": "acme", "env": "test"}
    assert e.response_id == completion.id and e.event_id != completion.id
    assert p.cost.priced and p.cost.total > 0
    from spendtag.money import exact_str
    assert cost_header == exact_str(p.cost.total)
    # the client's own key went upstream untouched (no virtual key), the tags header did not
    seen = upstream.seen[-1].headers
    assert seen["Authorization"] == "Bearer sk-client"
    assert not any(k.lower().startswith("x-spendtag") for k in seen)


def test_openai_stream_without_include_usage_strips_the_usage_chunk(proxy: Proxy, upstream: Upstream) -> None:
    chunks = list(_openai(proxy).chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))  # type: ignore[arg-type]
    assert chunks and all(c.choices for c in chunks)          # no usage-only chunk reached the client
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Bonjour")
    import json
    assert json.loads(upstream.seen[-1].body)["stream_options"] == {"include_usage": True}
    [p] = proxy.events()
    u = p.event.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (256, 1280, 5)
    assert p.event.status == "ok" and not u.estimated and p.event.model == "gpt-4o-mini-2024-07-18"


def test_openai_stream_with_include_usage_keeps_it(proxy: Proxy) -> None:
    chunks = list(_openai(proxy).chat.completions.create(
        model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True}))  # type: ignore[arg-type]
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].prompt_tokens == 1536
    [p] = proxy.events()
    assert p.event.usage.output_tokens == 5


def test_anthropic_non_stream_and_stream(proxy: Proxy) -> None:
    client = _anthropic(proxy, **{"X-Spendtag-Session": "s-1", "X-Spendtag-Agent": "coder",
                                  "X-Spendtag-Project": "/home/dev/acme"})
    msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MSG)  # type: ignore[arg-type]
    assert msg.usage.input_tokens == 1422
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSG) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.usage.output_tokens == 14
    whole, streamed = proxy.events()
    u = whole.event.usage
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
            u.output_tokens, u.web_search_requests) == (1422, 20480, 1024, 4096, 611, 1)
    s = streamed.event.usage
    assert (s.input_tokens, s.cache_read_tokens, s.output_tokens, s.estimated) == (472, 18304, 14, False)
    for e in (whole.event, streamed.event):
        assert (e.session, e.agent, e.project, e.tags) == ("s-1", "coder", "/home/dev/acme", {"client": "acme"})


def test_gemini_generate_and_stream(proxy: Proxy) -> None:
    base = proxy.url + "/gemini/v1beta/models/gemini-2.5-flash"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    headers = {"X-Spendtag-Tags": "client=acme", "x-goog-api-key": "client-key"}
    assert call("POST", base + ":generateContent", body, headers).status_code == 200
    r = call("POST", base + ":streamGenerateContent?alt=sse", body, headers)
    assert r.status_code == 200 and b"usageMetadata" in r.content
    whole, streamed = proxy.events()
    assert (whole.event.provider, whole.event.usage.cache_read_tokens, whole.event.usage.output_tokens) == \
        ("google", 12288, 776)
    assert (streamed.event.usage.input_tokens, streamed.event.usage.output_tokens) == (9, 455)


def test_upstream_error_is_passed_through_and_recorded(proxy: Proxy) -> None:
    client = _openai(proxy, **{"x-test-mode": "error429"})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    assert info.value.response.headers["retry-after"] == "7"
    assert "Rate limit reached" in str(info.value)
    with pytest.raises(anthropic.RateLimitError):
        _anthropic(proxy, **{"x-test-mode": "error429"}).messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=MSG)  # type: ignore[arg-type]
    events = proxy.events()
    assert [(p.event.status, p.event.usage.total_tokens, p.cost.total) for p in events] == [("error", 0, 0)] * 2
    assert {p.event.model for p in events} == {"gpt-4o", "claude-sonnet-4-5"}


def test_upstream_redirect_goes_back_to_the_client_not_followed(proxy: Proxy, upstream: Upstream) -> None:
    """A proxy relays a redirect; following it itself would send the call (and its key) elsewhere."""
    import http.client
    from urllib.parse import urlsplit

    for path in ("/openai/v1/chat/completions", "/openai/v1/models"):   # metered, and passed through
        conn = http.client.HTTPConnection(urlsplit(proxy.url).netloc, timeout=10)
        conn.request("POST" if "chat" in path else "GET", path,
                     body=json.dumps({"model": "gpt-4o", "messages": MSG}) if "chat" in path else None,
                     headers={"content-type": "application/json", "x-test-mode": "redirect"})
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("location"), json.loads(resp.read())) == (307, "/elsewhere",
                                                                                      {"moved": True})
        conn.close()
    assert [s.path for s in upstream.seen] == ["/v1/chat/completions", "/v1/models"]   # /elsewhere never asked
    [p] = proxy.events()
    assert (p.event.status, p.event.usage.total_tokens, p.cost.total) == ("error", 0, 0)   # not a served call


def test_upstream_unreachable_is_502_in_provider_shape(proxy: Proxy, upstream: Upstream) -> None:
    upstream.stop()
    r = call("POST", proxy.url + "/anthropic/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 5,
                                                              "messages": MSG})
    assert r.status_code == 502 and r.json()["type"] == "error" and "unreachable" in r.json()["error"]["message"]
    [p] = proxy.events()
    assert p.event.status == "error" and p.cost.total == 0


def test_slow_stream_passes_events_through_as_they_come(proxy: Proxy) -> None:
    import time

    client = _anthropic(proxy, **{"x-test-mode": "slow"})
    arrivals = []
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSG) as stream:  # type: ignore[arg-type]
        for _ in stream:
            arrivals.append(time.monotonic())
        final = stream.get_final_message()
    # 14 events 50 ms apart: had the proxy buffered, they would arrive together at the end
    assert arrivals[-1] - arrivals[0] > 0.3
    assert final.usage.output_tokens == 14
    [p] = proxy.events()
    assert p.event.usage.output_tokens == 14 and p.event.status == "ok"


def test_client_disconnect_mid_stream_records_an_aborted_estimate(proxy: Proxy, upstream: Upstream) -> None:
    import time

    client = _anthropic(proxy, **{"x-test-mode": "hang"})
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSG) as stream:  # type: ignore[arg-type]
        for n, _ in enumerate(stream):
            if n == 2:
                break          # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 10
    while upstream.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.aborted == 1      # the proxy stopped reading upstream too
    [p] = proxy.events()
    e = p.event
    assert e.status == "aborted" and e.usage.estimated
    # input side exact from message_start; output estimated, never below its placeholder
    assert (e.usage.input_tokens, e.usage.cache_read_tokens) == (472, 18304) and e.usage.output_tokens >= 1
    assert p.cost.total > 0


def test_openai_disconnect_records_output_estimate(proxy: Proxy) -> None:
    client = _openai(proxy, **{"x-test-mode": "hang"})
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)  # type: ignore[arg-type]
    next(iter(stream))
    stream.close()
    [p] = proxy.events()
    assert p.event.status == "aborted" and p.event.usage.estimated


def test_passthrough_models_and_metrics(proxy: Proxy) -> None:
    models = _openai(proxy).models.list()
    assert [m.id for m in models.data] == ["gpt-4o"]
    _openai(proxy).chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    import time
    time.sleep(0.1)
    text = call("GET", proxy.url + "/metrics").text
    assert 'spendtag_proxy_calls_total{model="gpt-5-mini-2025-08-07",provider="openai",status="ok",' \
           'tag_client="acme"} 1.0' in text
    assert 'spendtag_proxy_tokens_total{bucket="output_tokens"' in text or 'bucket="output_tokens"' in text
    assert call("GET", proxy.url + "/healthz").json()["status"] == "ok"
    assert "sk-client" not in text
    assert len(proxy.events()) == 1      # the model list was passed through, not metered
