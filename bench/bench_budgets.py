"""Budget checks per call in the hot path, with the look at the ledger's change counter (target ≤ 20 µs).

    python bench/bench_budgets.py [--ledger-events 200000] [--events 200000]

A ledger of synthetic agency traffic (bench/common.py) and 24 budgets: one global, a
monthly one per client (with notify and blocking stop thresholds), a daily one per agent,
and a weekly one per env. Then, for a stream of new calls, what the proxy does per call on
``LiveBudgets``: find the covering and blocking budgets, check (``verdict``) with the call's
estimate, reserve (``hold``), settle the cost (``settle``, thresholds crossed), and every
250 calls take the writer's acknowledgement (``committed``). Measured:

* that alone (the proxy: its look at the ledger runs on the writer's thread, not per call);
* that plus ``PRAGMA data_version`` on every call (a guard that looked every time);
* ``spendtag.instrument(enforce=True)``'s ``Enforcer.check`` before each call (its own thread
  looks every 50 ms and reads at most every 100 ms), with the calls handed to a real ``LedgerSink``
  that records them in its thread, as ``instrument`` does; alone, and with another
  connection recording a call every 10 ms (each change a read of all 24 budgets' spend);
* the watch's cost on the writer's thread: one look, and one read of every budget.

Baseline in the same run: ``budgets.check``, which recomputes each covering budget's spend
from the ledger (exact, but queries per call), on a sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import AGENTS, CLIENTS, machine, synthetic  # noqa: E402

from spendtag.guard import budgets  # noqa: E402
from spendtag.guard.live import LiveBudgets, SpendReader, ledger_spend  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.periods import zone  # noqa: E402
from spendtag.pricing.pricer import Pricer  # noqa: E402
from spendtag.tags import Selector  # noqa: E402

USD = 10**12


def make_budgets() -> list[budgets.Budget]:
    out = [budgets.Budget("everything", 50_000 * USD, "monthly", notify_percent=(Decimal(80),))]
    out += [budgets.Budget(f"client-{c}", 3_000 * USD, "monthly", scope=(Selector.parse(f"client={c}"),),
                           notify_percent=(Decimal(50), Decimal(80)), stop_percent=Decimal(100), enforce="block")
            for c in CLIENTS]
    out += [budgets.Budget(f"agent-{a}", 500 * USD, "daily", agent=a, notify_percent=(Decimal(80),)) for a in AGENTS]
    out += [budgets.Budget(f"env-{e}", 10_000 * USD, "weekly", scope=(Selector.parse(f"env={e}"),)) for e in
            ("prod", "dev", "staging")]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ledger-events", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    print(f"# bench_budgets · {datetime.now(UTC):%Y-%m-%d} · {machine()}")
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "ledger.db")
        pricer = Pricer()
        batch = []
        for event in synthetic(args.ledger_events, start=datetime(2026, 3, 1, tzinfo=UTC), days=19):
            batch.append(event)
            if len(batch) == 5000:
                store.record(pricer.price_many(batch))
                batch = []
        if batch:
            store.record(pricer.price_many(batch))
        defined = make_budgets()
        tz = zone("UTC")
        t = time.perf_counter()
        live = LiveBudgets(tz)
        spent_before = ledger_spend(store, defined, now, tz)
        live.load(defined, spent_before, 0, now)
        start_ms = (time.perf_counter() - t) * 1000
        stream = [(e.ts, e.tags, e.agent, e.project) for e in
                  synthetic(args.events, start=now, days=1 / 24, seed=2)]
        cost = USD // 1000

        def proxy_path(look: bool) -> float:
            runs = []
            for _ in range(3):
                live.load(defined, spent_before, 10**18, now)    # each pass from the same spend
                t = time.perf_counter()
                seq = 0
                for n, (ts, tags, agent, project) in enumerate(stream):
                    if look:
                        store.change_token()
                    covering = live.covering(tags, agent, None, project)
                    blocking = live.blocking(covering, ts)
                    token = None
                    if blocking and live.verdict(blocking, cost) is None:
                        token = live.hold(cost, tags, agent, None, project, ts, covering)
                    seq, _ = live.settle(token, cost, tags, agent, None, project, ts)
                    if n % 250 == 249:
                        live.committed(seq)
                live.committed(seq)
                runs.append((time.perf_counter() - t) / len(stream) * 1e6)
            return statistics.median(runs)

        per_call = proxy_path(False)
        per_call_look = proxy_path(True)
        covering = statistics.mean(len(live.covering(tags, agent, None, project))
                                   for _, tags, agent, project in stream[:1000])
        t = time.perf_counter()
        for _ in range(10_000):
            store.change_token()
        look_us = (time.perf_counter() - t) / 10_000 * 1e6
        reader = SpendReader()
        reader.read(store, defined, now, tz)     # the first read learns which dims rows each budget covers
        t = time.perf_counter()
        for _ in range(20):
            live.load(defined, reader.read(store, defined, now, tz), 10**18, now)
        read_ms = (time.perf_counter() - t) / 20 * 1000
        t = time.perf_counter()
        for _ in range(3):
            for b in defined:
                rng, _ = b.period_at(now, tz)
                sum(a.totals.cost for a in store.aggregate(b.filters(rng)))
        per_budget_ms = (time.perf_counter() - t) / 3 * 1000
        quiet, busy, reads = sdk_path(Path(tmp) / "ledger.db", defined, stream[:20_000])
        t = time.perf_counter()
        for ts, tags, agent, project in stream[:args.sample]:
            budgets.check(store, defined, tags=tags, agent=agent, project=project, now=ts, tz=tz)
        baseline = (time.perf_counter() - t) / args.sample * 1e6
        store.close()
    print(f"ledger: {args.ledger_events:,} events; {len(defined)} budgets; {covering:.1f} budgets cover a typical call")
    print(f"start-up (exact spend of every budget from the ledger): {start_ms:.0f} ms")
    print(f"proxy, per call (covering, verdict, hold, settle, acknowledgements): {per_call:.2f} µs "
          f"(median of 3 passes over {len(stream):,} calls)")
    print(f"  the same with PRAGMA data_version on every call: {per_call_look:.2f} µs (target ≤ 20 µs)")
    print(f"  the writer's watch: one look {look_us:.2f} µs; one read of every budget {read_ms:.2f} ms "
          f"(a query per budget, as before: {per_budget_ms:.1f} ms)")
    print(f"SDK enforce=True, the check before a call (the view its thread keeps current): {quiet:.2f} µs with only "
          f"its own sink writing; {busy:.2f} µs with a call recorded by another connection every 10 ms too "
          f"({reads} reads of the ledger)")
    print(f"baseline, budgets.check re-querying the ledger per call: {baseline:,.0f} µs "
          f"({args.sample} calls) -> {baseline / per_call_look:,.0f}x the proxy's check with a look per call")


def sdk_path(db: Path, defined: list[budgets.Budget], stream: list[tuple[Any, ...]]) -> tuple[float, float, int]:
    """Enforcer.check + observe per call (µs), quiet and with another connection recording every 10 ms."""
    from spendtag.capture.sdk.enforce import Enforcer
    from spendtag.usage import Usage, UsageEvent

    other = SQLiteStore(db)
    for b in defined:
        other.save_budget(b.name, b.to_dict())
    from spendtag.capture.sdk.sinks import LedgerSink

    sink = LedgerSink(str(db))           # as instrument() makes it: the calls are recorded, in its thread
    enforcer = Enforcer(sink, db=str(db))
    rounds = [0]

    def run() -> float:
        rounds[0] += 1
        events = [UsageEvent(f"sdk-{rounds[0]}-{i}", ts, "openai", "gpt-4o-mini",
                             Usage(input_tokens=100, output_tokens=10), tags=tags, agent=agent, project=project)
                  for i, (ts, tags, agent, project) in enumerate(stream)]
        spent = 0.0
        clock = time.perf_counter
        for e in events:
            t = clock()
            enforcer.check(e.tags, agent=e.agent, project=e.project)
            spent += clock() - t
            sink.put(e)
            enforcer.observe(e)
        return spent / len(events) * 1e6

    run()                                    # the first read of the ledger, out of the figure
    quiet = statistics.median(run() for _ in range(3))
    stop = threading.Event()
    written = [0]

    def spend() -> None:
        mine, pricer = SQLiteStore(db), Pricer()
        while not stop.wait(0.01):
            e = UsageEvent(f"outside-{written[0]}", datetime.now(UTC), "openai", "gpt-4o-mini",
                           Usage(input_tokens=100), tags={"client": CLIENTS[0]})
            mine.record(pricer.price_many([e]))
            written[0] += 1
        mine.close()

    before = enforcer.reads
    spender = threading.Thread(target=spend)
    spender.start()
    busy_runs = []
    started = time.perf_counter()
    while time.perf_counter() - started < 2.0 or len(busy_runs) < 3:    # two seconds at least
        busy_runs.append(run())
    busy = statistics.median(busy_runs)
    stop.set()
    spender.join()
    other.close()
    sink.close()
    print(f"(SDK, busy: {written[0]} calls recorded by the other connection during the runs)")
    return quiet, busy, enforcer.reads - before


if __name__ == "__main__":
    main()
