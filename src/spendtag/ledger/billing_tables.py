"""Billing details edited from the dashboard, and the status of issued invoices.

Both are append-only logs, like the rest of the ledger: a change is a new row saying who made it
and when, and the latest row wins.

* ``billing_settings``: one row per field saved (scope ``business`` or ``client:NAME``); an empty
  value means "back to the config file" (see ``spendtag.bill.profile``).
* ``invoice_status``: one row per mark (sent, paid, void) of an issued invoice; which marks may
  follow which is decided by ``spendtag.bill.status``, inside the same transaction.

The same migration gives ``issued_invoices`` the invoice's currency and due date, so lists show
the amount with its currency and know when an invoice is overdue without reading its document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us, to_us

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0014_billing_settings", (
        "CREATE TABLE billing_settings (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, "
        "value TEXT NOT NULL, changed_by TEXT NOT NULL, changed_at BIGINT NOT NULL)",
        "CREATE INDEX billing_settings_scope ON billing_settings (scope, name)",
        "CREATE TABLE invoice_status (id INTEGER PRIMARY KEY, number TEXT NOT NULL, status TEXT NOT NULL, "
        "changed_by TEXT NOT NULL, changed_at BIGINT NOT NULL)",
        "CREATE INDEX invoice_status_number ON invoice_status (number)",
        "ALTER TABLE issued_invoices ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD'",
        "ALTER TABLE issued_invoices ADD COLUMN due_on TEXT NOT NULL DEFAULT ''",
    )),
)


@dataclass(frozen=True, slots=True)
class SettingChange:
    scope: str
    name: str
    value: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusMark:
    number: str
    status: str
    by: str
    at: datetime


# Given the invoice's latest mark (None: never marked), raise if the new one may not follow it.
StatusCheck = Callable[[StatusMark | None], None]


class BillingTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def save_billing_settings(self, scope: str, fields: Mapping[str, str], by: str, at: datetime) -> None:
        with self._transaction():
            self._run_many("INSERT INTO billing_settings (scope, name, value, changed_by, changed_at) "
                           "VALUES (?, ?, ?, ?, ?)", [(scope, k, v, by, to_us(at)) for k, v in fields.items()])

    def billing_settings(self) -> dict[str, dict[str, str]]:
        """Each scope's fields as last saved (empty values included: they revert to the config)."""
        out: dict[str, dict[str, str]] = {}
        for scope, name, value in self._run("SELECT scope, name, value FROM billing_settings ORDER BY id"):
            out.setdefault(scope, {})[name] = value
        return out

    def billing_setting_changes(self, scope: str | None = None) -> list[SettingChange]:
        """Every saved change (of ``scope``), oldest first: who changed what, when."""
        sql = ("SELECT scope, name, value, changed_by, changed_at FROM billing_settings"
               + (" WHERE scope = ?" if scope is not None else "") + " ORDER BY id")
        return [SettingChange(s, n, v, b, from_us(int(a)))
                for s, n, v, b, a in self._run(sql, (scope,) if scope is not None else ())]

    def mark_invoice(self, number: str, status: str, by: str, at: datetime, check: StatusCheck) -> StatusMark:
        """Record ``status`` for invoice ``number`` if ``check`` allows it after the latest mark (one at a time)."""
        with self._transaction():
            self._lock_table("invoice_status")
            row = self._run("SELECT number, status, changed_by, changed_at FROM invoice_status WHERE number = ? "
                            "ORDER BY id DESC LIMIT 1", (number,)).fetchone()
            check(None if row is None else StatusMark(row[0], row[1], row[2], from_us(int(row[3]))))
            self._run("INSERT INTO invoice_status (number, status, changed_by, changed_at) VALUES (?, ?, ?, ?)",
                      (number, status, by, to_us(at)))
        return StatusMark(number, status, by, at)

    def invoice_marks(self, number: str) -> list[StatusMark]:
        """Every mark of invoice ``number``, oldest first."""
        return [StatusMark(n, s, b, from_us(int(a))) for n, s, b, a in self._run(
            "SELECT number, status, changed_by, changed_at FROM invoice_status WHERE number = ? ORDER BY id",
            (number,))]
