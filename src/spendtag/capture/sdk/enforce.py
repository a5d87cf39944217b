"""``instrument(client, enforce=True)``: refuse a call before sending it when a blocking budget is spent.

Budgets and their spend come from the local ledger (and the config file), loaded on the
first call; each call this process makes is then added in memory, and the spend is re-read
from the ledger every ``refresh`` seconds so that other processes' calls count too.
Imports from the budget layer stay inside the functions: an SDK wrapper without
``enforce`` never loads them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from spendtag.capture.sdk.errors import BudgetExceeded
from spendtag.usage import UsageEvent

if TYPE_CHECKING:
    from spendtag.capture.sdk.sinks import Sink
    from spendtag.guard.budgets import BudgetTracker
    from spendtag.ledger.store import Store
    from spendtag.pricing.pricer import Pricer


class Enforcer:
    def __init__(self, sink: Sink | None = None, *, db: str | None = None, refresh: float = 10.0) -> None:
        self.sink = sink
        self.db = db
        self.refresh = refresh
        self._lock = threading.Lock()
        self._tracker: BudgetTracker | None = None
        self._pricer: Pricer | None = None
        self._store: Store | None = None
        self._loaded = 0.0

    def _load(self) -> BudgetTracker:
        from spendtag import settings
        from spendtag.guard import budgets
        from spendtag.guard.budgets import BudgetTracker
        from spendtag.ledger import open_store
        from spendtag.periods import zone
        from spendtag.pricing.pricer import Pricer
        from spendtag.recording import price_book

        if self.sink is not None:
            self.sink.flush(5.0)     # this process's own calls reach the ledger before it is re-read
        resolved = settings.load({"db": self.db})
        if self._store is None:
            self._store = open_store(resolved.db)
            self._pricer = Pricer(price_book(self._store, resolved))
        found = budgets.load(self._store, resolved.sections.get("budgets"), config_path=str(resolved.config_path))
        self._loaded = time.monotonic()
        return BudgetTracker(self._store, found, zone(resolved["tz"]))

    def check(self, tags: Mapping[str, str], *, agent: str | None, project: str | None) -> None:
        """Raise :class:`BudgetExceeded` if a blocking budget covering this call has reached its stop."""
        with self._lock:
            if self._tracker is None or time.monotonic() - self._loaded > self.refresh:
                self._tracker = self._load()
            decision = self._tracker.refusal(tags, agent=agent, project=project)
        if decision is not None:
            raise BudgetExceeded(decision.message, budget=decision.budget.name, spent_pico=decision.spent,
                                 limit_pico=decision.limit, retry_after=decision.retry_after)

    def observe(self, event: UsageEvent) -> None:
        """Add a finished call's cost to the running spend."""
        with self._lock:
            if self._tracker is None or self._pricer is None:
                return
            cost = self._pricer.price(event)
            self._tracker.observe(event.ts, cost.total, event.tags, agent=event.agent, project=event.project)
