"""Hard caps: reserve a call's estimated cost before forwarding it, settle the actual cost after.

Checking and reserving happen in one synchronous step on the event loop, so concurrent
calls see each other's reservations: a budget with room for one call admits one, and the
spend recorded can pass the stop threshold by at most one call's settled cost over its
estimate. Reservations ride on :class:`~spendtag.guard.budgets.BudgetTracker`'s running sums
(added with ``observe`` and replaced by the actual cost at settlement).

Replicas sharing one ledger (PostgreSQL) also reserve in the ledger (:class:`SharedReservations`),
atomically across all of them, so the same bound holds however many proxies serve the budget.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from spendtag.guard.budgets import Budget, BudgetTracker, Decision
from spendtag.ledger.reservation_tables import BudgetCheck, ReserveOutcome
from spendtag.ledger.store import Store
from spendtag.money import format_usd
from spendtag.pricing.pricer import Pricer
from spendtag.usage import Usage, UsageEvent


@dataclass(slots=True)
class Hold:
    """A call's reservation, to settle once its cost is known."""

    amount: int
    tags: Mapping[str, str]
    key: str | None
    project: str | None
    agent: str | None
    ts: datetime
    hold_id: str | None = None      # its reservation in a shared ledger, if any
    budgets: tuple[Budget, ...] = ()   # the blocking budgets in effect it was reserved against


class SharedReservations:
    """Reservations made in the ledger, so proxy replicas sharing it enforce one budget together.

    Each reservation is one ledger transaction (see ``ledger/reservation_tables.py``), run on a
    small pool of threads with a connection each, so the event loop never waits on the database.
    Reservations live ``ttl``; the proxy extends its own while it runs (:meth:`extend`).
    """

    def __init__(self, open_store: Callable[[], Store], holder: str, tz: ZoneInfo, *,
                 ttl: timedelta = timedelta(seconds=30), threads: int = 4) -> None:
        self.holder = holder
        self.tz = tz
        self.ttl = ttl
        self._open = open_store
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="spendtag-reserve")

    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self._open()
            with self._lock:
                self._stores.append(store)
        return store

    def checks(self, budgets: Sequence[Budget], now: datetime) -> list[BudgetCheck]:
        out = []
        for b in budgets:
            rng, label = b.period_at(now, self.tz)
            if b.stop_amount is not None and b.in_effect(now, self.tz):
                out.append(BudgetCheck(b.name, label, b.filters(rng), b.stop_amount))
        return out

    async def reserve(self, hold_id: str, amount: int, budgets: Sequence[Budget], now: datetime) -> ReserveOutcome:
        checks = self.checks(budgets, now)
        expires = now + self.ttl
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: self._store().reserve(hold_id, self.holder, amount, checks, now, expires))

    def extend(self, store: Store, now: datetime) -> None:
        store.extend_reservations(self.holder, now + self.ttl)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for store in self._stores:
                store.close()
            self._stores.clear()


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int                  # 429 (budget) or 403 (unpriced model under the block policy)
    message: str
    retry_after: int | None      # seconds until the budget's period resets


class Caps:
    def __init__(self, store: Store, load_budgets: Callable[[], Sequence[Budget]], tz: ZoneInfo, pricer: Pricer,
                 *, unpriced_policy: str = "warn", default_max_output_tokens: int = 4096) -> None:
        self.store = store
        self.tz = tz
        self.pricer = pricer
        self.policy = unpriced_policy
        self.default_output = default_max_output_tokens
        self._load = load_budgets
        self.alerts_due = False      # a threshold may have been crossed: evaluate alerts after the next write
        self.external: dict[str, int] = {}   # other proxies' holds per budget (shared ledgers)
        self.shared: SharedReservations | None = None   # set when replicas share the ledger
        self._priced: dict[tuple[str, str], bool] = {}
        self._warned: set[tuple[str, str]] = set()
        self.reload()

    def reload(self) -> None:
        self.budgets = list(self._load())
        self.tracker = BudgetTracker(self.store, self.budgets, self.tz)
        self.names = {b.name for b in self.budgets}
        self._blocking = [b for b in self.budgets if b.enforce == "block" and b.stop_amount is not None]
        self._covering: dict[tuple[object, ...], tuple[Budget, ...]] = {}
        self.outstanding: dict[str, int] = {}

    def _blocking_for(self, tags: Mapping[str, str], key: str | None, project: str | None,
                      agent: str | None) -> tuple[Budget, ...]:
        ck = (tuple(tags.items()), key, project, agent)
        found = self._covering.get(ck)
        if found is None:
            found = tuple(b for b in self._blocking if b.covers(tags, agent, key, project))
            if len(self._covering) > 100_000:
                self._covering.clear()
            self._covering[ck] = found
        return found

    def is_priced(self, provider: str, model: str, now: datetime) -> bool:
        pk = (provider, model)
        found = self._priced.get(pk)
        if found is None:
            probe = UsageEvent("probe", now, provider, model, Usage(input_tokens=1, output_tokens=1))
            found = self._priced[pk] = self.pricer.price(probe).priced
        return found

    def reserve(self, provider: str, model: str, tags: Mapping[str, str], *, key: str | None, project: str | None,
                agent: str | None, input_tokens: int, max_output: int | None, now: datetime) -> Hold | Refusal | None:
        """A hold (None when no blocking budget covers the call and the model is priced), or a refusal."""
        # A fixed-range budget is in effect only inside its range: an expired one never refuses.
        blocking = tuple(b for b in self._blocking_for(tags, key, project, agent) if b.in_effect(now, self.tz))
        if self.policy != "allow" and not self.is_priced(provider, model, now):
            if self.policy == "block":
                return Refusal(403, f"spendtag: model {model!r} ({provider}) has no price and unpriced_policy is "
                                    "block; add a price with `spendtag prices override`", None)
            if (provider, model) not in self._warned:
                self._warned.add((provider, model))
                print(f"spendtag proxy: warning: model {model!r} ({provider}) has no price; its calls are recorded "
                      "as unpriced", file=sys.stderr, flush=True)
        if not blocking:
            return None
        usage = Usage(input_tokens=input_tokens, output_tokens=max_output or self.default_output)
        cost = self.pricer.price(UsageEvent("estimate", now, provider, model, usage))
        amount = cost.total if cost.priced else 0
        decision = self.tracker.refusal(tags, agent=agent, key=key, project=project, now=now, reserve=amount)
        if decision is None and self.external:
            decision = self._external_refusal(blocking, amount, now)
        if decision is not None:
            return Refusal(429, decision.message, _seconds_until(decision, now))
        self.tracker.observe(now, amount, tags, agent=agent, key=key, project=project)
        for b in blocking:
            self.outstanding[b.name] = self.outstanding.get(b.name, 0) + amount
        return Hold(amount, tags, key, project, agent, now, budgets=blocking)

    def _external_refusal(self, blocking: Sequence[Budget], amount: int, now: datetime) -> Decision | None:
        for b in blocking:
            held = self.external.get(b.name, 0)
            stop = b.stop_amount
            if held and stop is not None and self.tracker.spent(b.name) + held + amount > stop:
                spent = self.tracker.spent(b.name) + held
                return Decision(b, False, spent, b.limit, b.period_at(now, self.tz)[0].until,
                                f"budget {b.name} ({b.describe_scope()}) has no room for this call: "
                                f"spent and reserved {format_usd(spent)} of {format_usd(b.limit)}")
        return None

    async def admit(self, hold: Hold, hold_id: str) -> Refusal | None:
        """With a shared ledger: reserve there too (atomically across replicas), or undo the local hold."""
        if self.shared is None:
            return None
        blocking = hold.budgets
        outcome = await self.shared.reserve(hold_id, hold.amount, blocking, hold.ts)
        if outcome.ok:
            hold.hold_id = hold_id
            return None
        self._undo(hold)
        budget = next((b for b in blocking if b.name == outcome.budget), blocking[0])
        rng, label = budget.period_at(hold.ts, self.tz)
        decision = Decision(budget, False, outcome.spent, budget.limit, rng.until,
                            f"budget {budget.name} ({budget.describe_scope()}, {label}) has no room for this call: "
                            f"spent and reserved {format_usd(outcome.spent)} of {format_usd(budget.limit)}")
        return Refusal(429, decision.message, _seconds_until(decision, hold.ts))

    def _undo(self, hold: Hold) -> None:
        self.tracker.observe(hold.ts, -hold.amount, hold.tags, agent=hold.agent, key=hold.key, project=hold.project)
        for b in hold.budgets:
            self.outstanding[b.name] = self.outstanding.get(b.name, 0) - hold.amount

    def settle(self, hold: Hold | None, cost: int, tags: Mapping[str, str], *, key: str | None,
               project: str | None, agent: str | None, ts: datetime) -> None:
        """Replace the hold by the actual cost (or just add the cost when nothing was held)."""
        if not self.budgets:
            return
        if hold is None:
            crossed = self.tracker.observe(ts, cost, tags, agent=agent, key=key, project=project)
        else:
            crossed = self.tracker.observe(hold.ts, cost - hold.amount, hold.tags, agent=hold.agent, key=hold.key,
                                           project=hold.project)
            for b in hold.budgets:
                self.outstanding[b.name] = self.outstanding.get(b.name, 0) - hold.amount
        if crossed or cost:
            self.alerts_due = self.alerts_due or bool(crossed)


def _seconds_until(decision: Decision, now: datetime) -> int | None:
    if decision.retry_after is None:
        return None
    return max(1, int((decision.retry_after - now).total_seconds() + 0.999))
