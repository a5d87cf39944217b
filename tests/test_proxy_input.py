"""The proxy answers bad input with a 4xx in the provider's error shape, never a 500.

Tag headers are fuzzed where they are parsed (deeply nested JSON once raised RecursionError, a
plain-text 500) and sent for real; a request body nested past the decoder's guard is sent on
unread; the last resort answers an error nobody foresaw in the provider's shape.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import test_proxy_helpers as helpers
from hypothesis import given, settings
from hypothesis import strategies as st
from test_proxy_helpers import Proxy, Upstream, call

from spendtag.errors import TagError
from spendtag.server.proxy.app import _parse
from spendtag.server.proxy.config import Upstream as UpstreamConfig
from spendtag.server.proxy.routes import Target, inspect
from spendtag.tags import parse_header

proxy = helpers.proxy
upstream = helpers.upstream
JSON = "application/json"


# -- tag headers -----------------------------------------------------------------------------------

def _nested_json(depth: int) -> str:
    return '{"client": ' + "[" * depth + "]" * depth + "}"


def test_deeply_nested_tags_are_a_tag_error() -> None:
    """Regression: deeply nested JSON in X-Spendtag-Tags raised RecursionError (a 500 from the proxy)."""
    for text in (_nested_json(100_000), '{"a":' * 50_000 + '""' + "}" * 50_000):
        with pytest.raises(TagError, match="nests too deeply"):
            parse_header(text)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4),
                           max_leaves=20)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     json_values.map(lambda v: json.dumps(v).encode()),
                     st.dictionaries(st.text(max_size=70), json_values, max_size=40).map(
                         lambda d: json.dumps(d).encode()),
                     st.integers(1, 3000).map(lambda n: _nested_json(n).encode())),
       json_only=st.booleans())
def test_fuzzed_tag_headers_are_tags_or_a_tag_error(raw: bytes, json_only: bool) -> None:
    try:
        tags = _parse("X-Spendtag-Tags", raw, json_only=json_only)
    except TagError as exc:
        assert str(exc).startswith(("X-Spendtag-Tags", "X-Spendtag-Tags:"))
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())


def test_a_deeply_nested_tag_header_is_a_400_from_the_proxy(proxy: Proxy, upstream: Upstream) -> None:
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    r = call("POST", proxy.url + "/openai/v1/chat/completions", chat, {"X-Spendtag-Tags": _nested_json(5000)})
    assert r.status_code == 400 and "nests too deeply" in r.json()["error"]["message"]
    r = call("POST", proxy.url + "/anthropic/v1/messages", chat, {"X-Metering-Tags": _nested_json(5000)})
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert upstream.seen == [] and proxy.events() == []


def test_a_deeply_nested_request_body_is_sent_on_unread() -> None:
    up = UpstreamConfig("openai", "openai", "http://127.0.0.1:9/v1", "openai", "OPENAI_API_KEY")
    deep = b'{"model": "gpt-4o", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = inspect(Target(up, up.base_url + "/chat/completions", "chat", None, False), deep)
    assert (body.model, body.data, body.input_tokens) == (None, deep, len(deep) // 4)



# -- the last resort --------------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "status"), [(KeyError("model"), 400), (RuntimeError("bug"), 500)])
def test_the_proxy_last_resort(proxy: Proxy, upstream: Upstream, monkeypatch: pytest.MonkeyPatch, error: Exception,
                               status: int) -> None:
    import spendtag.server.proxy.app as proxy_app

    def broken(target: Any, data: bytes) -> Any:
        raise error

    monkeypatch.setattr(proxy_app, "inspect", broken)
    r = call("POST", proxy.url + "/anthropic/v1/messages", {"model": "claude-sonnet-4-5", "messages": []})
    assert r.status_code == status and r.headers["content-type"] == JSON
    assert r.json()["type"] == "error" and type(error).__name__ in r.json()["error"]["message"]
