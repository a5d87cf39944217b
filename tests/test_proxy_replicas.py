"""Two proxy replicas on one PostgreSQL ledger: one budget enforced across both, and a replica killed mid-burst.

Real parts: two ``spendtag proxy`` processes, a throw-away PostgreSQL (tests/pg.py), and the
mock upstream (tests/mock_upstream.py) that speaks OpenAI's API (the provider is the one thing mocked).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from test_proxy_helpers import free_port, get_json, wait_until_up

from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.pricing import Pricer
from spendtag.tags import Selector
from spendtag.usage import Usage, UsageEvent

MOCK = Path(__file__).resolve().parent / "mock_upstream.py"
CHAT = {"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
SETTLED = 182_500_000       # the mock's usage on gpt-4o: 25 * $2.50/M + 12 * $10/M = $0.0001825, in pico-USD


class Replicas:
    def __init__(self, db: str, tmp: Path, delay_ms: int) -> None:
        self.db = db
        self.mock_port = free_port()
        config = tmp / "config.toml"
        config.write_text("[proxy]\nreservation_ttl = 3\nrecover_every = 1\n")
        self.env = {**os.environ, "SPENDTAG_CONFIG": str(config), "HOME": str(tmp / "home"),
                    "XDG_DATA_HOME": str(tmp / "data")}
        self.log = open(tmp / "proxies.log", "ab")  # noqa: SIM115
        self.mock = subprocess.Popen([sys.executable, str(MOCK), "--port", str(self.mock_port), "--delay-ms",
                                      str(delay_ms)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(f"http://127.0.0.1:{self.mock_port}/health", self.mock)
        self.ports = [free_port(), free_port()]
        self.procs = [self.start(port) for port in self.ports]

    def start(self, port: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "spendtag.server.proxy", "--db", self.db, "proxy", "--port", str(port),
               "--openai-base-url", f"http://127.0.0.1:{self.mock_port}/v1", "--no-access-log"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=self.log)
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        return proc

    def answered(self) -> int:
        return int(get_json(f"http://127.0.0.1:{self.mock_port}/_stats")["answered_total"])  # type: ignore[arg-type]

    def close(self) -> None:
        for p in [*self.procs, self.mock]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()


@pytest.fixture
def replicas_factory(pg_url: str, tmp_path: Path) -> Iterator[object]:
    made: list[Replicas] = []

    def make(delay_ms: int) -> Replicas:
        made.append(Replicas(pg_url, tmp_path, delay_ms))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _budget(db: str, name: str, limit: int) -> Budget:
    budget = Budget(name, limit, scope=(Selector.parse("client=acme"),), stop_percent=Decimal(100), enforce="block")
    store = open_store(db)
    store.save_budget(name, budget.to_dict())
    store.close()
    return budget


def _wait_until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_race_two_replicas_64_calls_against_room_for_one(pg_url: str, replicas_factory: object) -> None:
    estimate = Pricer().price(UsageEvent("x", datetime.now(UTC), "openai", "gpt-4o",
                                         Usage(input_tokens=len(json.dumps(CHAT)) // 4, output_tokens=1000))).total
    budget = _budget(pg_url, "acme", estimate + estimate // 2)      # room for one estimate, not two
    r: Replicas = replicas_factory(300)  # type: ignore[operator]   # every call is still in flight when the last arrives

    async def burst() -> list[int]:
        async with aiohttp.ClientSession() as s:
            async def one(i: int) -> int:
                url = f"http://127.0.0.1:{r.ports[i % 2]}/openai/v1/chat/completions"
                async with s.post(url, json=CHAT, headers={"X-Spendtag-Tags": "client=acme"}) as resp:
                    await resp.read()
                    return resp.status
            return list(await asyncio.gather(*[one(i) for i in range(64)]))

    statuses = asyncio.run(burst())
    print(f"admitted {statuses.count(200)} of 64")
    assert set(statuses) == {200, 429} and statuses.count(200) >= 1
    store = open_store(pg_url)
    _wait_until(lambda: store.count() == statuses.count(200))
    spent = sum(a.totals.cost for a in store.aggregate(Filters(tags=(Selector.parse("client=acme"),))))
    assert spent <= budget.limit + SETTLED                           # overspend at most one call's settled cost
    assert r.answered() == statuses.count(200)                       # refused calls never reached the provider
    _wait_until(lambda: store.reservations(datetime.now(UTC)) == {})  # every reservation released
    store.close()


def test_a_replica_killed_mid_burst(pg_url: str, replicas_factory: object) -> None:
    _budget(pg_url, "acme-big", 10**15)                             # $1,000: every call reserves, none refused
    r: Replicas = replicas_factory(20)  # type: ignore[operator]
    total, concurrency = 600, 32
    outcome = {"ok": 0, "ok_after_kill": 0, "failed_over": 0, "killed": False}

    async def burst() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    if i == total // 3 and not outcome["killed"]:
                        outcome["killed"] = True
                        r.procs[0].send_signal(signal.SIGKILL)
                    # A load balancer sends to either; when one is gone, to the other.
                    order = [r.ports[i % 2], r.ports[1 - i % 2]]
                    for port in order:
                        try:
                            async with s.post(f"http://127.0.0.1:{port}/openai/v1/chat/completions", json=CHAT,
                                              headers={"X-Spendtag-Tags": "client=acme"}) as resp:
                                await resp.read()
                                if resp.status == 200:
                                    outcome["ok"] += 1
                                    if outcome["killed"]:
                                        outcome["ok_after_kill"] += 1
                                break
                        except aiohttp.ClientError:
                            outcome["failed_over"] += 1
                            continue
            await asyncio.gather(*[worker() for _ in range(concurrency)])

    asyncio.run(burst())
    print(outcome)
    r.procs[0].wait(10)
    assert r.procs[0].returncode == -signal.SIGKILL
    assert r.procs[1].poll() is None and outcome["ok_after_kill"] > total // 3      # the other kept serving
    answered = r.answered()
    store = open_store(pg_url)
    # The survivor records what the killed replica journaled (its journals are no longer locked).
    _wait_until(lambda: sum(1 for p in store.events(Filters()) if p.event.status == "ok") >= outcome["ok"])
    events = list(store.events(Filters()))
    ok = [p.event for p in events if p.event.status == "ok"]
    ids = [e.response_id for e in ok]
    assert len(ok) >= outcome["ok"] and len(ok) <= answered          # every answered call the clients saw
    assert len(set(ids)) == len(ids) and None not in ids             # none twice
    assert all(p.event.usage.estimated for p in events if p.event.status == "aborted")
    # Nothing stays reserved: released after recording, or expired with the dead replica.
    _wait_until(lambda: store.reservations(datetime.now(UTC)) == {}, timeout=15)
    store.close()
