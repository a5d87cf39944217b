"""Calls made through ``spendtag.instrument()`` that the caller abandons or the upstream cuts: charged their estimate.

The real openai and anthropic SDKs against the fixture-replaying upstream of
:mod:`test_proxy_helpers` (``hang``: half a stream, then nothing until the client leaves;
``cut``: the connection dropped half-way through a stream or a body).
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
import test_proxy_helpers as helpers
import test_sdk_helpers
from test_proxy_helpers import Upstream
from test_sdk_helpers import Ledger

import spendtag.capture.sdk as sdk
from spendtag.capture.estimate import prompt_tokens

upstream = helpers.upstream
ledger = test_sdk_helpers.ledger

PROMPT = "Please reconcile the March invoices for the Acme account against the rate card. " * 114


def _openai(up: Upstream, sink: Ledger, mode: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=up.url + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"x-test-mode": mode})
    return sdk.instrument(client, sink=sink)


def _anthropic(up: Upstream, sink: Ledger, mode: str) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=up.url, api_key="sk-ant-test", max_retries=0,
                                 default_headers={"x-test-mode": mode})
    return sdk.instrument(client, sink=sink)


def test_an_abandoned_responses_stream_is_charged_its_prompt(upstream: Upstream, ledger: Ledger) -> None:
    stream = _openai(upstream, ledger, "hang").responses.create(model="gpt-4.1-mini", input=PROMPT, stream=True)
    next(iter(stream))
    stream.close()
    [p] = ledger.events()
    u = p.event.usage
    assert (p.event.status, u.estimated) == ("aborted", True)
    assert u.input_tokens == prompt_tokens(upstream.seen[-1].body, "openai")
    assert abs(u.input_tokens - 2311) <= 0.3 * 2311      # what the fixture reports for this call uncut
    assert p.cost.total > 0


def test_a_chat_stream_the_upstream_cuts_is_recorded_with_its_estimate(upstream: Upstream, ledger: Ledger) -> None:
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in _openai(upstream, ledger, "cut").chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True):  # type: ignore[arg-type]
            got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(got) == "Bonjour le monde"
    [p] = ledger.events()
    u = p.event.usage
    assert (p.event.status, u.estimated, u.output_tokens) == ("aborted", True, 4)   # 16 characters at 4 a token
    assert u.input_tokens == prompt_tokens(json.dumps({"messages": [{"role": "user", "content": PROMPT}],
                                                       "model": "gpt-4o-mini", "stream": True}).encode(), "openai")


def test_a_body_the_upstream_cuts_is_recorded_with_its_estimate(upstream: Upstream, ledger: Ledger) -> None:
    body = {"max_tokens": 100, "messages": [{"role": "user", "content": PROMPT}], "model": "claude-sonnet-4-5"}
    with pytest.raises(anthropic.APIConnectionError):
        _anthropic(upstream, ledger, "cut").messages.create(**body)  # type: ignore[arg-type]
    [p] = ledger.events()
    u = p.event.usage
    assert (p.event.status, p.event.provider, u.estimated) == ("aborted", "anthropic", True)
    assert u.input_tokens == prompt_tokens(upstream.seen[-1].body, "anthropic") > 1000
    assert p.event.model == "claude-sonnet-4-5" and p.cost.total > 0


def test_an_anthropic_stream_the_upstream_cuts_keeps_its_exact_input(upstream: Upstream, ledger: Ledger) -> None:
    with pytest.raises(anthropic.APIConnectionError), _anthropic(upstream, ledger, "cut").messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        s.get_final_message()
    [p] = ledger.events()
    u = p.event.usage
    assert (p.event.status, u.estimated, u.input_tokens, u.cache_read_tokens) == ("aborted", True, 472, 18304)
