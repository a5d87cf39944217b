"""Issued invoices in the ledger: kept as the documents they were, never re-rendered.

Numbers are ``PREFIX-YEAR-NNNN`` (or the scheme given), sequential per year of issue across prefixes; the next
number is taken inside the same write transaction that stores the invoice, so two
processes never issue the same number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us

DEFAULT_SCHEME = "{prefix}-{year}-{seq:04d}"

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
    currency: str = "USD"   # of total_due
    due_on: str = ""        # ISO date ('' for invoices issued before due dates existed)
    status: str = "issued"  # the latest mark: issued (none yet), sent, paid or void
    status_by: str = ""
    status_at: datetime | None = None


# Given the new number, the (document JSON, rendered text, total due) to store under it.
Render = Callable[[str], tuple[str, str, str]]


class InvoiceTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def issue_invoice(self, prefix: str, year: int, client: str, period: str, issued_at: str,
                      render: Render, *, scheme: str = DEFAULT_SCHEME, currency: str = "USD",
                      due_on: str = "") -> IssuedInvoice:
        """Take the next number for ``year``, render the invoice with it, and store it, in one transaction."""
        with self._transaction():
            self._lock_table("issued_invoices")
            seq = int(self._one("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued_invoices WHERE year = ?", (year,))[0])
            number = scheme.format(prefix=prefix, year=year, seq=seq)
            document, text, total = render(number)
            self._run("INSERT INTO issued_invoices (number, client, period, issued_at, year, seq, total_due, document, "
                      "rendered_text, created_at, currency, due_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (number, client, period, issued_at, year, seq, total, document, text, int(time.time()),
                       currency, due_on))
        return IssuedInvoice(number, client, period, issued_at, total, document, text, currency, due_on)

    # The latest status mark of each invoice, beside it (see billing_tables.py).
    _WITH_STATUS = ("FROM issued_invoices i LEFT JOIN invoice_status s ON s.id = "
                    "(SELECT MAX(m.id) FROM invoice_status m WHERE m.number = i.number) ")

    def issued_invoice(self, number: str) -> IssuedInvoice | None:
        row = self._run("SELECT i.number, i.client, i.period, i.issued_at, i.total_due, i.document, i.rendered_text, "
                        "i.currency, i.due_on, s.status, s.changed_by, s.changed_at "
                        + self._WITH_STATUS + "WHERE i.number = ?", (number.strip(),)).fetchone()
        return None if row is None else _issued(row)

    def issued_invoices(self, client: str | None = None) -> list[IssuedInvoice]:
        sql = ("SELECT i.number, i.client, i.period, i.issued_at, i.total_due, '', '', i.currency, i.due_on, "
               "s.status, s.changed_by, s.changed_at " + self._WITH_STATUS
               + ("WHERE i.client = ? " if client is not None else "") + "ORDER BY i.year, i.seq")
        return [_issued(r) for r in self._run(sql, (client,) if client is not None else ())]

    def issued_numbers(self, client: str, period: str) -> list[str]:
        return [r[0] for r in self._run(
            "SELECT number FROM issued_invoices WHERE client = ? AND period = ? ORDER BY year, seq", (client, period))]


def _issued(row: tuple[object, ...] | list[object]) -> IssuedInvoice:
    number, client, period, issued_at, total, document, text, currency, due_on, status, by, at = row
    return IssuedInvoice(str(number), str(client), str(period), str(issued_at), str(total), str(document), str(text),
                         str(currency), str(due_on), str(status) if status else "issued", str(by or ""),
                         from_us(int(at)) if at is not None else None)  # type: ignore[call-overload]
