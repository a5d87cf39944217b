"""Issued invoices, kept as the documents they were: number, client, period, the exact JSON
(every line, the events' ids and the prices used) and the text printed at issue.

The table lives in the ledger's own SQLite file, on a separate connection (WAL, like the
ledger), and is created by the named steps in ``MIGRATIONS``, tracked in
``invoice_migrations``. This table will move into the ledger's named migrations when the
PostgreSQL store lands (the step names stay the same, so a ledger that already has it is
not migrated twice).

Numbers are ``PREFIX-YEAR-NNNN``, sequential per year of issue across prefixes; the next
number is taken inside the same write transaction that stores the invoice, so two
processes never issue the same number.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spendtag.errors import StoreError
from spendtag.ledger.store import Store

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("invoices_0001_issued_invoices", (
        "CREATE TABLE IF NOT EXISTS issued_invoices (number TEXT PRIMARY KEY, client TEXT NOT NULL, "
        "period TEXT NOT NULL, issued_at TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "total_due TEXT NOT NULL, document TEXT NOT NULL, rendered_text TEXT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS issued_invoices_client ON issued_invoices (client, period)",
        "CREATE UNIQUE INDEX IF NOT EXISTS issued_invoices_seq ON issued_invoices (year, seq)",
    )),
)


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    number: str
    client: str
    period: str
    issued_at: str
    total_due: str
    document: str           # the invoice JSON exactly as issued
    rendered_text: str      # the table text exactly as printed at issue


# Given the new number, the (document JSON, rendered text, total due) to store under it.
Render = Callable[[str], tuple[str, str, str]]


class IssuedInvoices:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open issued invoices in {path}: {exc}") from None
        self.migrate()

    @classmethod
    def for_store(cls, store: Store) -> IssuedInvoices:
        path = getattr(store, "path", None)
        if not isinstance(path, Path):
            raise StoreError("issued invoices are kept in a SQLite ledger for now; this ledger has no file path")
        return cls(path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        self._conn.execute("CREATE TABLE IF NOT EXISTS invoice_migrations (name TEXT PRIMARY KEY, applied_at BIGINT)")
        applied = []
        for name, statements in MIGRATIONS:
            with self._transaction() as conn:
                if conn.execute("SELECT 1 FROM invoice_migrations WHERE name = ?", (name,)).fetchone():
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute("INSERT INTO invoice_migrations VALUES (?, ?)", (name, int(time.time())))
            applied.append(name)
        return applied

    def issue(self, prefix: str, year: int, client: str, period: str, issued_at: str, render: Render) -> IssuedInvoice:
        """Take the next number for ``year``, render the invoice with it, and store it, in one transaction."""
        with self._transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued_invoices WHERE year = ?",
                               (year,)).fetchone()[0]
            number = f"{prefix}-{year}-{seq:04d}"
            document, text, total = render(number)
            conn.execute("INSERT INTO issued_invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (number, client, period, issued_at, year, seq, total, document, text, int(time.time())))
        return IssuedInvoice(number, client, period, issued_at, total, document, text)

    def get(self, number: str) -> IssuedInvoice | None:
        row = self._conn.execute("SELECT number, client, period, issued_at, total_due, document, rendered_text "
                                 "FROM issued_invoices WHERE number = ?", (number.strip(),)).fetchone()
        return None if row is None else IssuedInvoice(*row)

    def index(self, client: str | None = None) -> list[IssuedInvoice]:
        sql = ("SELECT number, client, period, issued_at, total_due, '', '' FROM issued_invoices "
               + ("WHERE client = ? " if client is not None else "") + "ORDER BY year, seq")
        return [IssuedInvoice(*r) for r in self._conn.execute(sql, (client,) if client is not None else ())]

    def find(self, client: str, period: str) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT number FROM issued_invoices WHERE client = ? AND period = ? ORDER BY year, seq", (client, period))]

    def close(self) -> None:
        self._conn.close()
