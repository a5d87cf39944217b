"""Budget evaluation per event in the hot path (target ≤ 50 µs per event), vs re-querying the ledger.

    python bench/bench_budgets.py [--ledger-events 200000] [--events 200000]

A ledger of synthetic agency traffic (bench/common.py) and 24 budgets: one global, a
monthly one per client (with notify and blocking stop thresholds), a daily one per agent,
and a weekly one per env. Then, for a stream of new calls, what an enforcement point does
per call: ``refusal`` (is a blocking stop reached?) before the call and ``observe`` (add its
cost, report thresholds crossed) after it, on a ``BudgetTracker`` that keeps running sums.
Baseline in the same run: ``budgets.check``, which recomputes each covering budget's spend
from the ledger (exact, but queries per call), on a sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import AGENTS, CLIENTS, machine, synthetic  # noqa: E402

from spendtag.guard import budgets  # noqa: E402
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
        tracker = budgets.BudgetTracker(store, defined, tz, now=now)
        start_ms = (time.perf_counter() - t) * 1000
        stream = [(e.ts, e.tags, e.agent, e.project) for e in
                  synthetic(args.events, start=now, days=1 / 24, seed=2)]
        cost = USD // 1000
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for ts, tags, agent, project in stream:
                tracker.refusal(tags, agent=agent, project=project, now=ts, reserve=cost)
                tracker.observe(ts, cost, tags, agent=agent, project=project)
            runs.append((time.perf_counter() - t) / len(stream) * 1e6)
        per_event = statistics.median(runs)
        covering = statistics.mean(len(tracker._covers(tags, agent, None, project))  # noqa: SLF001
                                   for _, tags, agent, project in stream[:1000])
        t = time.perf_counter()
        for ts, tags, agent, project in stream[:args.sample]:
            budgets.check(store, defined, tags=tags, agent=agent, project=project, now=ts, tz=tz)
        baseline = (time.perf_counter() - t) / args.sample * 1e6
        store.close()
    print(f"ledger: {args.ledger_events:,} events; {len(defined)} budgets; {covering:.1f} budgets cover a typical call")
    print(f"tracker start-up (exact spend of every budget from the ledger): {start_ms:.0f} ms")
    print(f"per call, refusal + observe on running sums: {per_event:.2f} µs (median of 3 passes over "
          f"{len(stream):,} calls; target ≤ 50 µs)")
    print(f"baseline, budgets.check re-querying the ledger per call: {baseline:,.0f} µs "
          f"({args.sample} calls) -> tracker {baseline / per_event:,.0f}x faster")


if __name__ == "__main__":
    main()
