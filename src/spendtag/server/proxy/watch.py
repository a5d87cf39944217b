"""The proxy's view of the ledger, kept current: what another process changed is seen within a second.

The writer's thread calls :meth:`LedgerWatch.tick` every ``interval`` (50 ms) between its
commits. A tick asks the ledger whether another connection committed since the last look
(SQLite: ``PRAGMA data_version``, a few microseconds; PostgreSQL has no such counter, so there
it reads again every ``timer`` seconds). When something moved (a budget made, changed or
deleted, a key made or revoked, spend recorded by the CLI, an import, the SDK sink or another
proxy) it reads every budget and its spend again and hands them to the event loop
(:meth:`Caps.refresh`), and forgets the cached virtual keys, so a revoked key stops working.

The event loop's hot path never waits for any of this: a call's budget check stays a few
dictionary look-ups.
"""

from __future__ import annotations

import time

from spendtag.ledger.store import Store
from spendtag.server.proxy.caps import Caps
from spendtag.server.proxy.keys import KeyCache

MIN_GAP = 0.1      # seconds between two reads of the ledger, however busy other processes are
TIMER = 0.25       # seconds between reads where the ledger has no change counter (PostgreSQL)
EVERY = 10.0       # read again at least this often regardless (a period ending, a missed change)


class LedgerWatch:
    def __init__(self, caps: Caps, keys: KeyCache, *, min_gap: float = MIN_GAP, timer: float = TIMER,
                 every: float = EVERY) -> None:
        self.caps = caps
        self.keys = keys
        self.min_gap = min_gap
        self.timer = timer
        self.every = every
        self.reads = 0                   # how many times the ledger was read again (for tests and benches)
        self._token: int | None = None
        self._last = time.monotonic()

    def tick(self, store: Store, *, force: bool = False) -> bool:
        """Read the ledger again if another process changed it; whether it did."""
        now = time.monotonic()
        since = now - self._last
        if since < self.min_gap and not force:
            return False
        token = store.change_token()     # before the read: a change during it is caught next tick
        if token is None:
            due = since >= self.timer
        else:
            due = token != self._token or since >= self.every or self.caps.live.stale
        if not (due or force):
            return False
        self._token, self._last = token, now
        self.keys.forget()
        self.caps.refresh(store)
        self.reads += 1
        return True
