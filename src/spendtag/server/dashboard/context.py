"""What every request needs: the ledger (a small pool of connections), settings, zone, budgets."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from spendtag.budgets import Budget
from spendtag.budgets import load as load_budgets
from spendtag.ledger import Store, open_store
from spendtag.periods import zone
from spendtag.settings import Settings


class Context:
    """Requests run on worker threads; each borrows a ledger connection of its own from the pool."""

    def __init__(self, store_url: str, settings: Settings, *, pool_size: int = 4) -> None:
        self.store_url = store_url
        self.settings = settings
        self.tz: ZoneInfo = zone(settings["tz"])
        self.client_key: str = settings["client_key"]
        self._idle: queue.LifoQueue[Store] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._all: list[Store] = []
        self._lock = threading.Lock()
        with self.store():   # open (and migrate) now: a bad ledger URL fails at start, not at the first request
            pass

    @contextmanager
    def store(self) -> Iterator[Store]:
        with self._slots:
            try:
                store = self._idle.get_nowait()
            except queue.Empty:
                store = open_store(self.store_url)
                with self._lock:
                    self._all.append(store)
            try:
                yield store
            finally:
                self._idle.put(store)

    def budgets(self, store: Store) -> list[Budget]:
        return load_budgets(store, self.settings.sections.get("budgets"), config_path=str(self.settings.config_path))

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()
