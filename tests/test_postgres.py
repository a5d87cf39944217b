"""PostgreSQL beyond the Store contract: migrations, concurrent writers, copying ledgers, the CLI on it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import Cluster

from spendtag.errors import StoreError
from spendtag.ledger import migrate, open_store
from spendtag.ledger.copy import COPIED_TABLES, NOT_COPIED, compare, copy_ledger
from spendtag.ledger.migrations import MIGRATIONS
from spendtag.ledger.postgres import PostgresStore
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.ledger.store import AlertRecord, Delivery, ImportState, Store, VirtualKey
from spendtag.pricing import PriceOverride
from spendtag.providers_api.model import CostRow, Fetched, UsageRow
from spendtag.usage import Cost, PricedEvent, PriceRef

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(n) on n threads released at once; their results in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:   # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _tables(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


# -- migrations -------------------------------------------------------------------------------------

def test_migrations_on_a_blank_database_then_again(pg_cluster: Cluster, tmp_path: Path) -> None:
    url = pg_cluster.new_database(migrated=False)
    assert migrate(url) == [m.name for m in MIGRATIONS]
    assert migrate(url) == []
    with psycopg.connect(url) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert applied == sorted(m.name for m in MIGRATIONS)
    # The same tables and columns as SQLite gets from the same migrations.
    lite = sqlite3.connect(tmp_path / "ref.db")
    SQLiteStore(tmp_path / "ref.db").close()
    expected = {t: [c[1] for c in lite.execute(f"PRAGMA table_info({t})")] for (t,) in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert _tables(url) == expected
    pg_cluster.drop(url)


def test_two_processes_migrating_at_once_apply_each_migration_once(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database(migrated=False)
    applied = _together(3, lambda i: migrate(url))
    assert sorted(name for names in applied for name in names) == sorted(m.name for m in MIGRATIONS)
    pg_cluster.drop(url)


def test_money_beyond_32_bits_round_trips_as_ints(pg_url: str) -> None:
    with PostgresStore(pg_url) as store:
        big = 9_000_000_000_000_000_000 // 4          # $2.25M in pico-USD, per event
        store.record([make_event(f"e{i}", T0 + timedelta(minutes=i), cost=big) for i in range(4)])
        (total,) = store.aggregate(Filters())
        assert total.totals.cost == 4 * big and type(total.totals.cost) is int   # past BIGINT: summed as NUMERIC
        assert store.count() == 4


# -- concurrent writers ------------------------------------------------------------------------------

def test_two_connections_recording_the_same_events_store_each_once(pg_url: str) -> None:
    events = [make_event(f"e{i:04d}", T0 + timedelta(seconds=37 * i), cost=1_000 + i,
                         tags={"client": ("acme", "globex")[i % 2]}, session=f"s{i % 7}") for i in range(1200)]
    stores = [PostgresStore(pg_url) for _ in range(2)]
    try:
        def work(i: int) -> tuple[int, int]:
            ordered = events if i == 0 else events[::-1]
            inserted = duplicates = 0
            for start in range(0, len(ordered), 150):
                r = stores[i].record(ordered[start:start + 150])
                inserted, duplicates = inserted + r.inserted, duplicates + r.duplicates
            return inserted, duplicates

        results = _together(2, work)
        assert sum(r[0] for r in results) == len(events)
        assert sum(r[1] for r in results) == len(events)
        check = stores[0]
        assert check.count() == len(events)
        by_client = {a.key[0]: a.totals.cost for a in check.aggregate(Filters(), ["tag:client"])}
        assert by_client == {"acme": sum(1_000 + i for i in range(0, 1200, 2)),
                             "globex": sum(1_000 + i for i in range(1, 1200, 2))}
        sessions = {s.session: s.totals.requests for s in check.sessions(Filters())}
        assert sessions == {f"s{k}": len(range(k, 1200, 7)) for k in range(7)}
    finally:
        for s in stores:
            s.close()


def test_concurrent_invoices_take_every_number_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    try:
        def work(i: int) -> list[str]:
            return [stores[i].issue_invoice("INV", 2026, f"c{i}", "2026-03", "2026-04-01",
                                            lambda n: ("{}", n, "1.00")).number for _ in range(5)]

        numbers = [n for batch in _together(4, work) for n in batch]
        assert sorted(numbers) == [f"INV-2026-{k:04d}" for k in range(1, 21)]
        assert [i.number for i in stores[0].issued_invoices()] == sorted(numbers)
    finally:
        for s in stores:
            s.close()


def test_concurrent_keys_with_one_name_one_wins(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(3)]
    try:
        def work(i: int) -> bool:
            try:
                stores[i].add_key(VirtualKey(f"vk_{i}", "acme", f"hash{i}", "sk-st", {"client": "acme"},
                                             created_at=T0))
            except StoreError as exc:
                assert "an active key named 'acme' exists" in str(exc)
                return False
            return True

        assert sorted(_together(3, work)) == [False, False, True]
        assert [k.name for k in stores[0].keys(include_revoked=True)] == ["acme"]
    finally:
        for s in stores:
            s.close()


def test_holds_from_replicas_at_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    try:
        def work(i: int) -> None:
            for round_ in range(20):
                stores[i].save_holds(f"proxy-{i % 2}", {"acme": 100 * (round_ + 1), "globex": round_ % 2},
                                     T0 + timedelta(seconds=round_))

        _together(4, work)
        # Each holder's rows are one save's: 2000 each for acme, globex's last was 1.
        assert stores[0].holds(T0) == {"acme": 4000, "globex": 2}
        assert stores[0].holds(T0, exclude="proxy-0") == {"acme": 2000, "globex": 1}
        stores[0].save_holds("proxy-0", {}, T0)
        assert stores[0].holds(T0) == {"acme": 2000, "globex": 1}
    finally:
        for s in stores:
            s.close()


def test_alert_fires_once_across_writers(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    try:
        alert = AlertRecord("acme:2026-03:80%", "threshold", "acme", "2026-03", "80%", 80, 100, T0)
        assert sorted(_together(4, lambda i: stores[i].add_alert(alert))) == [False, False, False, True]
    finally:
        for s in stores:
            s.close()


# -- copying a ledger -------------------------------------------------------------------------------

def _fill(store: Store) -> None:
    """Something in every table the copy moves."""
    price = PriceRef("anthropic", "claude-sonnet-4-5", {"input_tokens": "0.000003"}, "2026-03-01", "genai-prices")
    store.record([make_event("r1", T0, cost=5_000, tags={"client": "acme"}, session="s1")])
    store.revise([PricedEvent(make_event("r1", T0).event, Cost({"input_tokens": 4_000}, 4_000, price))], "reprice")
    store.save_budget("acme", {"limit": "300", "period": "monthly", "scope": ["client=acme"]})
    store.add_alert(AlertRecord("acme:2026-03:80%", "threshold", "acme", "2026-03", "80%", 240, 300, T0,
                                {"spent_usd": "240.00"}))
    store.add_delivery(Delivery("acme:2026-03:80%", "webhook", True, 1, None, T0))
    store.add_delivery(Delivery("acme:2026-03:80%", "webhook", True, 1, None, T0))    # the same twice: both kept
    store.save_import_state(ImportState("/logs/a.jsonl", "claude-code", 10, 20, 30, "abc", {"k": "v"}))
    store.add_key(VirtualKey("vk_1", "acme", "hash1", "sk-st-ab", {"client": "acme"}, "acme", T0))
    store.add_key(VirtualKey("vk_0", "old", "hash0", "sk-st-cd", {}, None, T0, T0 + timedelta(days=1)))
    oid = store.add_price_override(PriceOverride(id=0, model="local-llm", rates={"input_tokens": Decimal("0")},
                                                 note="ours"))
    store.add_price_override(PriceOverride(id=0, model="gpt-4o", multiplier=Decimal("0.9")))
    store.remove_price_override(oid)
    store.issue_invoice("INV", 2026, "acme", "2026-03", "2026-04-01", lambda n: (f'{{"n": "{n}"}}', n, "12.00"),
                        currency="EUR", due_on="2026-04-15")
    store.save_billing_settings("client:acme", {"currency": "EUR", "po_number": "PO-1"}, "ana", T0)
    store.mark_invoice("INV-2026-0001", "sent", "ana", T0, lambda last: None)
    store.retag(Filters(), lambda d, t: {**t, "env": "prod"} if t else None, "tag env=prod")
    day = date(2026, 3, 1)
    store.save_provider_pull(  # type: ignore[attr-defined]
        "anthropic", day, day + timedelta(days=1),
        Fetched("usage", [UsageRow("anthropic", day, "claude-sonnet-4-5", input_tokens=7)], [day], [], 1), T0)
    store.save_provider_pull(  # type: ignore[attr-defined]
        "anthropic", day, day + timedelta(days=2),
        Fetched("cost", [CostRow("anthropic", day, 21_000_000, model="claude-sonnet-4-5")], [day],
                [day + timedelta(days=1)], 1, "HTTP 500"), T0)


def _snapshot(store: Store) -> dict[str, Any]:
    """Everything a user can read back through the Store protocol (ids aside)."""
    events = list(store.events(Filters()))
    return {
        "events": events,
        "revisions": {e.event.event_id: store.revisions(e.event.event_id) for e in events},
        "budgets": store.budgets(),
        "alerts": store.alerts(),
        "deliveries": store.deliveries("acme:2026-03:80%"),
        "imports": store.import_state("/logs/a.jsonl"),
        "keys": store.keys(include_revoked=True),
        "overrides": [(o.model, o.rates, o.multiplier, o.note) for o in store.price_overrides()],
        "invoices": [store.issued_invoice(i.number) for i in store.issued_invoices()],
        "billing_settings": (store.billing_settings(), store.billing_setting_changes()),
        "marks": store.invoice_marks("INV-2026-0001"),
        "usage": store.provider_usage("anthropic"),  # type: ignore[attr-defined]
        "costs": store.provider_costs("anthropic"),  # type: ignore[attr-defined]
        "days": store.provider_days("anthropic"),  # type: ignore[attr-defined]
        "pulls": store.provider_pulls(),  # type: ignore[attr-defined]
        "by_client": sorted((a.key, a.totals.values) for a in store.aggregate(Filters(), ["tag:client", "day"])),
        "sessions": [(s.session, s.totals.values) for s in store.sessions(Filters())],
    }


def test_copy_moves_every_table_there_and_back(pg_url: str, tmp_path: Path) -> None:
    lite = open_store(str(tmp_path / "a.db"))
    _fill(lite)
    pg = open_store(pg_url)
    first = copy_ledger(lite, pg)
    assert first.ok, first.differences
    assert first.inserted == 1 and first.rows["alert_deliveries"] == 2 and first.rows["cost_revisions"] == 1
    assert _snapshot(pg) == _snapshot(lite)
    again = copy_ledger(lite, pg)                      # re-run: nothing new
    assert again.ok and again.inserted == 0 and sum(again.rows.values()) == 0
    back = open_store(str(tmp_path / "b.db"))
    assert copy_ledger(pg, back).ok
    assert _snapshot(back) == _snapshot(lite)
    # The copied ledgers go on numbering and keying where the source left off.
    assert pg.issue_invoice("INV", 2026, "acme", "2026-04", "2026-05-01", lambda n: ("{}", n, "1")).number == (
        "INV-2026-0002")
    assert pg.add_price_override(PriceOverride(id=0, model="m", multiplier=Decimal(1))) == 3
    for s in (lite, pg, back):
        s.close()


def test_the_copy_knows_every_table(pg_url: str) -> None:
    """A new migration's table must be copied (or listed as not copied) before it ships."""
    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert tables == NOT_COPIED | {t for t, _ in COPIED_TABLES}


def test_compare_names_what_differs(pg_url: str, tmp_path: Path) -> None:
    lite = open_store(str(tmp_path / "a.db"))
    pg = open_store(pg_url)
    lite.record([make_event("a", T0, cost=10), make_event("b", T0, cost=20)])
    pg.record([make_event("a", T0, cost=10)])
    pg.save_budget("x", {"limit": "1"})
    diffs = compare(lite, pg)
    assert diffs[:3] == ["events (count, cost): (2, 30) in the source, (1, 10) in the target",
                         "requests: 2 in the source, 1 in the target",
                         "total requests: 2 in the source, 1 in the target"]
    assert "total cost: 30 in the source, 10 in the target" in diffs
    assert diffs[-1] == "budgets: 0 rows in the source, 1 in the target"
    assert not any(d.startswith(("alerts", "virtual_keys")) for d in diffs)
    lite.close()
    pg.close()


# Up to $100,000 an event: 40 of them still sum inside SQLite's 64-bit integers (its limit, not the copy's).
_events = st.lists(
    st.builds(
        lambda i, minutes, cost, client, priced: make_event(
            f"h{i}", T0 + timedelta(minutes=minutes), cost=cost, priced=priced,
            tags={"client": client} if client else {}, session=f"s{minutes % 5}"),
        st.integers(0, 10_000), st.integers(0, 60 * 24 * 62), st.integers(0, 10**17),
        st.sampled_from(["", "acme", "b"]),
        st.booleans()),
    max_size=40)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=_events)
def test_round_trip_sqlite_postgres_sqlite_keeps_exact_totals(pg_cluster: Cluster, tmp_path_factory: Any,
                                                             events: list[PricedEvent]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    lite = SQLiteStore(tmp / "a.db")
    lite.record(events)
    url = pg_cluster.new_database()
    pg = PostgresStore(url)
    back = SQLiteStore(tmp / "b.db")
    try:
        assert copy_ledger(lite, pg).ok
        assert copy_ledger(pg, back).ok
        want = {e.event.event_id: e for e in events[::-1]}       # the first copy of an id wins
        for store in (lite, pg, back):
            got = {e.event.event_id: e.cost.total for e in store.events(Filters())}
            assert got == {k: v.cost.total for k, v in want.items()}
            assert sum(a.totals.cost for a in store.aggregate(Filters(), ["tag:client"])) == sum(got.values())
    finally:
        for s in (lite, back):
            s.close()
        pg.close()
        pg_cluster.drop(url)


# -- the command line on PostgreSQL -----------------------------------------------------------------

@pytest.fixture
def pg_cli(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    from spendtag.cli.main import cli

    monkeypatch.setenv("SPENDTAG_DB", pg_url)

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "160"})
        assert result.exit_code == code, result.output
        return result.output

    yield run


def test_cli_record_report_and_budget_on_postgres(pg_cli: Callable[..., str], pg_url: str) -> None:
    usage = '{"input_tokens": 1000, "output_tokens": 100}'          # $0.003 + $0.0015 on Sonnet 4.5
    for i, client in enumerate(["acme", "acme", "globex"]):
        pg_cli("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", usage,
               "--tag", f"client={client}", "--event-id", f"a{i}", "--ts", f"2026-03-1{i}T10:00:00Z")
    data = json.loads(pg_cli("report", "--by", "client", "--period", "2026-03", "--format", "json"))
    assert {r["client"]: r["cost_usd"] for r in data["rows"]} == {"acme": "0.009", "globex": "0.0045",
                                                                  None: "0.00"}
    assert pg_cli("budget", "set", "acme", "--scope", "client=acme", "--monthly", "300") == (
        "budget acme: client=acme, $300.00 monthly, alerts at 100% (default)\n")
    assert [b["name"] for b in json.loads(pg_cli("budget", "list", "--format", "json"))] == ["acme"]
    with psycopg.connect(pg_url) as conn:      # it really is in PostgreSQL
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (3,)


def test_cli_db_migrate_and_copy(pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spendtag.cli.main import cli

    url = pg_cluster.new_database(migrated=False)
    runner = CliRunner()
    out = runner.invoke(cli, ["db", "migrate", "--db", url]).output
    assert out.splitlines() == [f"applied {m.name}" for m in MIGRATIONS]
    assert runner.invoke(cli, ["--db", url, "db", "migrate"]).output == "up to date: no migration to apply\n"
    lite = SQLiteStore(tmp_path / "a.db")
    lite.record([make_event(f"e{i}", T0 + timedelta(hours=i), cost=10**12 + i) for i in range(30)])
    lite.close()
    result = runner.invoke(cli, ["db", "copy", "--from", str(tmp_path / "a.db"), "--to", url])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["copied 30 new events (30 in the source), 0 other rows",
                                          "verified: event counts, totals and table rows match"]
    # A target that holds something else: the copy says what differs and exits 1.
    with PostgresStore(url) as pg:
        pg.record([make_event("stray", T0, cost=5)])
    result = runner.invoke(cli, ["db", "copy", "--from", str(tmp_path / "a.db"), "--to", url])
    assert result.exit_code == 1
    assert "differs: events (count, cost): (30, 30000000000435) in the source, (31, 30000000000440)" in result.output
    pg_cluster.drop(url)


def test_a_bad_postgres_url_is_one_line() -> None:
    from spendtag.cli.main import cli

    result = CliRunner().invoke(cli, ["--db", "postgresql://nobody@127.0.0.1:1/none", "report"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot open the PostgreSQL ledger: ") and result.output.count("\n") == 1


def test_without_the_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)             # as if psycopg were not installed
    monkeypatch.delitem(sys.modules, "spendtag.ledger.postgres")
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://localhost/spendtag")
    assert str(caught.value) == "PostgreSQL ledgers need the postgres extra: pip install 'spendtag[postgres]'"


def test_batches_with_and_without_known_ids_are_counted_exactly(pg_url: str) -> None:
    """New batches go straight to COPY; one that meets a recorded id is rolled back and looked up."""
    store = PostgresStore(pg_url)
    t0 = datetime(2026, 3, 14, tzinfo=UTC)
    first = [make_event(f"e{i}", t0 + timedelta(minutes=i), cost=10, tags={"client": f"c{i % 3}"}) for i in range(50)]
    assert store.record(first).inserted == 50
    mixed = first[40:] + [make_event(f"n{i}", t0 + timedelta(hours=2, minutes=i), cost=7) for i in range(30)]
    result = store.record(mixed)
    assert (result.inserted, result.duplicates) == (30, 10)
    fresh = [make_event(f"f{i}", t0 + timedelta(hours=3, minutes=i), cost=1) for i in range(20)]
    assert (store.record(fresh).inserted, store.record(fresh).duplicates) == (20, 20)
    assert store.count() == 100
    assert sum(a.totals.cost for a in store.aggregate(Filters())) == 50 * 10 + 30 * 7 + 20
    # events keep no foreign keys on PostgreSQL (a per-row trigger): every reference holds anyway
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'events'::regclass "
                            "AND contype = 'f'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM events e LEFT JOIN dims d ON d.id = e.dim_id "
                            "LEFT JOIN prices p ON p.id = e.price_id WHERE d.id IS NULL "
                            "OR (e.price_id IS NOT NULL AND p.id IS NULL)").fetchone() == (0,)
    store.close()
