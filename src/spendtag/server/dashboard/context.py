"""What every request needs: the ledger (a small pool of connections), settings, zone, budgets."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from spendtag.guard.budgets import Budget
from spendtag.guard.budgets import load as load_budgets
from spendtag.ledger import Store, open_store
from spendtag.periods import zone
from spendtag.settings import Settings

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer
    from spendtag.server.dashboard.client_view import Billing
    from spendtag.server.dashboard.views import Clients

T = TypeVar("T")


class Context:
    """Requests run on worker threads; each borrows a ledger connection of its own from the pool."""

    def __init__(self, store_url: str, settings: Settings, *, pool_size: int = 4,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store_url = store_url
        self.now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))   # tests set the time
        self.settings = settings
        self.tz: ZoneInfo = zone(settings["tz"])
        self.client_key: str = settings["client_key"]
        self._idle: queue.LifoQueue[Store] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._all: list[Store] = []
        self._lock = threading.Lock()
        # Reads of one request that can run side by side (the overview's two groupings), each
        # on a connection of its own: SQLite and PostgreSQL both answer them at the same time.
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="spendtag-dashboard-read")
        self._reader = threading.local()
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

    def _reader_store(self) -> Store:
        store: Store | None = getattr(self._reader, "store", None)
        if store is None:
            store = self._reader.store = open_store(self.store_url)
            with self._lock:
                self._all.append(store)
        return store

    def parallel(self, reads: Sequence[Callable[[Store], T]]) -> list[T]:
        futures = [self._readers.submit(self._read, read) for read in reads]
        return [f.result() for f in futures]

    def _read(self, read: Callable[[Store], T]) -> T:
        return read(self._reader_store())

    def budgets(self, store: Store) -> list[Budget]:
        return load_budgets(store, self.settings.sections.get("budgets"), config_path=str(self.settings.config_path),
                            channels=self.settings.alert_channels)

    def clients(self) -> Clients:
        """The overview's client table, with the invoice terms of the config (none if they cannot be read)."""
        from spendtag.bill.config import BillingConfig
        from spendtag.errors import SpendtagError
        from spendtag.server.dashboard.views import Clients

        try:
            billing = BillingConfig.from_sections(self.settings.sections, client_key=self.client_key,
                                                  path=str(self.settings.config_path))
        except SpendtagError:
            billing = None
        return Clients(self.client_key, billing)

    def billing(self, store: Store) -> Billing | None:
        """Terms, billing details (the config's, then the ledger's edits) and rates, as `spendtag invoice`
        reads them; None when they cannot be read (a client's view then shows no amount at all)."""
        from spendtag.bill import profile
        from spendtag.bill.config import BillingConfig
        from spendtag.bill.rates import from_sections as rates_from_sections
        from spendtag.errors import SpendtagError
        from spendtag.server.dashboard.client_view import Billing

        path = str(self.settings.config_path)
        try:
            return Billing(BillingConfig.from_sections(self.settings.sections, client_key=self.client_key, path=path),
                           profile.load(self.settings, store), rates_from_sections(self.settings.sections, path=path))
        except SpendtagError:
            return None

    def billing_zone(self, billing: Billing | None) -> ZoneInfo:
        """The zone invoices count periods in: the business's, else the dashboard's."""
        name = billing.profile.business.timezone if billing is not None else ""
        return zone(name) if name else self.tz

    def pricer(self, store: Store) -> Pricer:
        """A pricer with the price book as it is now: overrides may be added while the server runs."""
        from spendtag.pricing.pricer import Pricer
        from spendtag.recording import price_book

        return Pricer(price_book(store, self.settings))

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()
