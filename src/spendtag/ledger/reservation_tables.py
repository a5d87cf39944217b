"""Budget reservations shared through the ledger, so several proxy replicas enforce one budget.

A proxy reserves a call's estimated cost before forwarding it. ``reserve`` checks and
inserts in one transaction under one lock per budget (SQLite's write lock; PostgreSQL's
advisory transaction locks, taken in name order), so concurrent reservations from any
replica see each other: a budget with room for one call admits one, anywhere.

The spend a reservation is checked against is the ledger's recorded spend for the budget's
period plus every live reservation. Reservations are read *before* the ledger, and a
replica deletes a call's reservation only *after* its event is committed, so a call is
never missing from both (at worst it is briefly counted twice, which only refuses sooner).

Reservations expire (``expires_at``): a replica extends its own while it runs, so those of
a replica that died stop counting after the time to live and nothing stays stuck.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import to_us

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from spendtag.ledger.query import Aggregate, Filters

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0009_budget_reservations", (
        "CREATE TABLE budget_reservations (hold_id TEXT NOT NULL, budget TEXT NOT NULL, period TEXT NOT NULL, "
        "amount BIGINT NOT NULL, holder TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (hold_id, budget))",
        "CREATE INDEX budget_reservations_budget ON budget_reservations (budget, period, expires_at)",
        "CREATE INDEX budget_reservations_holder ON budget_reservations (holder)",
    )),
)

PURGE_AFTER = timedelta(hours=1)     # expired rows are deleted this long after they stopped counting


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One blocking budget a call falls under, in its current period."""

    budget: str
    period: str          # the period's label ("2026-03"): reservations count within it only
    filters: Filters     # the events the budget counts in that period
    stop: int            # pico-USD that recorded spend plus reservations may not pass


@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    ok: bool
    budget: str | None = None     # the budget with no room, when refused
    spent: int = 0                # its recorded spend plus live reservations, when refused


def refused(check: BudgetCheck, spent: int, amount: int) -> bool:
    """The proxy's rule: refuse at or past the stop, or when this call's estimate would pass it."""
    return spent >= check.stop or (amount > 0 and spent + amount > check.stop)


class Reservations(Dialect):
    """The check and insert both stores run; each adds how it excludes other reservers.

    Needs ``aggregate``, and of the store: ``_begin_reserve`` (run first in the transaction)
    and ``_RESERVE_SQL`` (the insert of one row, replacing a row with the same key).
    """

    _RESERVE_SQL = ""

    if TYPE_CHECKING:
        def aggregate(self, filters: Filters, by: Sequence[str] = ...,
                      tz: ZoneInfo | None = ...) -> list[Aggregate]: ...

    def _begin_reserve(self, checks: Sequence[BudgetCheck], now: datetime) -> None:
        raise NotImplementedError

    def reserve(self, hold_id: str, holder: str, amount: int, checks: Sequence[BudgetCheck], now: datetime,
                expires_at: datetime) -> ReserveOutcome:
        with self._transaction():
            self._begin_reserve(checks, now)
            for check in checks:
                (held,) = self._one(
                    "SELECT COALESCE(SUM(amount), 0) FROM budget_reservations WHERE budget = ? AND period = ? "
                    "AND expires_at > ?", (check.budget, check.period, to_us(now)))
                spent = int(held) + sum(a.totals.cost for a in self.aggregate(check.filters))
                if refused(check, spent, amount):
                    return ReserveOutcome(False, check.budget, spent)
            self._run_many(self._RESERVE_SQL,
                           [(hold_id, c.budget, c.period, amount, holder, to_us(expires_at)) for c in checks])
        return ReserveOutcome(True)

    def reservations(self, now: datetime) -> dict[str, int]:
        return {b: int(a) for b, a in self._run(
            "SELECT budget, SUM(amount) FROM budget_reservations WHERE expires_at > ? GROUP BY budget",
            (to_us(now),))}


class SQLiteReservations(Reservations):
    """Reservations on the SQLite store: its write transaction (BEGIN IMMEDIATE) is the lock."""

    _RESERVE_SQL = ("INSERT OR REPLACE INTO budget_reservations (hold_id, budget, period, amount, holder, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)")

    def _begin_reserve(self, checks: Sequence[BudgetCheck], now: datetime) -> None:
        self._run("DELETE FROM budget_reservations WHERE expires_at < ?", (to_us(now - PURGE_AFTER),))

    def release_reservations(self, hold_ids: Sequence[str]) -> None:
        if not hold_ids:
            return
        with self._transaction():
            self._run_many("DELETE FROM budget_reservations WHERE hold_id = ?", [(h,) for h in hold_ids])

    def extend_reservations(self, holder: str, expires_at: datetime) -> None:
        with self._transaction():
            self._run("UPDATE budget_reservations SET expires_at = ? WHERE holder = ? AND expires_at < ?",
                      (to_us(expires_at), holder, to_us(expires_at)))
