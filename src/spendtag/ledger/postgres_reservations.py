"""Budget reservations on PostgreSQL (see ``reservation_tables.py`` for the contract).

The check and the insert run in one transaction holding an advisory transaction lock per
budget, taken in name order so two calls under the same budgets never deadlock. Under READ
COMMITTED each statement sees what was committed before it began: reservations are read
first, then the ledger, so an event committed in between (whose reservation is deleted only
after) is counted at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from spendtag.ledger.reservation_tables import PURGE_AFTER, BudgetCheck, Reservations
from spendtag.periods import to_us

_LOCK_SPACE = 0x52657376   # "Resv": the advisory-lock namespace of budget reservations


class PostgresReservations(Reservations):
    """Reservations on :class:`~spendtag.ledger.postgres.PostgresStore`: advisory locks per budget."""

    _RESERVE_SQL = ("INSERT INTO budget_reservations (hold_id, budget, period, amount, holder, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hold_id, budget) DO UPDATE SET "
                    "amount = EXCLUDED.amount, expires_at = EXCLUDED.expires_at")

    def _begin_reserve(self, checks: Sequence[BudgetCheck], now: datetime) -> None:
        for name in sorted({c.budget for c in checks}):
            self._run("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_LOCK_SPACE, name))

    def release_reservations(self, hold_ids: Sequence[str]) -> None:
        if not hold_ids:
            return
        with self._transaction():
            self._run("DELETE FROM budget_reservations WHERE hold_id = ANY(?)", (list(hold_ids),))

    def extend_reservations(self, holder: str, expires_at: datetime) -> None:
        with self._transaction():
            self._run("DELETE FROM budget_reservations WHERE expires_at < ?", (to_us(expires_at - PURGE_AFTER),))
            self._run("UPDATE budget_reservations SET expires_at = ? WHERE holder = ? AND expires_at < ?",
                      (to_us(expires_at), holder, to_us(expires_at)))
