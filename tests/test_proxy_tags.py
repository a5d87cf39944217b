"""Tags and dimensions from headers (and the /t/ URL token); malformed headers; nothing spendtag forwarded."""

from __future__ import annotations

import pytest
import test_proxy_helpers as helpers
from test_proxy_helpers import Proxy, Upstream, call

from spendtag.server.proxy.app import encode_token

proxy = helpers.proxy
upstream = helpers.upstream

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("headers", "tags"), [
    ({"X-Spendtag-Tags": "client=acme,env=prod"}, {"client": "acme", "env": "prod"}),
    ({"X-Spendtag-Tags": ' {"client": "acme", "team": "web"} '}, {"client": "acme", "team": "web"}),
    ({"X-Metering-Tags": '{"client": "globex"}'}, {"client": "globex"}),
    ({"X-Spendtag-Tags": "client=acme", "X-Metering-Tags": '{"env": "dev"}'}, {"client": "acme", "env": "dev"}),
    ({}, {}),
])
def test_tag_header_variants(proxy: Proxy, upstream: Upstream, headers: dict[str, str], tags: dict[str, str]) -> None:
    r = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT,
             {**headers, "X-Spendtag-Project": "/srv/app", "X-Spendtag-Session": "s9", "X-Spendtag-Agent": "bot"})
    assert r.status_code == 200
    sent = {k.lower() for k in upstream.seen[-1].headers}
    assert not {h for h in sent if h.startswith("x-spendtag") or h == "x-metering-tags"}
    [p] = proxy.events()
    assert p.event.tags == tags
    assert (p.event.project, p.event.session, p.event.agent) == ("/srv/app", "s9", "bot")


@pytest.mark.parametrize(("path", "body", "header", "value", "shape", "text"), [
    ("/openai/v1/chat/completions", CHAT, "X-Spendtag-Tags", "client", "openai",
     "X-Spendtag-Tags: tag 'client' has no '=': write key=value, e.g. client=acme"),
    ("/anthropic/v1/messages", MESSAGES, "X-Spendtag-Tags", '{"client": 5}', "anthropic",
     "X-Spendtag-Tags: tag 'client': value must be a string, got int (quote numbers)"),
    ("/anthropic/v1/messages", MESSAGES, "X-Metering-Tags", "client=acme", "anthropic",
     'X-Metering-Tags must be a JSON object, e.g. {"client": "acme"}'),
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []}, "X-Spendtag-Tags", "{bad json",
     "gemini", "X-Spendtag-Tags: tags header is not valid JSON"),
])
def test_malformed_tags_get_400_in_the_providers_shape(proxy: Proxy, upstream: Upstream, path: str, body: object,
                                                        header: str, value: str, shape: str, text: str) -> None:
    r = call("POST", proxy.url + path, body, {header: value})
    assert r.status_code == 400
    got = r.json()
    if shape == "openai":
        message = got["error"]["message"]
        assert got["error"]["type"] == "invalid_request_error"
    elif shape == "anthropic":
        assert got["type"] == "error" and got["error"]["type"] == "invalid_request_error"
        message = got["error"]["message"]
    else:
        assert got["error"]["status"] == "INVALID_ARGUMENT" and got["error"]["code"] == 400
        message = got["error"]["message"]
    assert text in message
    assert upstream.seen == []           # nothing was forwarded
    assert proxy.events() == []


def test_url_token_carries_tags_for_clients_without_headers(proxy: Proxy, upstream: Upstream) -> None:
    token = encode_token("client=acme", "sess-1", "codex", "/p")
    r = call("POST", f"{proxy.url}/t/{token}/openai/v1/chat/completions", CHAT)
    assert r.status_code == 200
    assert upstream.seen[-1].path == "/v1/chat/completions"
    assert call("POST", f"{proxy.url}/t/!!/openai/v1/chat/completions", CHAT).status_code == 400
    [p] = proxy.events()
    assert (p.event.tags, p.event.session, p.event.agent, p.event.project) == ({"client": "acme"}, "sess-1",
                                                                                "codex", "/p")


def test_unknown_route_is_404(proxy: Proxy) -> None:
    r = call("GET", proxy.url + "/nowhere")
    assert r.status_code == 404 and "/openai/" in r.json()["error"]["message"]
