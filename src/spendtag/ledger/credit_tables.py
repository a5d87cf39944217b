"""Credits in the ledger: money owed back to a client, kept apart from the events.

A credit is not usage, so it is never an event: reports, exports, rollups and budgets sum
events only and never see a credit as negative spend. Invoices read credits from here (see
``spendtag.bill.credits``). The ledger is append-only: a credit is recorded once under
its id (recording the same id again changes nothing) and never edited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us, to_us
from spendtag.tags import canonical

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0010_credits", (
        # amount: pico-USD, more than 0; ts: the start (µs, UTC) of the day it was entered for;
        # day: that day as the user gave it, in their time zone.
        "CREATE TABLE credits (credit_id TEXT PRIMARY KEY, client TEXT NOT NULL, ts BIGINT NOT NULL, "
        "day TEXT NOT NULL, amount BIGINT NOT NULL, note TEXT NOT NULL, tags TEXT NOT NULL, "
        "recorded_at BIGINT NOT NULL)",
        "CREATE INDEX credits_client ON credits (client, ts)",
    )),
)

_COLUMNS = ("credit_id", "client", "ts", "day", "amount", "note", "tags", "recorded_at")


@dataclass(frozen=True, slots=True)
class Credit:
    """Money owed to ``client`` (pico-USD, more than 0) from ``ts`` on, e.g. a refund or goodwill."""

    credit_id: str
    client: str
    ts: datetime
    day: str
    amount: int
    note: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class CreditTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def add_credit(self, credit: Credit) -> bool:
        """Record ``credit``; False (and nothing changes) when its id is already recorded."""
        with self._transaction():
            cursor = self._run(self._insert_new("credits", _COLUMNS, conflict="credit_id"),
                               (credit.credit_id, credit.client, to_us(credit.ts), credit.day, credit.amount,
                                credit.note, canonical(credit.tags), int(time.time() * 1_000_000)))
            return cursor.rowcount > 0

    def credit(self, credit_id: str) -> Credit | None:
        row = self._run(f"SELECT {', '.join(_COLUMNS[:-1])} FROM credits WHERE credit_id = ?", (credit_id,)).fetchone()
        return None if row is None else _credit(row)

    def credits(self, client: str | None = None, *, until: datetime | None = None) -> list[Credit]:
        """Credits (of ``client``; dated before ``until``), oldest first."""
        where: list[str] = []
        args: list[Any] = []
        if client is not None:
            where.append("client = ?")
            args.append(client)
        if until is not None:
            where.append("ts < ?")
            args.append(to_us(until))
        sql = (f"SELECT {', '.join(_COLUMNS[:-1])} FROM credits" + (f" WHERE {' AND '.join(where)}" if where else "")
               + " ORDER BY ts, credit_id")
        return [_credit(row) for row in self._run(sql, args)]


def _credit(row: Any) -> Credit:
    credit_id, client, ts, day, amount, note, tags = row
    return Credit(credit_id, client, from_us(int(ts)), day, int(amount), note, json.loads(tags))
