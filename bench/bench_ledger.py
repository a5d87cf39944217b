"""Ledger benchmarks: recording synthetic events into SQLite, and report latency on the result.

    python bench/bench_ledger.py [--events 1000000]

Ingest runs in a child process per case so that its peak memory is its own. Events are
generated, priced and recorded 5,000 at a time (one transaction each, as `spendtag
ingest` does); the time of `Store.record` and of pricing are measured apart (generating
the synthetic events is not counted). Two cases: time-ordered event ids (what spendtag
generates, and what most sources give) and random ids (hashes, e.g. file-line ids).
Baseline in the same run: bare `executemany` of the same number of 10-column rows into
a table with no index, no rollups and no idempotency check (the floor SQLite allows).

Report: `report --by client --period 2026-03` and `--by client,model` through the library
on the time-ordered ledger (median of 5), next to the same grouping computed by SQL
straight from the events table (what a ledger without rollups costs); then the whole
`spendtag report` command, interpreter start-up included, and `spendtag --help` alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, median_ms, synthetic  # noqa: E402

from spendtag.ledger.query import Filters  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.periods import month_range, zone  # noqa: E402
from spendtag.pricing import Pricer  # noqa: E402
from spendtag.report.breakdown import build  # noqa: E402

BATCH = 5_000


def ingest(db: Path, n: int, random_ids: bool) -> dict[str, float]:
    store = SQLiteStore(db)
    pricer = Pricer()
    price_s = record_s = 0.0
    batch = []
    for event in synthetic(n):
        if random_ids:
            event.event_id = hashlib.sha256(event.event_id.encode()).hexdigest()[:32]
        batch.append(event)
        if len(batch) == BATCH:
            t = time.perf_counter()
            priced = pricer.price_many(batch)
            t2 = time.perf_counter()
            store.record(priced)
            t3 = time.perf_counter()
            price_s += t2 - t
            record_s += t3 - t2
            batch = []
    if batch:
        store.record(pricer.price_many(batch))
    store.close()
    return {"price_s": price_s, "record_s": record_s, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not inherit the parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(db: Path, n: int) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE e (event_id TEXT, ts INTEGER, model TEXT, client TEXT, i INTEGER, cr INTEGER, "
                 "cw INTEGER, o INTEGER, cost INTEGER, x INTEGER)")
    rows = [(f"bench-{i:09d}", i, "m", "c", i % 5000, i % 40000, 0, i % 2000, i, 0) for i in range(n)]
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?)", rows[i:i + BATCH])
        conn.execute("COMMIT")
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("DB", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest(Path(args.child[0]), args.events, args.child[1] == "random")))
        return

    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-"))
    n = args.events
    print(f"# bench_ledger · {datetime.now(UTC):%Y-%m-%d} · {machine()}")
    print(f"events: {n:,}, batches of {BATCH:,}")
    floor = baseline(work / "floor.db", n)
    print(f"floor: bare executemany, no index/rollups/idempotency: {floor:,.0f} rows/s")
    for ids in ("time-ordered", "random"):
        db = work / f"{ids}.db"
        out = subprocess.run([sys.executable, __file__, "--events", str(n), "--child", str(db), ids],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"ingest, {ids} ids: Store.record {n / r['record_s']:,.0f} events/s; "
              f"price + record {n / (r['record_s'] + r['price_s']):,.0f} events/s; "
              f"peak RSS {r['peak_mb']:,.0f} MB; record = {n / r['record_s'] / floor:.2f}x the floor")

    store = SQLiteStore(work / "time-ordered.db")
    tz = zone("UTC")
    month = month_range(2026, 3, tz)
    f = Filters(since=month.since, until=month.until)
    lo, hi = (int(t.timestamp() * 1_000_000) for t in (month.since, month.until))  # type: ignore[union-attr]
    conn = sqlite3.connect(work / "time-ordered.db")
    for by, extra in ((["client"], ""), (["client", "model"], ", d.model")):
        ms = median_ms(lambda by=by: build(store, by, f, tz))
        sql = (f"SELECT d.tagset_id{extra}, COUNT(*), SUM(e.cost), SUM(e.input_tokens), SUM(e.cache_read_tokens), "
               f"SUM(e.cache_write_5m_tokens), SUM(e.output_tokens) FROM events e JOIN dims d ON d.id = e.dim_id "
               f"WHERE e.ts >= ? AND e.ts < ? GROUP BY d.tagset_id{extra}")
        raw = median_ms(lambda sql=sql: conn.execute(sql, (lo, hi)).fetchall())
        print(f"report --by {','.join(by)} --period 2026-03: {ms:.1f} ms (median of 5); "
              f"same grouping straight from the events: {raw:.1f} ms ({raw / ms:.0f}x slower)")
    store.close()
    conn.close()
    spendtag = Path(sys.executable).with_name("spendtag")
    for by in ("client", "client,model"):
        cmd = [str(spendtag), "--db", str(work / "time-ordered.db"), "report", "--by", by, "--period", "2026-03",
               "--format", "csv"]
        ms = median_ms(lambda cmd=cmd: subprocess.run(cmd, check=True, capture_output=True))
        print(f"`spendtag report --by {by} --period 2026-03` (whole command, start-up included): {ms:.0f} ms "
              "(median of 5)")
    ms = median_ms(lambda: subprocess.run([str(spendtag), "--help"], check=True, capture_output=True))
    print(f"`spendtag --help` (start-up alone): {ms:.0f} ms (median of 5)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
