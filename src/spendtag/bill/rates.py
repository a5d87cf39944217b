"""Exchange rates: invoicing a client in another currency than the usage (USD).

A rate is how many units of the invoice currency one USD buys (``EUR = 0.92``), exact. Where it
comes from, first found wins:

1. ``spendtag invoice --rate EUR=0.92`` (``EUR=0.92@2026-03-31`` to state the date it is of);
2. ``[billing.rates]`` in the config: ``EUR = "0.92"`` (optionally ``date = 2026-03-31``);
3. ``[billing.rates] source = "rates.csv"``: a file of ``date,currency,rate`` rows (any order),
   of which the latest on or before the issue date is used (a bank's or an ECB export, turned
   into units per USD).

The invoice states the rate and its date (the issue date when none is given), and the issued
copy keeps both, so a reprint is identical whatever the rates do later.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from spendtag.bill.model import Exchange
from spendtag.bill.terms import BillingError
from spendtag.config_table import Table

BASE = "USD"
MOST = Decimal(1_000_000)


def parse_rate(text: str, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 < value <= MOST or value.as_tuple().exponent < -12:  # type: ignore[operator]
        raise BillingError(f"{what}: {str(text)[:40]!r} is not a rate: give units of the currency per 1 USD, "
                           "e.g. 0.92 (more than 0, at most 12 decimals)")
    return value


def _code(text: str, what: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise BillingError(f"{what}: {text.strip()[:20]!r} is not an ISO 4217 currency code such as EUR")
    return code


@dataclass(frozen=True, slots=True)
class Rate:
    currency: str
    rate: Decimal
    on: date | None = None      # None: the invoice's issue date
    source: str = ""


def parse_flag(text: str) -> Rate:
    """``EUR=0.92`` or ``EUR=0.92@2026-03-31``."""
    code, sep, rest = text.partition("=")
    if not sep:
        raise BillingError(f"--rate {text[:40]!r}: write CURRENCY=RATE, e.g. EUR=0.92 (units per 1 USD)")
    value, _, day = rest.partition("@")
    on = None
    if day:
        try:
            on = date.fromisoformat(day.strip())
        except ValueError:
            raise BillingError(f"--rate {text[:40]!r}: {day.strip()[:20]!r} is not a date such as 2026-03-31") from None
    return Rate(_code(code, "--rate"), parse_rate(value, "--rate"), on, "given")


@dataclass(frozen=True, slots=True)
class Rates:
    given: Mapping[str, Rate] = field(default_factory=dict)     # --rate
    config: Mapping[str, Rate] = field(default_factory=dict)    # [billing.rates]
    source: Path | None = None                                  # [billing.rates] source

    def with_given(self, flags: tuple[str, ...]) -> Rates:
        given = dict(self.given)
        for text in flags:
            rate = parse_flag(text)
            given[rate.currency] = rate
        return Rates(given, self.config, self.source)

    def exchange(self, currency: str, on: date, client: str) -> Exchange | None:
        """The rate to invoice ``client`` in ``currency`` on ``on`` (None for USD itself)."""
        if currency == BASE:
            return None
        found = self.given.get(currency) or self.config.get(currency)
        if found is None and self.source is not None:
            found = _from_file(self.source, currency, on)
        if found is None:
            raise BillingError(f"{client} is invoiced in {currency}: give the rate with --rate {currency}=0.92 "
                               f"(units per 1 USD), or set [billing.rates] {currency} = \"0.92\" in the config")
        return Exchange(currency, found.rate, (found.on or on).isoformat(), found.source)


def from_sections(sections: Mapping[str, Any], *, path: str = "config") -> Rates:
    bill = Table(sections.get("billing", {}), path=path, key=("billing",), label="[billing]")
    table = bill.table("rates", example="[billing.rates] with lines such as EUR = \"0.92\"")
    on = table.day("date")
    config: dict[str, Rate] = {}
    source = None
    for key, raw in table.data.items():
        if key == "date":
            continue
        if key == "source":
            source = Path(table.string("source", example="rates.csv")).expanduser()
            continue
        try:
            code = _code(key, "[billing.rates]")
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise BillingError(f"{raw!r} is not a rate")
            config[code] = Rate(code, parse_rate(repr(raw) if isinstance(raw, float) else str(raw), key), on, "config")
        except BillingError as exc:
            raise table.error(key, str(exc), 'write EUR = "0.92" (units of the currency per 1 USD)') from None
    return Rates({}, config, source)


def _from_file(path: Path, currency: str, on: date) -> Rate | None:
    best: tuple[date, Decimal] | None = None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for n, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].strip().lower() == "date" or row[0].lstrip().startswith("#"):
                    continue
                if len(row) < 3:
                    raise BillingError(f"{path.name}:{n}: write date,currency,rate (e.g. 2026-03-31,EUR,0.92)")
                try:
                    day = date.fromisoformat(row[0].strip())
                except ValueError:
                    raise BillingError(f"{path.name}:{n}: {row[0].strip()[:20]!r} is not a date") from None
                if _code(row[1], f"{path.name}:{n}") != currency or day > on:
                    continue
                rate = parse_rate(row[2], f"{path.name}:{n}")
                if best is None or day >= best[0]:
                    best = (day, rate)
    except OSError as exc:
        raise BillingError(f"[billing.rates] source: cannot read {str(path)[:200]}: {exc.strerror or exc}") from None
    if best is None:
        return None
    return Rate(currency, best[1], best[0], path.name)


__all__ = ["BASE", "Rate", "Rates", "from_sections", "parse_flag", "parse_rate"]
