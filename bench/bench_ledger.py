"""Ledger benchmarks: ingest of synthetic events into SQLite, and report latency on the result.

    python bench/bench_ledger.py [--events 1000000] [--keep DIR]

Ingest: events are generated and priced first (pricing has its own benchmark), then
recorded through ``Store.record`` in batches of 5,000 (one transaction each, as
``spendtag ingest`` does). Reported: events/s of the recording, and the process's peak
resident memory. Baseline in the same run: plain ``executemany`` of the same rows into a
table without indexes, rollups or idempotency checks (the floor SQLite allows).

Report: ``report --by client --this-month`` and ``--by client,model`` through the library
on the ledger just built (the month the events fill), timed as the median of 5 runs,
next to the same query run straight on the events table (what a ledger without rollups
would cost).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, synthetic  # noqa: E402

from spendtag.ledger.query import Filters  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.periods import month_range, zone  # noqa: E402
from spendtag.pricing import Pricer  # noqa: E402
from spendtag.reports import build  # noqa: E402


def median_time(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", help="Directory to keep the ledger in (default: a temporary one).")
    args = parser.parse_args()
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="spendtag-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)

    print(f"machine: {machine()}")
    print(f"events: {args.events:,}")
    pricer = Pricer()
    t = time.perf_counter()
    priced = pricer.price_many(synthetic(args.events))
    print(f"generate + price: {time.perf_counter() - t:.2f} s")

    store = SQLiteStore(db)
    t = time.perf_counter()
    for i in range(0, len(priced), 5_000):
        store.record(priced[i:i + 5_000])
    ingest_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ingest (Store.record, 5k batches): {ingest_s:.2f} s = {args.events / ingest_s:,.0f} events/s")
    print(f"peak RSS of the whole process (events held in memory too): {peak_mb:,.0f} MB")

    base = sqlite3.connect(workdir / "baseline.db", isolation_level=None)
    base.execute("PRAGMA journal_mode=WAL")
    base.execute("CREATE TABLE e (event_id TEXT, ts INTEGER, provider TEXT, model TEXT, client TEXT, "
                 "i INTEGER, cr INTEGER, cw INTEGER, o INTEGER, cost INTEGER)")
    rows = [(p.event.event_id, int(p.event.ts.timestamp() * 1e6), p.event.provider, p.event.model,
             p.event.tags.get("client"), p.event.usage.input_tokens, p.event.usage.cache_read_tokens,
             p.event.usage.cache_write_5m_tokens, p.event.usage.output_tokens, p.cost.total) for p in priced]
    t = time.perf_counter()
    for i in range(0, len(rows), 5_000):
        base.execute("BEGIN")
        base.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?)", rows[i:i + 5_000])
        base.execute("COMMIT")
    base_s = time.perf_counter() - t
    print(f"baseline (bare executemany, no index/rollup/idempotency): {args.events / base_s:,.0f} events/s "
          f"-> spendtag at {base_s / ingest_s:.2f}x of the floor")
    del priced, rows

    tz = zone("UTC")
    month = month_range(2026, 3, tz)
    f = Filters(since=month.since, until=month.until)
    store.close()
    store = SQLiteStore(db)
    for by in (["client"], ["client", "model"]):
        secs = median_time(lambda by=by: build(store, by, f, tz))
        raw_sql = ("SELECT client, SUM(cost), COUNT(*), SUM(i), SUM(cr), SUM(cw), SUM(o) FROM e "
                   "WHERE ts >= ? AND ts < ? GROUP BY client" + (", model" if len(by) > 1 else ""))
        lo, hi = int(month.since.timestamp() * 1e6), int(month.until.timestamp() * 1e6)  # type: ignore[union-attr]
        raw = median_time(lambda sql=raw_sql, lo=lo, hi=hi: base.execute(sql, (lo, hi)).fetchall())
        print(f"report --by {','.join(by)} --period 2026-03 ({args.events:,} events): {secs * 1000:.1f} ms "
              f"(median of 5); plain GROUP BY on the events: {raw * 1000:.1f} ms -> {raw / secs:.1f}x faster")
    print(f"date: {datetime.now(UTC):%Y-%m-%d}")
    store.close()
    if not args.keep:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
