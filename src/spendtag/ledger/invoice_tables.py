"""Issued invoices in the ledger: kept as the documents they were, never re-rendered.

Numbers are ``PREFIX-YEAR-NNNN``, sequential per year of issue across prefixes; the next
number is taken inside the same write transaction that stores the invoice, so two
processes never issue the same number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0007_issued_invoices", (
        "CREATE TABLE issued_invoices (number TEXT PRIMARY KEY, client TEXT NOT NULL, "
        "period TEXT NOT NULL, issued_at TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "total_due TEXT NOT NULL, document TEXT NOT NULL, rendered_text TEXT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE INDEX issued_invoices_client ON issued_invoices (client, period)",
        "CREATE UNIQUE INDEX issued_invoices_seq ON issued_invoices (year, seq)",
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


class InvoiceTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def issue_invoice(self, prefix: str, year: int, client: str, period: str, issued_at: str,
                      render: Render) -> IssuedInvoice:
        """Take the next number for ``year``, render the invoice with it, and store it, in one transaction."""
        with self._transaction():
            self._lock_table("issued_invoices")
            seq = int(self._one("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued_invoices WHERE year = ?", (year,))[0])
            number = f"{prefix}-{year}-{seq:04d}"
            document, text, total = render(number)
            self._run("INSERT INTO issued_invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (number, client, period, issued_at, year, seq, total, document, text, int(time.time())))
        return IssuedInvoice(number, client, period, issued_at, total, document, text)

    def issued_invoice(self, number: str) -> IssuedInvoice | None:
        row = self._run("SELECT number, client, period, issued_at, total_due, document, rendered_text "
                        "FROM issued_invoices WHERE number = ?", (number.strip(),)).fetchone()
        return None if row is None else IssuedInvoice(*row)

    def issued_invoices(self, client: str | None = None) -> list[IssuedInvoice]:
        sql = ("SELECT number, client, period, issued_at, total_due, '', '' FROM issued_invoices "
               + ("WHERE client = ? " if client is not None else "") + "ORDER BY year, seq")
        return [IssuedInvoice(*r) for r in self._run(sql, (client,) if client is not None else ())]

    def issued_numbers(self, client: str, period: str) -> list[str]:
        return [r[0] for r in self._run(
            "SELECT number FROM issued_invoices WHERE client = ? AND period = ? ORDER BY year, seq", (client, period))]
