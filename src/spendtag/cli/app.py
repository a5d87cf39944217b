"""The object every command gets: settings, the ledger, the recorder, the console.

Everything is made on first use, so a command pays only for what it touches.
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rich.console import Console

    from spendtag.attribution import Rules
    from spendtag.guard.alerts import Channel
    from spendtag.guard.budgets import Budget
    from spendtag.ledger import Store
    from spendtag.pricing import PriceBook
    from spendtag.pricing.pricer import Pricer
    from spendtag.recording import Recorder
    from spendtag.settings import Settings


class App:
    def __init__(self, db: str | None = None, tz: str | None = None) -> None:
        self._flags = {"db": db, "tz": tz}
        self._store: Store | None = None

    @cached_property
    def settings(self) -> Settings:
        from spendtag import settings

        return settings.load(self._flags)

    @cached_property
    def tz(self) -> ZoneInfo:
        from spendtag.periods import zone

        return zone(self.settings["tz"])

    @property
    def store(self) -> Store:
        if self._store is None:
            from spendtag.ledger import open_store

            self._store = open_store(self.settings.db)
        return self._store

    @cached_property
    def book(self) -> PriceBook:
        from spendtag.recording import price_book

        return price_book(self.store, self.settings)

    @cached_property
    def pricer(self) -> Pricer:
        from spendtag.pricing.pricer import Pricer

        return Pricer(self.book)

    @cached_property
    def recorder(self) -> Recorder:
        from spendtag.recording import Recorder

        return Recorder(self.store, self.pricer)

    @cached_property
    def budgets(self) -> list[Budget]:
        from spendtag.guard import budgets

        return budgets.load(self.store, self.settings.sections.get("budgets"),
                            config_path=str(self.settings.config_path), channels=self.settings.alert_channels)

    @cached_property
    def channels(self) -> dict[str, Channel]:
        from spendtag.guard.alerting import channels_from_config

        return channels_from_config(self.settings.sections.get("alerts"), path=str(self.settings.config_path))

    @cached_property
    def rules(self) -> Rules:
        from spendtag.attribution import Rules

        return Rules.load(self.store, self.settings.sections.get("attribution"), path=str(self.settings.config_path))

    def fire_alerts(self) -> None:
        """Fire and deliver the budget alerts now due (after recording); never fails the command."""
        from spendtag.guard import alerting

        if not self.budgets:
            return
        try:
            fired = alerting.run(self.store, self.budgets, self.channels, tz=self.tz)
        except Exception as exc:  # noqa: BLE001 - recording already succeeded; say why alerts did not go out
            self.err.print(f"[yellow]warning:[/] budget alerts not evaluated: {exc}")
            return
        for alert in fired:
            self.err.print(f"[yellow]alert:[/] budget {alert.budget} passed {alert.threshold} ({alert.period})",
                           markup=True, highlight=False)

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        # Wide enough for report tables when output is not a terminal (pipes, tests).
        width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
        return Console(width=width, highlight=False, soft_wrap=False)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
