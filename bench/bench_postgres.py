"""PostgreSQL ledger benchmarks: ingest (COPY-staged Store.record) vs SQLite, and report latency.

    python bench/bench_postgres.py [--events 10000000] [--sqlite-events 1000000] [--pg URL]

Without ``--pg`` (or ``SPENDTAG_BENCH_PG``) a throw-away PostgreSQL cluster is made and
started for the run from the server binaries on the machine (as the test suite does, but
with PostgreSQL's default durability: fsync and synchronous commit on), then removed.

Ingest: the synthetic agency stream (bench/common.py) is priced and recorded 5,000 events
per ``Store.record`` call (one transaction each, as ``spendtag ingest`` does); only the time
inside ``record`` is counted. The same first ``--sqlite-events`` events go into a SQLite
ledger in the same run, and the PostgreSQL rate over those first events is given beside it.
``--events`` of them (spread over 30 days of 2026-03) go into PostgreSQL, through the same
fast path.

Report: ``report --by client --period 2026-03`` and ``--by client,model`` through the
library on the PostgreSQL ledger (median of 5, after one warm-up run), next to the same
grouping computed by SQL straight from the events table (what a ledger without rollups
would cost).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))   # the throw-away cluster helper

from common import machine, median_ms, synthetic  # noqa: E402
from pg import Cluster  # noqa: E402

from spendtag.ledger.postgres import PostgresStore  # noqa: E402
from spendtag.ledger.query import Filters  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.ledger.store import Store  # noqa: E402
from spendtag.periods import month_range, zone  # noqa: E402
from spendtag.pricing import Pricer  # noqa: E402
from spendtag.report.breakdown import build  # noqa: E402
from spendtag.usage import PricedEvent  # noqa: E402

BATCH = 5_000


def priced_batches(n: int) -> Iterator[list[PricedEvent]]:
    pricer = Pricer()
    batch = []
    for event in synthetic(n):
        batch.append(event)
        if len(batch) == BATCH:
            yield pricer.price_many(batch)
            batch = []
    if batch:
        yield pricer.price_many(batch)


def ingest(store: Store, n: int, *, mark: int = 0, label: str = "") -> tuple[float, float]:
    """Record ``n`` events; the seconds inside ``record`` for all and for the first ``mark`` events."""
    spent = at_mark = 0.0
    done = 0
    step = max(n // 10, BATCH)
    next_report = step
    for batch in priced_batches(n):
        t = time.perf_counter()
        store.record(batch)
        spent += time.perf_counter() - t
        done += len(batch)
        if done <= mark:
            at_mark = spent
        if label and done >= next_report:
            print(f"  {label}: {done:,} events, {done / spent:,.0f} events/s so far", file=sys.stderr, flush=True)
            next_report += step
    return spent, at_mark


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000, help="events recorded into PostgreSQL")
    parser.add_argument("--sqlite-events", type=int, default=1_000_000, help="events recorded into SQLite")
    parser.add_argument("--pg", default=os.environ.get("SPENDTAG_BENCH_PG"),
                        help="an empty PostgreSQL database to use (default: a throw-away cluster)")
    args = parser.parse_args()
    n, n_lite = args.events, min(args.sqlite_events, args.events)

    print(f"# bench_postgres · {datetime.now(UTC):%Y-%m-%d} · {machine()} · {os.cpu_count()} CPUs")
    cluster = None
    if args.pg:
        url = args.pg
    else:
        cluster = Cluster.start(durable=True)
        url = cluster.new_database()
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-pg-"))
    try:
        pg = PostgresStore(url)
        server = pg._conn.execute("SHOW server_version").fetchone()
        settings = dict(pg._conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')"
        ).fetchall())
        print(f"PostgreSQL {server[0] if server else '?'} {settings}; events: {n:,} (SQLite: {n_lite:,}), "
              f"batches of {BATCH:,}")

        lite = SQLiteStore(work / "bench.db")
        lite_s, _ = ingest(lite, n_lite, label="sqlite")
        lite.close()
        pg_s, pg_mark = ingest(pg, n, mark=n_lite, label="postgres")
        print(f"ingest SQLite, {n_lite:,} events: Store.record {n_lite / lite_s:,.0f} events/s")
        print(f"ingest PostgreSQL, first {n_lite:,} events: Store.record {n_lite / pg_mark:,.0f} events/s "
              f"({lite_s / pg_mark:.2f}x SQLite)")
        print(f"ingest PostgreSQL, all {n:,} events: Store.record {n / pg_s:,.0f} events/s")
        pg._conn.execute("VACUUM ANALYZE")
        size = pg._conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        print(f"PostgreSQL ledger size: {size[0] if size else '?'}; events: {pg.count():,}")

        tz = zone("UTC")
        month = month_range(2026, 3, tz)
        f = Filters(since=month.since, until=month.until)
        lo, hi = (int(t.timestamp() * 1_000_000) for t in (month.since, month.until))  # type: ignore[union-attr]
        for by, extra in ((["client"], ""), (["client", "model"], ", d.model")):
            ms = median_ms(lambda by=by: build(pg, by, f, tz), warm_up=True)
            sql = (f"SELECT d.tagset_id{extra}, COUNT(*), SUM(e.cost), SUM(e.input_tokens), "
                   f"SUM(e.cache_read_tokens), SUM(e.cache_write_5m_tokens), SUM(e.output_tokens) FROM events e "
                   f"JOIN dims d ON d.id = e.dim_id WHERE e.ts >= %s AND e.ts < %s GROUP BY d.tagset_id{extra}")
            raw = median_ms(lambda sql=sql: pg._conn.execute(sql, (lo, hi)).fetchall(), runs=3, warm_up=True)
            print(f"report --by {','.join(by)} --period 2026-03 on {n:,} events: {ms:.1f} ms (median of 5); "
                  f"same grouping straight from the events: {raw:.0f} ms ({raw / ms:.0f}x slower)")
        pg.close()
    finally:
        if cluster is not None:
            cluster.stop()
        for p in work.glob("*"):
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
