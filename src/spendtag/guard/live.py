"""Budgets as the ledger holds them now, for a guard that sees every call it lets through (the proxy).

Per budget and its current period the guard keeps three sums:

* **ledger**: the spend the ledger held when it was last read, plus this process's calls
  committed since (moved over by :meth:`LiveBudgets.committed`);
* **pending**: this process's settled calls that the ledger does not hold yet (the writer
  commits in batches: their cost is known, a read of the ledger would miss it);
* **held**: reservations of calls in flight, an estimate each, replaced by the actual cost
  when the call settles.

A call is refused when ledger + pending + held (+ what other processes have reserved) plus
its own estimate passes the stop threshold, and the refusal says why: the budget is **spent**;
**this call's estimate does not fit** (it would not, even with no call in flight); or the room
it needs is **reserved by calls in flight** (retry when they finish).

Reading the ledger again (:meth:`LiveBudgets.load`, with budgets made, changed or deleted
by any process and the spend any process recorded) replaces the budgets and the ledger sums
in one step, and drops exactly the pending calls that read already includes (those up to
the writer's last committed sequence number). Reservations and pending calls are kept per
call, not per budget, and summed again for the budgets just loaded: a reload never drops a
call in flight nor counts one twice.

Everything here runs on one thread (the proxy's event loop); the reads of the ledger happen
elsewhere and are handed over whole.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from spendtag.guard.budgets import Budget
from spendtag.ledger.store import Store
from spendtag.money import format_usd


class SpendReader:
    """Each budget's spend in its current period, as a store holds it: one read of spend per dims row
    for each distinct period (the monthly budgets share one, the daily ones another), summed per
    budget over the dims rows it covers. Whether a budget covers a dims row is kept (dims rows never
    change), so a read costs a query per period and a dictionary look-up per (budget, dims row)."""

    def __init__(self) -> None:
        self._covers: dict[tuple[object, ...], bool] = {}

    def read(self, store: Store, budgets: Sequence[Budget], now: datetime, tz: ZoneInfo) -> dict[str, int]:
        periods: dict[tuple[datetime | None, datetime | None], list[Budget]] = {}
        for b in budgets:
            rng, _ = b.period_at(now, tz)
            periods.setdefault((rng.since, rng.until), []).append(b)
        if len(self._covers) > 1_000_000:
            self._covers.clear()
        spent: dict[str, int] = {}
        for (since, until), group in periods.items():
            by_dims = store.spend_by_dims(since, until)
            for b in group:
                scope = (b.scope, b.agent, b.key, b.project)
                total = 0
                for dim_id, cost in by_dims.items():
                    ck = (scope, dim_id)
                    covered = self._covers.get(ck)
                    if covered is None:
                        dims, tags = store.event_dims(dim_id)
                        covered = self._covers[ck] = b.covers(tags, dims["agent"] or None, dims["key"] or None,
                                                              dims["project"] or None)
                    if covered:
                        total += cost
                spent[b.name] = total
        return spent


def ledger_spend(store: Store, budgets: Sequence[Budget], now: datetime, tz: ZoneInfo) -> dict[str, int]:
    """Each budget's spend in the period ``now`` falls in, as ``store`` holds it."""
    return SpendReader().read(store, budgets, now, tz)


SPENT, RESERVED, ESTIMATE = "spent", "reserved by calls in flight", "this call's estimate does not fit"


@dataclass(slots=True)
class Call:
    """A call this process let through: its reservation while in flight, then its settled cost."""

    amount: int
    tags: Mapping[str, str]
    agent: str | None
    key: str | None
    project: str | None
    ts: datetime
    within: tuple[int, ...] | None = None    # the budgets whose period counts it (LiveBudgets._within)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a blocking budget refuses a call."""

    budget: Budget
    reason: str                  # SPENT, RESERVED or ESTIMATE
    period: str
    spent: int                   # recorded (ledger + this process's settled calls)
    reserved: int                # by calls in flight (this process's and others')
    in_flight: int               # how many of this process's calls hold those reservations
    estimate: int
    stop: int
    until: datetime | None       # when the period resets

    @property
    def message(self) -> str:
        b = self.budget
        head = f"budget {b.name} ({b.describe_scope()}, {self.period})"
        stop = "" if self.stop == b.limit else f" (stops at {format_usd(self.stop)})"
        if self.reason == SPENT:
            return (f"{head} has reached its stop threshold: spent {format_usd(self.spent)} of "
                    f"{format_usd(b.limit)}{stop}")
        left = max(0, self.stop - self.spent - self.reserved)
        if self.reason == RESERVED:
            return (f"{head} has no room for this call: spent {format_usd(self.spent)} and "
                    f"{format_usd(self.reserved)} reserved by calls in flight ({self.in_flight} here) of "
                    f"{format_usd(b.limit)}{stop}; retry when they finish")
        return (f"{head}: this call's estimate does not fit: it may cost up to {format_usd(self.estimate)}, "
                f"and {format_usd(left)} is left (spent {format_usd(self.spent)}, reserved "
                f"{format_usd(self.reserved)}, of {format_usd(b.limit)}{stop}); lower max_tokens or raise the budget")


class LiveBudgets:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.budgets: list[Budget] = []
        self.external: dict[str, int] = {}      # other processes' reservations per budget name
        self.stale = False                       # a period ended here: the ledger should be read again
        self._ledger: list[int] = []
        self._pending_sum: list[int] = []
        self._held_sum: list[int] = []
        self._held_n: list[int] = []
        self._ranges: list[tuple[datetime | None, datetime | None, str]] = []
        self._thresholds: list[tuple[int, ...]] = []
        self._stops: list[int | None] = []
        self._fixed: list[bool] = []
        self._holds: dict[int, Call] = {}
        self._pending: dict[int, Call] = {}
        self._next = 0
        self._covering: dict[tuple[object, ...], tuple[int, ...]] = {}
        self._window: tuple[datetime | None, datetime | None] = (None, None)   # inside every current period

    # -- loading ------------------------------------------------------------------------------

    def load(self, budgets: Sequence[Budget], spent: Mapping[str, int], committed: int, now: datetime, *,
             known: Collection[int] = ()) -> None:
        """Budgets and their spend as read from the ledger after every call up to ``committed`` (a
        sequence number from :meth:`settle`), and the calls ``known``, were committed: those are in
        that spend and leave; the others, and every reservation, count again for these budgets."""
        for seq in [s for s in self._pending if s <= committed or s in known]:
            del self._pending[seq]
        self.budgets = list(budgets)
        self._ranges = []
        for b in self.budgets:
            rng, label = b.period_at(now, self.tz)
            self._ranges.append((rng.since, rng.until, label))
        self._ledger = [spent.get(b.name, 0) for b in self.budgets]
        self._thresholds = [tuple(t.amount for t in b.thresholds()) for b in self.budgets]
        self._stops = [b.stop_amount if b.enforce == "block" else None for b in self.budgets]
        self._fixed = [b.period == "total" for b in self.budgets]
        self._covering = {}
        self.stale = False
        self._sum_calls()

    def _sum_calls(self) -> None:
        """Every call counted again for the budgets and periods as they are now."""
        n = len(self.budgets)
        since = [r[0] for r in self._ranges if r[0] is not None]
        until = [r[1] for r in self._ranges if r[1] is not None]
        self._window = (max(since) if since else None, min(until) if until else None)
        self._pending_sum, self._held_sum, self._held_n = [0] * n, [0] * n, [0] * n
        for c in self._pending.values():
            c.within = None
            for i in self._within(c):
                self._pending_sum[i] += c.amount
        for c in self._holds.values():
            c.within = None
            for i in self._within(c):
                self._held_sum[i] += c.amount
                self._held_n[i] += 1

    # -- which budgets a call counts against ----------------------------------------------------

    def covering(self, tags: Mapping[str, str], agent: str | None, key: str | None,
                 project: str | None) -> tuple[int, ...]:
        ck = (tuple(tags.items()), agent, key, project)
        found = self._covering.get(ck)
        if found is None:
            found = tuple(i for i, b in enumerate(self.budgets) if b.covers(tags, agent, key, project))
            if len(self._covering) > 100_000:
                self._covering.clear()
            self._covering[ck] = found
        return found

    def blocking(self, indexes: tuple[int, ...], now: datetime) -> tuple[int, ...]:
        """Those of ``indexes`` that enforce a stop threshold on a call made at ``now``."""
        out = []
        stops, ranges, fixed = self._stops, self._ranges, self._fixed
        for i in indexes:
            if stops[i] is None:
                continue
            since, until, _ = ranges[i]
            if until is not None and now >= until:
                if fixed[i]:
                    continue   # a fixed range that has ended never refuses
                self._roll(i, now)
            elif fixed[i] and since is not None and now < since:
                continue       # nor one that has not started
            out.append(i)
        return tuple(out)

    def _roll(self, i: int, now: datetime) -> None:
        """A calendar period that ended gives way to the next: nothing recorded in it yet but this
        process's own calls (the next read of the ledger brings the rest)."""
        rng, label = self.budgets[i].period_at(now, self.tz)
        self._ranges[i] = (rng.since, rng.until, label)
        self._ledger[i] = 0
        self._sum_calls()
        self.stale = True

    # -- the checks -----------------------------------------------------------------------------

    def verdict(self, indexes: tuple[int, ...], estimate: int) -> Verdict | None:
        """The first of these (blocking, current) budgets that refuses a call estimated at ``estimate``."""
        external = self.external
        for i in indexes:
            stop = self._stops[i]
            assert stop is not None
            spent = self._ledger[i] + self._pending_sum[i]
            reserved = self._held_sum[i] + (external.get(self.budgets[i].name, 0) if external else 0)
            if spent + reserved + estimate <= stop and spent < stop:
                continue
            b = self.budgets[i]
            # Blame what the call could not have done without: the budget spent, then its own size
            # (it would not fit with nothing in flight), then the calls in flight.
            reason = SPENT if spent >= stop else ESTIMATE if spent + estimate > stop else RESERVED
            return Verdict(b, reason, self._ranges[i][2], spent, reserved, self._held_n[i], estimate, stop,
                           self._ranges[i][1])
        return None

    def spent(self, name: str) -> int:
        """Recorded spend of the budget's current period: the ledger's and this process's settled calls."""
        i = self._index(name)
        return self._ledger[i] + self._pending_sum[i]

    def held(self) -> dict[str, int]:
        """This process's reservations per budget name (for other processes to see)."""
        return {b.name: self._held_sum[i] for i, b in enumerate(self.budgets) if self._held_sum[i]}

    def _index(self, name: str) -> int:
        return next(i for i, b in enumerate(self.budgets) if b.name == name)

    # -- calls ----------------------------------------------------------------------------------

    def hold(self, amount: int, tags: Mapping[str, str], agent: str | None, key: str | None,
             project: str | None, ts: datetime, covering: tuple[int, ...] | None = None) -> int:
        """Reserve ``amount`` for a call in flight (``covering``: its covering budgets, when known);
        returns its token for :meth:`settle` or :meth:`release`."""
        self._next += 1
        c = self._holds[self._next] = Call(amount, tags, agent, key, project, ts)
        held, held_n = self._held_sum, self._held_n
        for i in self._within(c, covering):
            held[i] += amount
            held_n[i] += 1
        return self._next

    def release(self, token: int) -> None:
        """Drop a reservation whose call never went ahead."""
        c = self._holds.pop(token, None)
        if c is not None:
            held, held_n = self._held_sum, self._held_n
            for i in self._within(c):
                held[i] -= c.amount
                held_n[i] -= 1

    def settle(self, token: int | None, cost: int, tags: Mapping[str, str], agent: str | None, key: str | None,
               project: str | None, ts: datetime) -> tuple[int, list[tuple[Budget, int]]]:
        """Replace a call's reservation (if it had one) by its cost, pending until the ledger holds it.

        Returns the sequence number to hand the writer with the call, and the (budget, amount)
        thresholds this cost crossed."""
        if token is not None:
            self.release(token)
        self._next += 1
        c = self._pending[self._next] = Call(cost, tags, agent, key, project, ts)
        crossed: list[tuple[Budget, int]] = []
        ledger, pending, thresholds = self._ledger, self._pending_sum, self._thresholds
        for i in self._within(c):
            before = ledger[i] + pending[i]
            pending[i] += cost
            after = before + cost
            ths = thresholds[i]
            if ths and before < ths[-1] and after >= ths[0]:
                crossed.extend((self.budgets[i], t) for t in ths if before < t <= after)
        return self._next, crossed

    def committed(self, upto: int) -> None:
        """The writer committed every call up to sequence number ``upto``: their cost moves to the ledger sums."""
        ledger, pending = self._ledger, self._pending_sum
        for seq in [s for s in self._pending if s <= upto]:
            c = self._pending.pop(seq)
            for i in self._within(c):
                pending[i] -= c.amount
                ledger[i] += c.amount

    def _within(self, c: Call, covering: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The budgets whose current period counts the call (kept on the call until the budgets change)."""
        found = c.within
        if found is None:
            if covering is None:
                covering = self.covering(c.tags, c.agent, c.key, c.project)
            lo, hi = self._window
            if (lo is None or c.ts >= lo) and (hi is None or c.ts < hi):
                found = covering          # inside every budget's period: the usual case, no comparison each
            else:
                found = tuple(i for i in covering if self._holds_time(i, c.ts))
            c.within = found
        return found

    def _holds_time(self, i: int, ts: datetime) -> bool:
        since, until, _ = self._ranges[i]
        return (since is None or ts >= since) and (until is None or ts < until)

    @property
    def in_flight(self) -> int:
        return len(self._holds)

    @property
    def pending(self) -> int:
        return len(self._pending)
