"""Parameter types for values a person types on the command line: amounts, days, bounded counts.

Each turns the text into its value where click parses it, so a bad one is click's own
one-line error that names the option, and the command never sees a value the ledger,
``Decimal`` or date arithmetic cannot hold. Kept free of heavy imports: ``spendtag proxy``
and ``spendtag serve`` load it at start-up.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click


class Amount(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic from click 8.2 on
    """USD as a person types it (``49.00``, ``$1,250.50``): exact pico-USD, within the amount limit.

    A bad one is click's own one-line error that names the option."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        from spendtag.money import MoneyError, parse_amount

        try:
            return parse_amount(str(value))
        except MoneyError as exc:
            self.fail(f"{str(value)[:80]!r}: {exc} (give USD, e.g. 49.00)", param, ctx)


class Day(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A calendar day, ``2026-03-01``."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{str(value)[:80]!r} is not a day: give one such as 2026-03-01", param, ctx)


class Seconds(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A time in seconds, from 0.1 to an hour (never NaN or infinity, which a float range lets through)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not 0.1 <= seconds <= 3600:      # False for NaN
            self.fail(f"{str(value)[:80]!r}: give seconds from 0.1 to 3600", param, ctx)
        return seconds


AMOUNT = Amount()
SECONDS = Seconds()
DAY = Day()
# Counts a person gives (rows to show, days or hours to look back): bounded, so that no
# database or date arithmetic ever sees a number it cannot hold.
ROWS = click.IntRange(min=0, max=1_000_000)
DAYS = click.IntRange(min=1, max=36_600)
HOURS = click.IntRange(min=1, max=24 * 36_600)
PORT = click.IntRange(min=0, max=65_535)
