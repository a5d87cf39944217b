"""Hard caps: 429 in the provider's shape with Retry-After; concurrent calls cannot overspend."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import test_proxy_helpers as helpers
from test_proxy_helpers import Proxy, Upstream, call

from spendtag.guard.budgets import Budget
from spendtag.ledger.query import Filters
from spendtag.tags import Selector
from spendtag.usage import Usage, UsageEvent

proxy = helpers.proxy
upstream = helpers.upstream

CHAT = {"model": "gpt-5-mini", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def _budget(p: Proxy, limit_pico: int, scope: str = "client=acme") -> Budget:
    b = Budget("acme", limit_pico, scope=(Selector.parse(scope),), stop_percent=Decimal(100), enforce="block")
    p.app.store.save_budget(b.name, b.to_dict())
    p.asgi.p.caps.reload()
    return b


def _one_call_cost(p: Proxy) -> int:
    r = call("POST", p.url + "/openai/v1/chat/completions", CHAT, {"X-Spendtag-Tags": "client=probe"})
    assert r.status_code == 200
    from spendtag.money import parse_usd
    return parse_usd(r.headers["x-spendtag-cost-usd"])


def test_race_64_concurrent_calls_against_room_for_one(proxy: Proxy, upstream: Upstream) -> None:
    settled = _one_call_cost(proxy)
    # Room for one call's reservation (its estimate, with max_tokens=1000) but not for two.
    estimate = proxy.asgi.p.caps.pricer.price(UsageEvent(
        "x", datetime.now(UTC), "openai", "gpt-5-mini",
        Usage(input_tokens=len(json.dumps(CHAT)) // 4, output_tokens=1000))).total
    limit = estimate + estimate // 2
    budget = _budget(proxy, limit)
    before = len(upstream.seen)

    async def burst() -> list[int]:
        async with aiohttp.ClientSession() as s:
            async def one() -> int:
                async with s.post(proxy.url + "/openai/v1/chat/completions", json=CHAT,
                                  headers={"X-Spendtag-Tags": "client=acme"}) as r:
                    await r.read()
                    return r.status
            return await asyncio.gather(*[one() for _ in range(64)])

    statuses = asyncio.run(burst())
    assert statuses.count(200) >= 1 and statuses.count(429) >= 1 and set(statuses) == {200, 429}
    events = [p for p in proxy.events() if p.event.tags == {"client": "acme"}]
    spent = sum(p.cost.total for p in events)
    assert len(events) == statuses.count(200) == len(upstream.seen) - before
    assert spent <= budget.limit + settled
    period = budget.period_at(datetime.now(UTC), proxy.app.tz)[0]
    spent_ledger = sum(a.totals.cost for a in proxy.app.store.aggregate(budget.filters(period)))
    assert spent_ledger == spent


def test_refusal_is_429_in_each_providers_shape_with_retry_after(proxy: Proxy, upstream: Upstream) -> None:
    _budget(proxy, 1)          # one pico-USD: nothing fits
    r = call("POST", proxy.url + "/anthropic/v1/messages", MESSAGES, {"X-Spendtag-Tags": "client=acme"})
    assert r.status_code == 429
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "budget acme (client=acme, " in body["error"]["message"] and "of $0.000000000001" in \
        body["error"]["message"]
    assert 0 < int(r.headers["retry-after"]) <= 31 * 86400
    o = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT, {"X-Spendtag-Tags": "client=acme"})
    assert o.status_code == 429 and o.json()["error"]["code"] == "budget_exceeded"
    g = call("POST", proxy.url + "/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []},
             {"X-Spendtag-Tags": "client=acme"})
    assert g.status_code == 429 and g.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    # other clients are not covered by the budget
    assert call("POST", proxy.url + "/anthropic/v1/messages", MESSAGES,
                {"X-Spendtag-Tags": "client=globex"}).status_code == 200
    assert len(upstream.seen) == 1
    assert [p.event.tags for p in proxy.events()] == [{"client": "globex"}]


def test_unpriced_model_follows_the_block_policy(proxy: Proxy, upstream: Upstream) -> None:
    proxy.asgi.p.caps.policy = "block"
    r = call("POST", proxy.url + "/openai/v1/chat/completions",
             {"model": "my-own-model", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 403 and "has no price and unpriced_policy is block" in r.json()["error"]["message"]
    assert upstream.seen == []
    proxy.asgi.p.caps.policy = "allow"
    assert call("POST", proxy.url + "/openai/v1/chat/completions",
                {"model": "my-own-model", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    [p] = proxy.events()
    assert p.event.model == "gpt-5-mini-2025-08-07"     # the response's model is recorded (the fixture's)
    assert proxy.app.store.aggregate(Filters())[0].totals.requests == 1
