"""Virtual keys: create (shown once, hash stored), list, revoke; the proxy swaps in the real key."""

from __future__ import annotations

import hashlib
import json

import test_proxy_helpers as helpers
from click.testing import CliRunner
from test_proxy_helpers import Proxy, Upstream, call, cli_group

proxy = helpers.proxy
upstream = helpers.upstream

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def _keys(p: Proxy, *args: str) -> str:
    result = CliRunner().invoke(cli_group(), ["--db", p.db, "keys", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_key_lifecycle_through_the_proxy(proxy: Proxy, upstream: Upstream) -> None:
    key = _keys(proxy, "create", "acme", "--tags", "client=acme,env=prod", "--budget-monthly", "300").strip()
    assert key.startswith("sk-spendtag-") and len(key) > 40
    [record] = proxy.app.store.keys()
    assert record.key_hash == hashlib.sha256(key.encode()).hexdigest() and record.budget == "key-acme"
    listed = json.loads(_keys(proxy, "list", "--format", "json"))
    assert key not in json.dumps(listed) and listed[0]["name"] == "acme"
    assert "key-acme" in proxy.app.store.budgets()

    ok = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT,
              {"Authorization": f"Bearer {key}", "X-Spendtag-Tags": "client=other,team=web"})
    assert ok.status_code == 200
    assert upstream.seen[-1].headers["Authorization"] == "Bearer sk-real-openai"   # the real key, server-side
    ok2 = call("POST", proxy.url + "/anthropic/v1/messages", MESSAGES, {"x-api-key": key})
    assert ok2.status_code == 200 and upstream.seen[-1].headers["x-api-key"] == "sk-ant-real"
    assert key not in json.dumps([s.headers for s in upstream.seen])

    assert _keys(proxy, "revoke", "acme").startswith(f"revoked {record.key_id}")
    denied = call("POST", proxy.url + "/anthropic/v1/messages", MESSAGES, {"x-api-key": key})
    assert denied.status_code == 401
    assert denied.json() == {"type": "error", "error": {"type": "authentication_error", "message":
                             "spendtag: this virtual key is unknown or has been revoked"}}
    unknown = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT,
                   {"Authorization": "Bearer sk-spendtag-nope"})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_api_key"
    assert len(upstream.seen) == 2

    events = proxy.events()
    assert len(events) == 2
    for p in events:
        assert p.event.key == record.key_id
    # the key's tags win over the header's on the same key; other header tags stay
    assert events[0].event.tags == {"client": "acme", "env": "prod", "team": "web"}
    assert "revoked" in _keys(proxy, "list", "--all")


def test_revoking_an_unknown_key_fails_clearly(proxy: Proxy) -> None:
    result = CliRunner().invoke(cli_group(), ["--db", proxy.db, "keys", "revoke", "ghost"])
    assert result.exit_code != 0 and "no active key with id or name 'ghost'" in str(result.exception)
