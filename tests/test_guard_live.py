"""Guards see the ledger as it is now: budgets, keys and spend changed by another process while the proxy runs.

Every change here is made the way a user makes it, in another process (the spendtag CLI) or on
another connection, never by poking the proxy: the test then waits until the proxy's watch has
read the ledger again (``asgi.watch.reads``), which it does within a fraction of a second
(bench/bench_guard_live.py measures how soon), and sends its calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import test_proxy_helpers as helpers
from test_proxy_helpers import Proxy, Upstream, call

from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.money import parse_usd
from spendtag.server.proxy.routes import inspect, resolve
from spendtag.tags import Selector
from spendtag.usage import PricedEvent, Usage, UsageEvent

upstream = helpers.upstream

CHAT = {"model": "gpt-5-mini", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}
UNBOUNDED = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
CHAT_PATH = "/openai/v1/chat/completions"
LAG = timedelta(milliseconds=250)


@pytest.fixture
def proxy(tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The proxy with its virtual keys cached as they are by default (5 s): a revocation is seen through the
    watch, not through an expired cache entry."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai")
    p = Proxy(tmp_path, upstream, '[proxy]\nmetric_tags = ["client"]\n')
    p.start()
    yield p
    if p.thread.is_alive():
        p.stop()
    p.app.close()


def spendtag(p: Proxy, *args: str) -> str:
    """The spendtag CLI in a process of its own, on the proxy's ledger."""
    env = {**os.environ, "SPENDTAG_CONFIG": str(p.tmp / "config.toml")}
    done = subprocess.run([sys.executable, "-c", "from spendtag.cli.main import cli; cli()", "--db", p.db, *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def seen_again(p: Proxy, reads: int, what: Callable[[], bool] = lambda: True) -> None:
    """Until the proxy has read the ledger again since ``reads`` (and ``what`` holds)."""
    watch = p.asgi.watch
    assert watch is not None
    deadline = time.monotonic() + 20
    while not (watch.reads > reads and what()):
        assert time.monotonic() < deadline, "the proxy never read the ledger again"
        time.sleep(0.01)


def estimate(p: Proxy, body: dict[str, Any]) -> int:
    """What the proxy reserves for ``body`` (its own input estimate, and max_tokens or the default output)."""
    caps = p.asgi.p.caps
    target = resolve(p.asgi.upstreams, "POST", CHAT_PATH)
    assert target is not None
    b = inspect(target, json.dumps(body).encode())
    out = b.max_output if b.max_output is not None else caps.output.tokens(body["model"])
    usage = Usage(input_tokens=b.input_tokens, output_tokens=out)
    return caps.pricer.price(UsageEvent("x", datetime.now(UTC), "openai", body["model"], usage)).total


def settled_cost(p: Proxy, body: dict[str, Any] = CHAT) -> int:
    r = call("POST", p.url + CHAT_PATH, body, {"X-Spendtag-Tags": "client=probe"})
    assert r.status_code == 200
    return parse_usd(r.headers["x-spendtag-cost-usd"])


def burst(p: Proxy, n: int, body: dict[str, Any], headers: dict[str, str], *,
          width: int | None = None) -> list[tuple[int, str]]:
    """``n`` calls at once (``width`` at a time if given): each one's status and body."""
    async def run() -> list[tuple[int, str]]:
        gate = asyncio.Semaphore(width or n)
        async with aiohttp.ClientSession() as s:
            async def one() -> tuple[int, str]:
                async with gate, s.post(p.url + CHAT_PATH, json=body, headers=headers) as r:
                    return r.status, await r.text()
            return await asyncio.gather(*[one() for _ in range(n)])
    return asyncio.run(run())


def ledger_spend(p: Proxy, budget: Budget) -> int:
    drained(p)
    store = open_store(p.db)
    try:
        rng = budget.period_at(datetime.now(UTC), p.app.tz)[0]
        return sum(a.totals.cost for a in store.aggregate(budget.filters(rng)))
    finally:
        store.close()


def budget_named(p: Proxy, name: str) -> Budget:
    return next(b for b in p.asgi.p.caps.budgets if b.name == name)


def drained(p: Proxy) -> None:
    """Until every settled call is committed and acknowledged (no call pending in the checks)."""
    deadline = time.monotonic() + 20
    while p.asgi.p.caps.live.pending or p.asgi.p.caps.live.in_flight:
        assert time.monotonic() < deadline
        time.sleep(0.01)


# -- budgets made, and spend recorded, by another process --------------------------------------


def test_a_budget_made_while_the_proxy_runs_holds_a_64_call_burst(proxy: Proxy, upstream: Upstream) -> None:
    settled = settled_cost(proxy)
    limit = estimate(proxy, CHAT) * 3 // 2                     # room for one call's estimate, not two
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "budget", "set", "b", "--scope", "client=b", "--monthly", str(limit / 10**12),
             "--stop-at", "100", "--enforce", "block")
    seen_again(proxy, reads, lambda: "b" in proxy.asgi.p.caps.names)
    budget = budget_named(proxy, "b")
    before = len(upstream.seen)
    replies = burst(proxy, 64, CHAT, {"X-Spendtag-Tags": "client=b"})
    statuses = [s for s, _ in replies]
    assert statuses.count(200) == 1 and statuses.count(429) == 63
    assert len(upstream.seen) - before == 1
    spent = ledger_spend(proxy, budget)
    assert 0 < spent <= budget.limit + settled                   # overspend: at most one call's cost


def test_spend_recorded_by_another_process_is_seen_and_named(proxy: Proxy) -> None:
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "budget", "set", "acme", "--scope", "client=acme", "--monthly", "5", "--enforce", "block")
    seen_again(proxy, reads, lambda: "acme" in proxy.asgi.p.caps.names)
    r = call("POST", proxy.url + CHAT_PATH, CHAT, {"X-Spendtag-Tags": "client=acme"})
    assert r.status_code == 200                                  # $5 of room
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "record-cost", "5", "--tag", "client=acme", "--note", "consulting tools")
    seen_again(proxy, reads)
    r = call("POST", proxy.url + CHAT_PATH, CHAT, {"X-Spendtag-Tags": "client=acme"})
    assert r.status_code == 429
    message = r.json()["error"]["message"]
    assert "budget acme (client=acme, " in message and "has reached its stop threshold: spent $5.00" in message


def test_a_budget_deleted_by_another_process_no_longer_refuses(proxy: Proxy) -> None:
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "budget", "set", "tiny", "--scope", "client=t", "--monthly", "0.000001", "--enforce", "block")
    seen_again(proxy, reads, lambda: "tiny" in proxy.asgi.p.caps.names)
    assert call("POST", proxy.url + CHAT_PATH, CHAT, {"X-Spendtag-Tags": "client=t"}).status_code == 429
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "budget", "remove", "tiny")
    seen_again(proxy, reads, lambda: "tiny" not in proxy.asgi.p.caps.names)
    assert call("POST", proxy.url + CHAT_PATH, CHAT, {"X-Spendtag-Tags": "client=t"}).status_code == 200


# -- reservations survive reloads ------------------------------------------------------------------


def test_a_reload_with_calls_in_flight_keeps_their_reservations(proxy: Proxy, upstream: Upstream) -> None:
    each = estimate(proxy, STREAM)
    store = open_store(proxy.db)                                 # another connection: as another process
    budget = Budget("ten", each * 10 + each // 2, scope=(Selector.parse("client=ten"),), enforce="block")
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    store.save_budget(budget.name, budget.to_dict())
    seen_again(proxy, reads, lambda: "ten" in proxy.asgi.p.caps.names)
    slow = {"X-Spendtag-Tags": "client=ten", "x-test-mode": "slow"}
    first: list[tuple[int, str]] = []
    runner = threading.Thread(target=lambda: first.extend(burst(proxy, 10, STREAM, slow)))
    runner.start()
    deadline = time.monotonic() + 20
    while proxy.asgi.p.caps.live.in_flight < 10:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # A reload while the ten are in flight: another process makes a budget (e.g. a new key's).
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    other = Budget("other", 10**12, scope=(Selector.parse("client=other"),), enforce="block")
    store.save_budget(other.name, other.to_dict())
    seen_again(proxy, reads, lambda: "other" in proxy.asgi.p.caps.names)
    assert proxy.asgi.p.caps.live.in_flight == 10                # still slow: the reload came mid-flight
    more = burst(proxy, 10, CHAT, {"X-Spendtag-Tags": "client=ten"})
    runner.join(30)
    assert [s for s, _ in first] == [200] * 10
    assert [s for s, _ in more] == [429] * 10
    messages = {json.loads(b)["error"]["message"] for _, b in more}
    assert len(messages) == 1 and "reserved by calls in flight (10 here)" in messages.pop()
    drained(proxy)
    caps = proxy.asgi.p.caps
    assert caps.live.spent("ten") == ledger_spend(proxy, budget) > 0   # the proxy believes what the ledger holds
    store.close()


# -- per-key budgets, and spend arriving during a burst ----------------------------------------------


def test_a_key_made_while_the_proxy_runs_caps_its_burst(proxy: Proxy, upstream: Upstream) -> None:
    settled = settled_cost(proxy)
    limit = estimate(proxy, CHAT) * 5 // 2                       # room for two estimates, not three
    out = spendtag(proxy, "keys", "create", "ci-bot", "--tags", "client=bot", "--budget-monthly",
                   str(limit / 10**12))
    secret = next(w for w in out.split() if w.startswith("sk-spendtag-"))
    replies = burst(proxy, 64, CHAT, {"Authorization": f"Bearer {secret}"})
    statuses = [s for s, _ in replies]
    assert statuses.count(200) == 2 and statuses.count(429) == 62
    budget = next(b for b in proxy.asgi.p.caps.budgets if b.name == "key-ci-bot")
    assert 0 < ledger_spend(proxy, budget) <= budget.limit + settled


def test_spend_from_another_process_during_a_burst(proxy: Proxy, upstream: Upstream) -> None:
    """Outside spend lands while 64 calls arrive eight at a time: the proxy admits nothing once it has
    seen that spend, so everything past the limit is at most one call plus the outside spend it could
    not have seen at its last admission: recorded after it, or less than the watch's lag before it
    (a tick of the writer, 50 ms, plus the read; LAG allows five times that)."""
    settled = settled_cost(proxy)
    each = estimate(proxy, CHAT)
    budget = Budget("busy", each * 12, scope=(Selector.parse("client=busy"),), enforce="block")
    store = open_store(proxy.db)
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    store.save_budget(budget.name, budget.to_dict())
    seen_again(proxy, reads, lambda: "busy" in proxy.asgi.p.caps.names)
    outside: list[PricedEvent] = []

    def spend() -> None:
        for i in range(8):
            priced = _outside(proxy, f"outside-{i}", datetime.now(UTC), {"client": "busy"})
            store.record([priced])
            outside.append(priced)
            time.sleep(0.03)

    spender = threading.Thread(target=spend)
    spender.start()
    replies = burst(proxy, 64, {**CHAT}, {"X-Spendtag-Tags": "client=busy", "x-test-mode": "slow"}, width=8)
    spender.join(30)
    assert {s for s, _ in replies} <= {200, 429} and [s for s, _ in replies].count(429) > 0
    drained(proxy)
    admitted = [e.event for e in _events(proxy.db, "busy") if e.event.source == "proxy"]
    last = max(e.ts for e in admitted)
    late = sum(o.cost.total for o in outside if o.event.ts > last - LAG)
    assert ledger_spend(proxy, budget) <= budget.limit + settled + late
    store.close()


def _outside(p: Proxy, event_id: str, at: datetime, tags: dict[str, str]) -> PricedEvent:
    """A call another process records (an SDK sink, an import): priced as spendtag prices it."""
    event = UsageEvent(event_id, at, "openai", "gpt-5-mini", Usage(input_tokens=2000, output_tokens=800),
                       tags=tags, source="sdk")
    return PricedEvent(event, p.app.pricer.price(event))


def _events(db: str, client: str) -> list[Any]:
    store = open_store(db)
    try:
        return list(store.events(Filters(tags=(Selector.parse(f"client={client}"),))))
    finally:
        store.close()


# -- what a 429 says, and calls that set no max_tokens ------------------------------------------------


def test_a_call_without_max_tokens_reserves_the_documented_estimate_and_says_so(proxy: Proxy) -> None:
    bounded = {**UNBOUNDED, "max_tokens": 50}
    limit = (estimate(proxy, bounded) + estimate(proxy, UNBOUNDED)) // 2  # the bounded call fits; the other not
    store = open_store(proxy.db)
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    b = Budget("small", limit, scope=(Selector.parse("client=s"),), enforce="block")
    store.save_budget(b.name, b.to_dict())
    seen_again(proxy, reads, lambda: "small" in proxy.asgi.p.caps.names)
    r = call("POST", proxy.url + CHAT_PATH, UNBOUNDED, {"X-Spendtag-Tags": "client=s"})
    assert r.status_code == 429
    message = r.json()["error"]["message"]
    assert "this call's estimate does not fit" in message
    assert "no max_tokens: proxy.default_max_output_tokens is 1,024" in message and "spent $0.00" in message
    assert call("POST", proxy.url + CHAT_PATH, bounded, {"X-Spendtag-Tags": "client=s"}).status_code == 200
    store.close()


# -- keys --------------------------------------------------------------------------------------------


def test_a_revoked_key_stops_working_once_the_proxy_has_seen_the_revocation(proxy: Proxy) -> None:
    out = spendtag(proxy, "keys", "create", "temp", "--tags", "client=temp")
    secret = next(w for w in out.split() if w.startswith("sk-spendtag-"))
    auth = {"Authorization": f"Bearer {secret}"}
    assert call("POST", proxy.url + CHAT_PATH, CHAT, auth).status_code == 200   # now cached for 5 s
    reads = proxy.asgi.watch.reads if proxy.asgi.watch else 0
    spendtag(proxy, "keys", "revoke", "temp")
    seen_again(proxy, reads)
    r = call("POST", proxy.url + CHAT_PATH, CHAT, auth)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


# -- the same on PostgreSQL (no change counter: the proxy reads the ledger on a timer) -------------


@pytest.fixture
def pg_proxy(tmp_path: Path, upstream: Upstream, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    from spendtag.cli.app import App

    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai")
    p = Proxy(tmp_path, upstream, '[proxy]\nmetric_tags = ["client"]\n')
    p.app.close()
    p.db, p.app = pg_url, App(db=pg_url)
    p.start()
    yield p
    if p.thread.is_alive():
        p.stop()
    p.app.close()


def test_postgres_a_budget_made_while_the_proxy_runs_holds_a_burst(pg_proxy: Proxy, upstream: Upstream) -> None:
    settled = settled_cost(pg_proxy)
    limit = estimate(pg_proxy, CHAT) * 3 // 2
    reads = pg_proxy.asgi.watch.reads if pg_proxy.asgi.watch else 0
    spendtag(pg_proxy, "budget", "set", "b", "--scope", "client=b", "--monthly", str(limit / 10**12),
             "--stop-at", "100", "--enforce", "block")
    seen_again(pg_proxy, reads, lambda: "b" in pg_proxy.asgi.p.caps.names)
    budget = budget_named(pg_proxy, "b")
    statuses = [s for s, _ in burst(pg_proxy, 64, CHAT, {"X-Spendtag-Tags": "client=b"})]
    assert statuses.count(200) == 1 and statuses.count(429) == 63
    assert 0 < ledger_spend(pg_proxy, budget) <= budget.limit + settled


def test_postgres_spend_and_revocations_from_another_process(pg_proxy: Proxy) -> None:
    out = spendtag(pg_proxy, "keys", "create", "temp", "--tags", "client=acme")
    secret = next(w for w in out.split() if w.startswith("sk-spendtag-"))
    auth = {"Authorization": f"Bearer {secret}"}
    reads = pg_proxy.asgi.watch.reads if pg_proxy.asgi.watch else 0
    spendtag(pg_proxy, "budget", "set", "acme", "--scope", "client=acme", "--monthly", "5", "--enforce", "block")
    seen_again(pg_proxy, reads, lambda: "acme" in pg_proxy.asgi.p.caps.names)
    assert call("POST", pg_proxy.url + CHAT_PATH, CHAT, auth).status_code == 200
    reads = pg_proxy.asgi.watch.reads if pg_proxy.asgi.watch else 0
    spendtag(pg_proxy, "record-cost", "5", "--tag", "client=acme", "--note", "tools")
    seen_again(pg_proxy, reads + 1)       # a timer, not a counter: one read may have begun before the record
    r = call("POST", pg_proxy.url + CHAT_PATH, CHAT, auth)
    assert r.status_code == 429 and "has reached its stop threshold: spent $5.00" in r.json()["error"]["message"]
    reads = pg_proxy.asgi.watch.reads if pg_proxy.asgi.watch else 0
    spendtag(pg_proxy, "keys", "revoke", "temp")
    seen_again(pg_proxy, reads + 1)
    assert call("POST", pg_proxy.url + CHAT_PATH, CHAT, auth).status_code == 401


# -- spendtag.instrument(enforce=True) -----------------------------------------------------------------


def test_the_sdk_guard_sees_budgets_and_spend_from_other_processes(tmp_path: Path, upstream: Upstream) -> None:
    """A budget made and spend recorded by the CLI in other processes, and this process's own calls
    before and after its sink wrote them: each next call is judged on the ledger as it is now."""
    import openai

    import spendtag
    from spendtag.capture.sdk.sinks import LedgerSink

    db = str(tmp_path / "sdk.db")
    sink = LedgerSink(db)
    client = spendtag.instrument(openai.OpenAI(base_url=upstream.url + "/v1", api_key="sk-test", max_retries=0),
                                 enforce=True, sink=sink, tags={"client": "acme"})
    ask = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
    client.chat.completions.create(**ask)                     # no budget yet
    sink.flush(10)
    store = open_store(db)
    (first,) = store.events(Filters())
    each = first.cost.total

    enforcer = client._client._transport.meter.enforcer

    def seen(what: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not what():
            assert time.monotonic() < deadline, "the SDK's guard never saw the change"
            time.sleep(0.01)

    def cli(*args: str, until: Callable[[], bool]) -> None:
        """A command in another process; then until the enforcer's thread has seen what it changed."""
        done = subprocess.run([sys.executable, "-c", "from spendtag.cli.main import cli; cli()", "--db", db, *args],
                              env={**os.environ, "SPENDTAG_CONFIG": str(tmp_path / "none.toml")},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        seen(until)

    def names() -> set[str]:
        return {b.name for b in enforcer._live.budgets}

    # A limit of two calls and a half: two more go (the check is before a call, on what is spent), the
    # next is refused, whether the sink wrote the two yet or not.
    cli("budget", "set", "acme", "--scope", "client=acme", "--monthly", str((each * 5 // 2) / 10**12),
        "--enforce", "block", until=lambda: "acme" in names())
    client.chat.completions.create(**ask)
    client.chat.completions.create(**ask)
    with pytest.raises(spendtag.BudgetExceeded) as refused:
        client.chat.completions.create(**ask)
    assert refused.value.spent_pico == 3 * each and "has reached its stop threshold" in str(refused.value)
    sink.flush(10)
    assert len(list(store.events(Filters()))) == 3            # the refused call never left
    seen(lambda: not enforcer._pending)                       # its own calls read back from the ledger...
    assert enforcer._live.spent("acme") == 3 * each           # ...and counted once
    with pytest.raises(spendtag.BudgetExceeded):
        client.chat.completions.create(**ask)
    cli("budget", "remove", "acme", until=lambda: "acme" not in names())   # another process lifts it
    client.chat.completions.create(**ask)
    cli("budget", "set", "tools", "--scope", "client=acme", "--monthly", "1", "--enforce", "block",
        until=lambda: "tools" in names())
    cli("record-cost", "1", "--tag", "client=acme", "--note", "a tool bought elsewhere",
        until=lambda: enforcer._live.spent("tools") >= 10**12)
    with pytest.raises(spendtag.BudgetExceeded) as refused:
        client.chat.completions.create(**ask)
    assert refused.value.budget == "tools"
    sink.close()
    store.close()
