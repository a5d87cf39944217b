"""``instrument(client, enforce=True)``: refuse a call before sending it when a blocking budget is spent.

Budgets and their spend come from the local ledger (and the config file), read on the first
call. Each call this process makes is then added in memory, until the ledger holds it. A
thread of the enforcer's own keeps that view current: every ``POLL`` seconds it asks the
ledger whether another connection committed since it last read (SQLite's ``PRAGMA
data_version``, a few microseconds; on PostgreSQL it reads on a timer); when one did (a
budget made, changed or deleted, spend recorded by another process, or this process's own
sink), it reads the budgets and their spend again, at most every ``MIN_GAP`` seconds, and
swaps them in. A check before a call never waits for the ledger: it is a few dictionary
look-ups on what the thread last read, within a fraction of a second of the ledger.
It reads again at least every ``refresh`` seconds (budgets in the config file).

Imports from the budget layer stay inside the functions: an SDK wrapper without ``enforce``
never loads them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spendtag.capture.sdk.errors import BudgetExceeded
from spendtag.usage import UsageEvent

if TYPE_CHECKING:
    from spendtag.capture.sdk.sinks import Sink
    from spendtag.guard.live import LiveBudgets
    from spendtag.ledger.store import Store
    from spendtag.pricing.pricer import Pricer

POLL = 0.05        # seconds between two looks at the ledger's change counter
MIN_GAP = 0.1      # seconds between two reads of the ledger, however busy other processes are
TIMER = 0.25       # seconds between reads where the ledger has no change counter (PostgreSQL)


class Enforcer:
    def __init__(self, sink: Sink | None = None, *, db: str | None = None, refresh: float = 10.0) -> None:
        self.sink = sink
        self.db = db
        self.refresh = refresh
        self.reads = 0                        # how many times the ledger was read (tests)
        self.fresh_since = 0.0                # monotonic time the last completed read began
        self._lock = threading.RLock()
        self._live: LiveBudgets | None = None
        self._pricer: Pricer | None = None
        self._store: Store | None = None
        self._loader: Any = None
        self._reader: Any = None
        self._token: int | None = None
        self._loaded = 0.0
        self._pending: dict[str, int] = {}    # this process's calls the ledger may not hold yet: id -> seq
        self._watcher_pid = 0
        self._stop = threading.Event()
        self._warned = False

    def _open(self) -> LiveBudgets:
        from spendtag import settings
        from spendtag.guard import budgets
        from spendtag.guard.live import LiveBudgets, SpendReader
        from spendtag.ledger import open_store
        from spendtag.periods import zone
        from spendtag.pricing.pricer import Pricer
        from spendtag.recording import price_book

        resolved = settings.load({"db": self.db})
        self._store = store = open_store(resolved.db)
        self._pricer = Pricer(price_book(store, resolved))
        entries, path, channels = resolved.sections.get("budgets"), str(resolved.config_path), resolved.alert_channels
        self._loader = lambda: budgets.load(store, entries, config_path=path, channels=channels)
        self._reader = SpendReader()
        return LiveBudgets(zone(resolved["tz"]))

    def _read(self, live: LiveBudgets, token: int | None) -> None:
        """Budgets and spend from the ledger, swapped in at once; this process's calls the ledger now
        holds leave the pending ones (a call recorded after the look stays pending until the next)."""
        store = self._store
        assert store is not None
        started = time.monotonic()
        with self._lock:
            pending = dict(self._pending)
        held = store.recorded(list(pending))
        now = datetime.now(UTC)
        found = self._loader()
        spent = self._reader.read(store, found, now, live.tz)
        with self._lock:
            known = {pending[event_id] for event_id in held}
            live.load(found, spent, 0, now, known=known)
            self._pending = {i: seq for i, seq in self._pending.items() if seq not in known}
        self._token, self._loaded = token, time.monotonic()
        self.fresh_since = started            # everything committed before this moment is in the view
        self.reads += 1

    def _current(self) -> LiveBudgets:
        """The live view (read on the first call, under the lock), with its watching thread running."""
        live = self._live
        if live is None:
            live = self._live = self._open()
            assert self._store is not None
            self._read(live, self._store.change_token())     # (the lock is re-entrant: _read takes it too)
        if self._watcher_pid != os.getpid():   # first use, or a forked child (threads do not survive fork)
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, args=(live,), name="spendtag-budget-watch", daemon=True).start()
        return live

    def _watch(self, live: LiveBudgets) -> None:
        store = self._store
        assert store is not None
        while not self._stop.wait(POLL):
            since = time.monotonic() - self._loaded
            if since < MIN_GAP:
                continue
            try:
                token = store.change_token()    # before the read: a change during it is seen next time
                if since >= self.refresh or live.stale or (token is None and since >= TIMER) or (
                        token is not None and token != self._token):
                    self._read(live, token)
            except Exception as exc:  # noqa: BLE001 - a guard that cannot read keeps its last view; try again
                if not self._warned:
                    self._warned = True
                    print(f"spendtag: budget enforcement could not read the ledger: {exc}", file=sys.stderr)

    def close(self) -> None:
        """Stop the watching thread (also at exit: it is a daemon)."""
        self._stop.set()

    def check(self, tags: Mapping[str, str], *, agent: str | None, project: str | None) -> None:
        """Raise :class:`BudgetExceeded` if a blocking budget covering this call has reached its stop."""
        with self._lock:
            live = self._current()
            verdict = live.verdict(live.blocking(live.covering(tags, agent, None, project), datetime.now(UTC)), 0)
        if verdict is not None:
            raise BudgetExceeded(verdict.message, budget=verdict.budget.name, spent_pico=verdict.spent,
                                 limit_pico=verdict.budget.limit, retry_after=verdict.until)

    def observe(self, event: UsageEvent) -> None:
        """Add a finished call's cost to the spend, until the ledger holds it."""
        with self._lock:
            if self._live is None or self._pricer is None:
                return
            cost = self._pricer.price(event)
            seq, _ = self._live.settle(None, cost.total if cost.priced else 0, event.tags, event.agent, event.key,
                                       event.project, event.ts)
            self._pending[event.event_id] = seq
            if len(self._pending) > 100_000:     # a sink that never writes: keep the newest
                self._pending = dict(list(self._pending.items())[-50_000:])
