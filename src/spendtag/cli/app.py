"""The object every command gets: settings, the ledger, the recorder, the console."""

from __future__ import annotations

import os
import sys
from functools import cached_property
from zoneinfo import ZoneInfo

from rich.console import Console

from spendtag import settings as settings_mod
from spendtag.ledger import Store, open_store
from spendtag.periods import zone
from spendtag.pricing import PriceBook, Pricer
from spendtag.recording import Recorder, price_book


class App:
    def __init__(self, db: str | None = None, tz: str | None = None) -> None:
        self._flags = {"db": db, "tz": tz}
        self._store: Store | None = None

    @cached_property
    def settings(self) -> settings_mod.Settings:
        return settings_mod.load(self._flags)

    @cached_property
    def tz(self) -> ZoneInfo:
        return zone(self.settings["tz"])

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.db)
        return self._store

    @cached_property
    def book(self) -> PriceBook:
        return price_book(self.store, self.settings)

    @cached_property
    def pricer(self) -> Pricer:
        return Pricer(self.book)

    @cached_property
    def recorder(self) -> Recorder:
        return Recorder(self.store, self.pricer)

    @cached_property
    def console(self) -> Console:
        # Wide enough for report tables when output is not a terminal (pipes, tests).
        width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
        return Console(width=width, highlight=False, soft_wrap=False)

    @cached_property
    def err(self) -> Console:
        return Console(stderr=True, highlight=False)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
