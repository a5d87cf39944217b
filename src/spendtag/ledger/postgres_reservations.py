"""Budget reservations on PostgreSQL (see ``reservation_tables.py`` for the contract).

The check and the insert run in one transaction holding an advisory transaction lock per
budget, taken in name order so two calls under the same budgets never deadlock. Under READ
COMMITTED each statement sees what was committed before it began: reservations are read
first, then the ledger, so an event committed in between (whose reservation is deleted only
after) is counted at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spendtag.ledger.reservation_tables import PURGE_AFTER, BudgetCheck, ReserveOutcome, refused
from spendtag.periods import to_us

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from psycopg import Connection

    from spendtag.ledger.query import Aggregate, Filters

_LOCK_SPACE = 0x52657376   # "Resv": the advisory-lock namespace of budget reservations


class PostgresReservations:
    """Mixin for :class:`~spendtag.ledger.postgres.PostgresStore`: needs ``_conn``, ``_transaction()``,
    ``aggregate``."""

    _conn: Connection[Any]

    if TYPE_CHECKING:
        def _transaction(self) -> AbstractContextManager[Connection[Any]]: ...

        def aggregate(self, filters: Filters, by: Sequence[str] = ...,
                      tz: ZoneInfo | None = ...) -> list[Aggregate]: ...

    def reserve(self, hold_id: str, holder: str, amount: int, checks: Sequence[BudgetCheck], now: datetime,
                expires_at: datetime) -> ReserveOutcome:
        with self._transaction() as conn:
            for name in sorted({c.budget for c in checks}):
                conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_SPACE, name))
            for check in checks:
                row = conn.execute(
                    "SELECT COALESCE(SUM(amount), 0) FROM budget_reservations WHERE budget = %s AND period = %s "
                    "AND expires_at > %s", (check.budget, check.period, to_us(now))).fetchone()
                spent = int(row[0] if row else 0) + sum(a.totals.cost for a in self.aggregate(check.filters))
                if refused(check, spent, amount):
                    return ReserveOutcome(False, check.budget, spent)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO budget_reservations (hold_id, budget, period, amount, holder, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (hold_id, budget) DO UPDATE SET "
                    "amount = EXCLUDED.amount, expires_at = EXCLUDED.expires_at",
                    [(hold_id, c.budget, c.period, amount, holder, to_us(expires_at)) for c in checks])
        return ReserveOutcome(True)

    def release_reservations(self, hold_ids: Sequence[str]) -> None:
        if not hold_ids:
            return
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE hold_id = ANY(%s)", (list(hold_ids),))

    def extend_reservations(self, holder: str, expires_at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE expires_at < %s", (to_us(expires_at - PURGE_AFTER),))
            conn.execute("UPDATE budget_reservations SET expires_at = %s WHERE holder = %s AND expires_at < %s",
                         (to_us(expires_at), holder, to_us(expires_at)))

    def reservations(self, now: datetime) -> dict[str, int]:
        return {b: int(a) for b, a in self._conn.execute(
            "SELECT budget, SUM(amount) FROM budget_reservations WHERE expires_at > %s GROUP BY budget",
            (to_us(now),))}
