"""SQLite ledgers: the page size a new ledger gets, and that an older one keeps its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from spendtag.ledger.sqlite import PAGE_SIZE, SQLiteStore


def test_new_sqlite_ledgers_get_large_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "new.db") as store:
        assert store._conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size=4096")
    old.execute("CREATE TABLE kept (x INTEGER)")
    old.close()
    with SQLiteStore(tmp_path / "old.db") as store:
        assert store._conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert store.count() == 0   # migrated and usable
