"""Schema migrations: named, add-only, tracked, each in a transaction."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import make_event

from spendtag.ledger.migrations import MIGRATIONS, Migration
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.providers_api.model import USAGE_COUNTS

NAMES = [m.name for m in MIGRATIONS]
TABLES = {"events", "dims", "tagsets", "prices", "rollup_hour", "rollup_day", "rollup_session", "price_overrides",
          "schema_migrations", "budgets", "alerts", "alert_deliveries", "import_files", "retag_log", "cost_revisions",
          "virtual_keys"}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {r[0] for r in rows}


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _recorded(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def test_migration_names_are_unique_ordered_and_numbered() -> None:
    assert NAMES, "at least one migration"
    assert len(set(NAMES)) == len(NAMES)
    assert sorted(NAMES) == NAMES          # applied_migrations() orders by name
    for i, name in enumerate(NAMES, start=1):
        assert name.startswith(f"{i:04d}_")
    assert all(m.statements for m in MIGRATIONS)


def test_migrations_only_add() -> None:
    for m in MIGRATIONS:
        for statement in m.statements:
            verb = " ".join(statement.split()[:2]).upper()
            assert verb.startswith(("CREATE TABLE", "CREATE INDEX", "CREATE UNIQUE", "ALTER TABLE")), statement
            if verb.startswith("ALTER TABLE"):
                assert " ADD " in f" {statement.upper()} ", statement


def test_blank_database_gets_the_whole_schema(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    store = SQLiteStore(path, migrate=False)
    assert store.applied_migrations() == []
    assert store.migrate() == NAMES
    assert store.applied_migrations() == NAMES
    store.close()
    assert _tables(path) >= TABLES
    assert {"event_id", "ts", "cost"} <= set(_columns(path, "events"))
    assert _recorded(path) == NAMES


def test_provider_usage_has_a_column_per_usage_count(tmp_path: Path) -> None:
    # The ledger spells the counts out rather than load the provider row types on every start.
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    assert _columns(path, "provider_usage")[7:-2] == list(USAGE_COUNTS)


def test_opening_migrates_and_reopening_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with SQLiteStore(path) as store:
        assert store.applied_migrations() == NAMES
        store.record([make_event("e1")])
    with sqlite3.connect(path) as conn:
        applied_at = conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    with SQLiteStore(path) as store:
        assert store.migrate() == []
        assert store.applied_migrations() == NAMES
        assert store.count() == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall() == applied_at


def test_migration_times_are_recorded(tmp_path: Path) -> None:
    before = int(time.time())
    SQLiteStore(tmp_path / "t.db").close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        for _name, applied_at in conn.execute("SELECT name, applied_at FROM schema_migrations"):
            assert before <= applied_at <= int(time.time())


@pytest.mark.parametrize("done", range(len(MIGRATIONS)))
def test_old_database_gets_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, done: int) -> None:
    """A ledger made by an older spendtag, which knew only the first ``done`` migrations."""
    path = tmp_path / "old.db"
    with monkeypatch.context() as older:
        older.setattr("spendtag.ledger.sqlite.MIGRATIONS", MIGRATIONS[:done])
        SQLiteStore(path).close()
    assert _recorded(path) == NAMES[:done]
    with SQLiteStore(path, migrate=False) as store:
        assert store.applied_migrations() == NAMES[:done]
        assert store.migrate() == NAMES[done:]
        assert store.applied_migrations() == NAMES
        assert store.record([make_event("e1", cost=7)]).inserted == 1
        assert [a.totals.cost for a in store.aggregate(Filters())] == [7]
    assert _tables(path) >= TABLES
    assert _recorded(path) == NAMES


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Migration("9999_broken", ("CREATE TABLE half_done (a INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr("spendtag.ledger.sqlite.MIGRATIONS", (*MIGRATIONS, broken))
    path = tmp_path / "broken.db"
    store = SQLiteStore(path, migrate=False)
    with pytest.raises(sqlite3.OperationalError):
        store.migrate()
    assert store.applied_migrations() == NAMES       # the earlier ones committed on their own
    store.close()
    assert "half_done" not in _tables(path)          # the broken one rolled back as a whole
    assert _tables(path) >= TABLES
