"""Dashboard benchmark: server time of every dashboard page and the API on a 1M-event ledger.

    python bench/bench_dashboard.py [--events 1000000] [--db PATH] [--pages-only]

Builds a ledger of synthetic events over March 2026 (or reuses ``--db`` if it exists),
then times requests through the ASGI app in process (no network: server time only),
median of 7 after one warm-up, for every page of the dashboard (overview, clients, a
client, events, one event, sessions, one session, budgets, alerts, invoices, keys,
recommendations, a client's shared link, sign-in, an error page, the API's docs) and the
main API calls. Baseline in the same run: the same by-client report computed by SQL
straight from the events table (what a dashboard without rollups would pay). To compare with
an earlier version, run this script with that version's ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, median_ms, synthetic  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from spendtag import settings  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.pricing import Pricer  # noqa: E402
from spendtag.server.dashboard.app import create_app  # noqa: E402

PAGES = (
    ("overview page  /?period=2026-03", "/?period=2026-03"),
    ("overview API   /api/v1/overview?period=2026-03", "/api/v1/overview?period=2026-03"),
    ("report API     /api/v1/report?by=client&period=2026-03", "/api/v1/report?by=client&period=2026-03"),
    ("report API     /api/v1/report?by=client,model&period=2026-03", "/api/v1/report?by=client,model&period=2026-03"),
    ("clients page   /tags/client?period=2026-03", "/tags/client?period=2026-03"),
    ("client page    /tags/client/acme?period=2026-03", "/tags/client/acme?period=2026-03"),
    ("events page 1  /events?period=2026-03", "/events?period=2026-03"),
    ("events page 1  /events?period=2026-03&tag=client=acme", "/events?period=2026-03&tag=client%3Dacme"),
    ("events by cost /api/v1/events?period=2026-03&order=-cost", "/api/v1/events?period=2026-03&order=-cost"),
    ("one event      /events/bench-1-000500000", "/events/bench-1-000500000"),
    ("sessions page  /sessions?period=2026-03", "/sessions?period=2026-03"),
    ("sessions page  /sessions?period=2026-03&sort=cost", "/sessions?period=2026-03&sort=cost"),
    ("sessions page  /sessions?period=2026-03&page=100", "/sessions?period=2026-03&page=100"),
    ("one session    /sessions/s1-10000", "/sessions/s1-10000"),
    ("budgets page   /budgets", "/budgets"),
    ("alerts page    /alerts", "/alerts"),
    ("invoices page  /invoices", "/invoices"),
    ("keys page      /keys", "/keys"),
    ("recommendations /recommendations?period=2026-03", "/recommendations?period=2026-03"),
    ("share link     /share/TOKEN?period=2026-03", "/share/{token}?period=2026-03"),
    ("sign-in page   /login", "/login"),
    ("error page     /events/no-such-event", "/events/no-such-event"),
    ("API docs       /api/v1/docs", "/api/v1/docs"),
)


def build(db: Path, n: int) -> None:
    store = SQLiteStore(db)
    pricer = Pricer()
    batch = []
    t = time.perf_counter()
    for event in synthetic(n):
        batch.append(event)
        if len(batch) == 5_000:
            store.record(pricer.price_many(batch))
            batch = []
    if batch:
        store.record(pricer.price_many(batch))
    store.close()
    print(f"built {n:,} events in {time.perf_counter() - t:.0f} s")


def _share_tokens(db: Path) -> list[str]:
    """A client link made by an earlier run (its token is kept next to the ledger: the ledger keeps its hash)."""
    kept = db.parent / "share-token.txt"
    return [kept.read_text().strip()] if kept.exists() else []


def create_token(store: SQLiteStore, name: str, role: str, scope: tuple[str, str]) -> tuple[str, object]:
    from spendtag.server.dashboard.access import create_token as make

    token, record = make(store, name, role, scope)  # type: ignore[arg-type]
    (Path(store.path).parent / "share-token.txt").write_text(token)
    return token, record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Ledger to use (built there if missing).")
    parser.add_argument("--only", default="", help="Time only the requests whose label contains this.")
    args = parser.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="spendtag-bench-")) / "dashboard.db"
    print(f"# bench_dashboard · {datetime.now(UTC):%Y-%m-%d} · {machine()}")
    if not db.exists():
        build(db, args.events)
    os.environ.setdefault("SPENDTAG_CONFIG", str(db.parent / "config.toml"))
    app = create_app(str(db), settings.load({"db": str(db)}))
    client = TestClient(app)
    store = SQLiteStore(db)
    n = store.count()
    token = next((t for t in _share_tokens(db)), None) or create_token(store, "bench-acme", "client",
                                                                       ("client", "acme"))[0]
    store.close()
    print(f"ledger: {n:,} events")
    for label, path in PAGES:
        if args.only not in label:
            continue
        path = path.replace("{token}", token)
        response = client.get(path)
        if response.status_code not in (200, 404) or (response.status_code == 404 and "no-such" not in path):
            print(f"{label}: answered {response.status_code} (not timed)")
            continue
        ms = median_ms(lambda path=path: client.get(path), runs=7, warm_up=True)
        print(f"{label}: {ms:.0f} ms")
    conn = sqlite3.connect(db)
    lo, hi = (int(datetime(2026, m, 1, tzinfo=UTC).timestamp() * 1_000_000) for m in (3, 4))
    raw = median_ms(warm_up=True, runs=7, fn=lambda: conn.execute(
        "SELECT d.tagset_id, COUNT(*), SUM(e.cost), SUM(e.input_tokens), SUM(e.output_tokens) FROM events e "
        "JOIN dims d ON d.id = e.dim_id WHERE e.ts >= ? AND e.ts < ? GROUP BY d.tagset_id", (lo, hi)).fetchall())
    api = median_ms(lambda: client.get("/api/v1/report?by=client&period=2026-03"), runs=7, warm_up=True)
    print(f"baseline: by-client grouping straight from the events table: {raw:.0f} ms "
          f"(the API's report is {raw / api:.1f}x faster)")


if __name__ == "__main__":
    main()
