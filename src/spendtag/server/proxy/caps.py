"""Hard caps: reserve a call's estimated cost before forwarding it, settle the actual cost after.

Checking and reserving happen in one synchronous step on the event loop, so concurrent
calls see each other's reservations: a budget with room for one call admits one, and the
spend recorded can pass the stop threshold by at most one call's settled cost over its
estimate. The sums live in :class:`~spendtag.guard.live.LiveBudgets`: the ledger's spend as last
read, this proxy's settled calls the ledger does not hold yet, and the reservations of calls in
flight. The writer's thread reads the ledger again whenever another process changed it (a
budget made, changed or deleted, a key revoked, spend recorded: see ``serve.py``), so every
check sees the ledger as it is now, within a fraction of a second.

Replicas sharing one ledger (PostgreSQL) also reserve in the ledger (:class:`SharedReservations`),
atomically across all of them, so the same bound holds however many proxies serve the budget.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from spendtag.guard.budgets import Budget
from spendtag.guard.live import ESTIMATE, LiveBudgets, SpendReader
from spendtag.ledger.reservation_tables import BudgetCheck, ReserveOutcome
from spendtag.ledger.store import Store
from spendtag.money import format_usd
from spendtag.pricing.pricer import Pricer
from spendtag.usage import Usage, UsageEvent


@dataclass(slots=True)
class Hold:
    """A call's reservation, to settle once its cost is known (who it is for is kept with its token)."""

    amount: int
    ts: datetime
    token: int                      # its reservation in :class:`LiveBudgets`
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
    """The proxy's budget checks over :class:`~spendtag.guard.live.LiveBudgets`.

    ``load_budgets`` reads every budget from a store (the config file's and the ledger's);
    :meth:`reload` reads them and their spend on the calling thread, :meth:`refresh` does it
    on the writer's thread and hands the result to the event loop.
    """

    def __init__(self, store: Store, load_budgets: Callable[[Store], Sequence[Budget]], tz: ZoneInfo,
                 pricer: Pricer, *, unpriced_policy: str = "warn", output_estimate: OutputEstimate | None = None,
                 now: datetime | None = None) -> None:
        self.store = store
        self.tz = tz
        self.pricer = pricer
        self.policy = unpriced_policy
        self.output = output_estimate or OutputEstimate()
        self._load = load_budgets
        self.live = LiveBudgets(tz)
        self.reader = SpendReader()
        self.alerts_due = False      # a threshold may have been crossed: evaluate alerts after the next write
        self.shared: SharedReservations | None = None   # set when replicas share the ledger
        self.loop: asyncio.AbstractEventLoop | None = None   # where a refresh from another thread is applied
        self.committed = 0           # the writer's last committed sequence number (read by any thread)
        self._priced: dict[tuple[str, str], bool] = {}
        self._warned: set[tuple[str, str]] = set()
        self.reload(now=now)

    @property
    def budgets(self) -> list[Budget]:
        return self.live.budgets

    @property
    def names(self) -> set[str]:
        return {b.name for b in self.live.budgets}

    @property
    def outstanding(self) -> dict[str, int]:
        """This proxy's reservations per budget."""
        return self.live.held()

    @property
    def external(self) -> dict[str, int]:
        return self.live.external

    @external.setter
    def external(self, held: dict[str, int]) -> None:
        self.live.external = held

    def read(self, store: Store, now: datetime) -> tuple[list[Budget], dict[str, int], int]:
        """Every budget and the spend of its current period as ``store`` has them, with the writer's
        committed sequence number taken first (so every call up to it is in that spend)."""
        committed = self.committed
        found = list(self._load(store))
        return found, self.reader.read(store, found, now, self.tz), committed

    def reload(self, now: datetime | None = None) -> None:
        """Read the budgets and their spend now, on this thread (the event loop's, or before it runs)."""
        now = now or datetime.now(UTC)
        self.live.load(*self.read(self.store, now), now)

    def refresh(self, store: Store) -> None:
        """Read the budgets and their spend on ``store`` (the writer's thread, between its commits) and
        hand them to the event loop, which applies them between two calls."""
        now = datetime.now(UTC)
        found, spent, committed = self.read(store, now)
        loop = self.loop
        if loop is None or loop.is_closed():
            self.live.load(found, spent, committed, now)
        else:
            loop.call_soon_threadsafe(self.live.load, found, spent, committed, now)

    def mark_committed(self, upto: int) -> None:
        """From the writer's thread: every call up to sequence number ``upto`` is in the ledger."""
        self.committed = upto
        loop = self.loop
        if loop is None or loop.is_closed():
            self.live.committed(upto)
        else:
            loop.call_soon_threadsafe(self.live.committed, upto)

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
        if self.policy != "allow" and not self.is_priced(provider, model, now):
            if self.policy == "block":
                return Refusal(403, f"spendtag: model {model!r} ({provider}) has no price and unpriced_policy is "
                                    "block; add a price with `spendtag prices override`", None)
            if (provider, model) not in self._warned:
                self._warned.add((provider, model))
                print(f"spendtag proxy: warning: model {model!r} ({provider}) has no price; its calls are recorded "
                      "as unpriced", file=sys.stderr, flush=True)
        live = self.live
        # A fixed-range budget is in effect only inside its range: an expired one never refuses.
        covering = live.covering(tags, agent, key, project)
        blocking = live.blocking(covering, now)
        if not blocking:
            return None
        output = max_output if max_output is not None else self.output.tokens(model)
        cost = self.pricer.price(UsageEvent("estimate", now, provider, model,
                                            Usage(input_tokens=input_tokens, output_tokens=output)))
        amount = cost.total if cost.priced else 0
        verdict = live.verdict(blocking, amount)
        if verdict is not None:
            if verdict.reason == ESTIMATE:
                bound = "its max_tokens" if max_output is not None else self.output.describe(model)
                message = f"{verdict.message} (estimate: {input_tokens:,} input + {output:,} output tokens, {bound})"
            else:
                message = verdict.message
            return Refusal(429, message, _seconds_until(verdict.until, now))
        token = live.hold(amount, tags, agent, key, project, now, covering)
        return Hold(amount, now, token, budgets=tuple(live.budgets[i] for i in blocking))

    async def admit(self, hold: Hold, hold_id: str) -> Refusal | None:
        """With a shared ledger: reserve there too (atomically across replicas), or undo the local hold."""
        if self.shared is None:
            return None
        blocking = hold.budgets
        outcome = await self.shared.reserve(hold_id, hold.amount, blocking, hold.ts)
        if outcome.ok:
            hold.hold_id = hold_id
            return None
        self.live.release(hold.token)
        budget = next((b for b in blocking if b.name == outcome.budget), blocking[0])
        rng, label = budget.period_at(hold.ts, self.tz)
        message = (f"budget {budget.name} ({budget.describe_scope()}, {label}) has no room for this call: "
                   f"spent and reserved by calls in flight {format_usd(outcome.spent)} of {format_usd(budget.limit)}")
        return Refusal(429, message, _seconds_until(rng.until, hold.ts))

    def settle(self, hold: Hold | None, cost: int, tags: Mapping[str, str], *, key: str | None,
               project: str | None, agent: str | None, ts: datetime) -> int:
        """Replace the hold by the actual cost (or just add the cost when nothing was held); returns the
        call's sequence number, for the writer to report once the call is committed."""
        seq, crossed = self.live.settle(hold.token if hold is not None else None, cost, tags, agent, key, project,
                                        hold.ts if hold is not None else ts)
        if crossed:
            self.alerts_due = True
        return seq


@dataclass(frozen=True, slots=True)
class OutputEstimate:
    """The output tokens a reservation counts for a request that sets no bound (no ``max_tokens``).

    ``default`` for every model, ``models`` per model name (``[proxy.output_estimates]`` in the
    config). A call that writes more than its estimate is charged what it wrote: the estimate only
    decides whether it may start.
    """

    default: int = 1024
    models: Mapping[str, int] = field(default_factory=dict)

    def tokens(self, model: str) -> int:
        return self.models.get(model, self.default)

    def describe(self, model: str) -> str:
        if model in self.models:
            return f"no max_tokens: proxy.output_estimates sets {self.models[model]:,} for {model}"
        return f"no max_tokens: proxy.default_max_output_tokens is {self.default:,}"


def _seconds_until(until: datetime | None, now: datetime) -> int | None:
    if until is None:
        return None
    return max(1, int((until - now).total_seconds() + 0.999))
