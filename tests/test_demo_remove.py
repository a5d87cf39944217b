"""Taking an earlier demo out of a ledger (``spendtag db remove-demo``), on SQLite and PostgreSQL.

The ledger is append-only; this is its one deletion, of calls that were never anyone's
usage. After it, every rollup must equal the sums of the events left, exactly.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.cli.main import cli
from spendtag.ledger import location, open_store
from spendtag.ledger.plan import DAY_US, HOUR_US
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.usage import Cost, PricedEvent

T0 = datetime(2026, 3, 14, 10, tzinfo=UTC)
REMOVED_WHAT = "removed the demo's sample calls (source=demo)"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result.output


def rollup_mismatches(store: Store) -> list[str]:
    """Rollup rows that differ from the sums of the events they stand for (none, in a sound ledger)."""
    run_sql = store._run  # type: ignore[attr-defined]
    out = []
    for table, width, session in (("rollup_hour", HOUR_US, ""), ("rollup_day", DAY_US, ""),
                                  ("rollup_session", HOUR_US, "session, ")):
        have = {tuple(r[:-2]): (int(r[-2]), int(r[-1])) for r in run_sql(
            f"SELECT {session}bucket, dim_id, requests, cost FROM {table}")}
        want = {tuple(r[:-2]): (int(r[-2]), int(r[-1])) for r in run_sql(
            f"SELECT {session}(ts / {width}) * {width}, dim_id, COUNT(*), SUM(cost) FROM events "
            f"GROUP BY {session}(ts / {width}) * {width}, dim_id")}
        out.extend(f"{table} {k}: {have.get(k)} != {want.get(k)}" for k in sorted({*have, *want}, key=repr)
                   if have.get(k) != want.get(k))
    return out


def by(store: Store, key: str) -> dict[object, tuple[int, int]]:
    return {a.key[0]: (a.totals.requests, a.totals.cost) for a in store.aggregate(Filters(), [key])}


def test_removes_the_demo_calls_and_only_them(store: Store) -> None:
    real = [make_event(f"r{i}", T0 + timedelta(minutes=20 * i), tags={"client": "acme"}, session="s1",
                       source="proxy", cost=1_000_000 + i) for i in range(6)]
    sample = [make_event(f"demo:7:demo-x:{i}", T0 + timedelta(minutes=15 * i), tags={"client": "acme", "env": "dev"},
                         session="demo-x", source="demo", cost=2_000_000 + i) for i in range(8)]
    sample.append(make_event("demo:7:demo-y:0", T0 + timedelta(days=3), tags={"client": "globex"}, source="demo"))
    # Recorded with source=demo by someone else (not a demo id): it shares the demo's dims row, and stays.
    own = make_event("mine-1", T0 + timedelta(minutes=30), tags={"client": "acme", "env": "dev"}, session="demo-x",
                     source="demo", cost=5_000_000)
    store.record([*real, *sample, own])
    # A repriced demo call and a repriced real call: only the demo's revision may go.
    repriced = [PricedEvent(e.event, Cost({**e.cost.components, "output_tokens": e.cost.components["output_tokens"]
                                           + 7}, e.cost.total + 7, e.cost.price)) for e in (sample[0], real[0])]
    assert store.revise(repriced, "test") == 2
    before = by(store, "day")

    assert store.remove_demo_events(dry_run=True) == 9
    assert by(store, "day") == before and store.count() == 16

    assert store.remove_demo_events() == 9
    assert store.remove_demo_events() == 0          # running it again removes nothing more
    assert store.count() == 7
    assert rollup_mismatches(store) == []
    assert store.get_event("demo:7:demo-x:0") is None and store.get_event("mine-1") is not None
    real_cost = sum(e.cost.total for e in real) + 7
    assert by(store, "day") == {"2026-03-14": (7, real_cost + 5_000_000)}
    assert by(store, "session") == {"s1": (6, real_cost), "demo-x": (1, 5_000_000)}
    assert by(store, "source") == {"proxy": (6, real_cost), "demo": (1, 5_000_000)}
    assert by(store, "tag:client") == {"acme": (7, real_cost + 5_000_000)}      # globex's only calls were the demo's
    assert [s.totals.requests for s in store.sessions(Filters(dims={"session": ("demo-x",)}))] == [1]
    assert [m.requests for m in store.models()] == [7]
    assert store.time_span() == (T0, T0 + timedelta(minutes=100))
    assert len(store.revisions("r0")) == 1
    run_sql = store._run  # type: ignore[attr-defined]
    assert [tuple(r) for r in run_sql("SELECT event_id FROM cost_revisions")] == [("r0",)]
    assert [(w, int(n)) for w, n in run_sql("SELECT what, events FROM retag_log")] == [(REMOVED_WHAT, 9)]


def test_tag_keys_forget_the_demos_tags(store: Store) -> None:
    store.record([make_event("r1", tags={"client": "acme"}),
                  make_event("demo:7:s:0", tags={"client": "acme", "env": "dev"}, source="demo")])
    assert store.tag_keys(Filters()) == ["client", "env"]
    assert store.remove_demo_events() == 1
    assert store.tag_keys(Filters()) == ["client"]    # an export gets no empty tag:env column


def test_a_ledger_without_the_demo_is_left_alone(store: Store) -> None:
    store.record([make_event("r1", source="demo"), make_event("r2")])
    assert store.remove_demo_events() == 0
    assert store.count() == 2
    assert [tuple(r) for r in store._run("SELECT what FROM retag_log")] == []  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 24 * 14), st.integers(0, 3), st.integers(1, 10**9)),
                max_size=40))
def test_rollups_equal_what_is_left(calls: list[tuple[bool, int, int, int]]) -> None:
    """Any mix of demo and real calls over two weeks: afterwards the rollups are the sums of what is left."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "l.db"))
        try:
            events = [make_event(f"{'demo:' if is_demo else 'real:'}{i}", T0 + timedelta(minutes=17 * at),
                                 source="demo" if is_demo or i % 5 == 0 else "proxy", session=f"s{session}",
                                 tags={"client": f"c{session}"}, cost=cost)
                      for i, (is_demo, at, session, cost) in enumerate(calls)]
            store.record(events)
            kept = [e for e in events if not e.event.event_id.startswith("demo:")]
            assert store.remove_demo_events() == len(events) - len(kept)
            assert rollup_mismatches(store) == []
            totals = store.aggregate(Filters())
            assert (totals[0].totals.requests if totals else 0) == len(kept)
            assert (totals[0].totals.cost if totals else 0) == sum(e.cost.total for e in kept)
        finally:
            store.close()


# -- the command --------------------------------------------------------------------------------------

def test_db_remove_demo_cleans_a_ledger_an_earlier_version_loaded_the_demo_into(tmp_path: Path) -> None:
    real = tmp_path / "ledger.db"
    run("--db", str(real), "demo", "--days", "2")                # what earlier versions did by default
    run("--db", str(real), "record", "--provider", "anthropic", "--model", "claude-sonnet-4-5",
        "--usage", '{"input_tokens": 1000, "output_tokens": 100}', "--tag", "client=acme", "--event-id", "a1",
        "--ts", "2026-03-14T10:00:00Z")
    assert run("--db", str(real), "db", "remove-demo", "--dry-run") == (
        f"365 sample calls (source=demo) in {real}; nothing removed (--dry-run)\n")
    assert run("--db", str(real), "db", "remove-demo") == f"removed 365 sample calls (source=demo) from {real}\n"
    again = run("db", "remove-demo", "--db", str(real))
    assert again == f"no sample calls (source=demo) in {real}: nothing to remove\n"
    doc = json.loads(run("--db", str(real), "report", "--format", "json"))
    assert doc["total"]["requests"] == 1 and doc["total"]["cost_usd"] == "0.0045"
    export = run("--db", str(real), "export", "--format", "csv").splitlines()
    assert len(export) == 2 and "tag:env" not in export[0]


def test_db_remove_demo_on_postgresql(pg_url: str) -> None:
    run("--db", pg_url, "demo", "--days", "1")
    out = run("--db", pg_url, "db", "remove-demo")
    assert out == f"removed 197 sample calls (source=demo) from {location(pg_url)}\n"
    store = open_store(pg_url)
    try:
        assert store.count() == 0 and rollup_mismatches(store) == []
    finally:
        store.close()


def test_db_remove_demo_defaults_to_the_users_ledger() -> None:
    own = Path(os.environ["SPENDTAG_DB"])     # the user's ledger (conftest sets SPENDTAG_DB)
    run("--db", str(own), "demo", "--days", "1")
    assert run("db", "remove-demo") == f"removed 197 sample calls (source=demo) from {own}\n"


# -- where a ledger is, as people read it ---------------------------------------------------------

@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:////tmp/a b.db", "/tmp/a b.db"),
    ("sqlite:///tmp/c.db", "/tmp/c.db"),
    ("/tmp/d.db", "/tmp/d.db"),
    ("postgresql://spendtag@db.internal/spendtag", "postgresql://spendtag@db.internal/spendtag"),
    ("postgresql://spendtag:s3cret@db.internal:5432/spendtag", "postgresql://spendtag:***@db.internal:5432/spendtag"),
    ("postgres://db.internal/spendtag?user=u&password=s3cret&sslmode=require",
     "postgres://db.internal/spendtag?user=u&password=***&sslmode=require"),
])
def test_location_is_a_path_or_a_url_without_its_password(url: str, shown: str) -> None:
    assert location(url) == shown


def test_a_relative_path_is_shown_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert location("here.db") == str(tmp_path / "here.db")
    assert location(open_store("sqlite:here2.db").url) == str(tmp_path / "here2.db")
