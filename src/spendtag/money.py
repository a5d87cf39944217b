"""Exact money.

Every amount spendtag stores or adds is an ``int`` of **pico-USD** (1e-12 USD). Provider
list prices are quoted per million tokens with up to six decimals, so one token costs a
whole number of pico-USD under every such rate: per-call costs are exact, and so is every
sum of them. Amounts become ``Decimal`` only at the edges (display, CSV, JSON), and are
rounded to cents only where a person reads a total, half-even, and never before.

Floats never touch money: :func:`parse_usd` refuses them.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, DecimalException, InvalidOperation

from spendtag.errors import SpendtagError

PICO_PER_USD = 10**12
_PICO = Decimal(PICO_PER_USD)
_CENT = Decimal("0.01")
# The most a person may give as one amount (a limit, a fee, a fixed cost, a credit): stored
# in pico-USD, it and the thresholds and sums made of it stay far inside a 64-bit integer
# (2**63 pico-USD is about $9.2 million).
MAX_AMOUNT_USD = 1_000_000
MAX_AMOUNT = MAX_AMOUNT_USD * PICO_PER_USD
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?\Z")


class MoneyError(SpendtagError, ValueError):
    """An amount that cannot be represented exactly, or is not an amount at all."""


def from_decimal(usd: Decimal, *, exact: bool = False) -> int:
    """USD as a Decimal to pico-USD, rounding half-even below 1e-12 unless ``exact``."""
    if not usd.is_finite():
        raise MoneyError(f"not a finite amount: {usd}")
    scaled = usd * _PICO
    rounded = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    if exact and rounded != scaled:
        raise MoneyError(f"{usd} USD is finer than 1e-12 USD")
    return int(rounded)


def to_decimal(pico: int) -> Decimal:
    """pico-USD to USD as an exact Decimal, without trailing zeros beyond the cents."""
    value = Decimal(pico) / _PICO
    # Keep at least two decimals so "1.50" reads as money; never drop significant digits.
    if value == value.quantize(_CENT):
        return value.quantize(_CENT)
    return value.normalize()


def parse_usd(text: str | int | Decimal) -> int:
    """Parse an amount such as ``"49.00"``, ``"$1,250.5"`` or ``Decimal("0.01")``; floats are refused."""
    if isinstance(text, bool | float):
        raise MoneyError("money must not come from a binary float; pass a string or Decimal")
    if isinstance(text, int):
        return text * PICO_PER_USD
    if isinstance(text, Decimal):
        return from_decimal(text, exact=True)
    cleaned = text.strip().replace("_", "")
    if cleaned.startswith("$"):
        cleaned = cleaned[1:]
    if "," in cleaned:
        if not _GROUPED.match(cleaned):     # "1,2,3" is not $123
            raise MoneyError(f"not an amount: {text[:80]!r} (commas go between thousands only, e.g. 1,250.50)")
        cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise MoneyError(f"not an amount: {text!r} (expected something like 49.00)") from None
    try:
        return from_decimal(value, exact=True)
    except DecimalException:    # e.g. 1e999999999: beyond what Decimal arithmetic holds
        raise MoneyError(f"not an amount spendtag can hold: {text!r}") from None


def parse_amount(text: str | int | Decimal) -> int:
    """An amount a person gave (a flag, a config value), as :func:`parse_usd`, and at most
    :data:`MAX_AMOUNT_USD` either way."""
    pico = parse_usd(text)
    if abs(pico) > MAX_AMOUNT:
        raise MoneyError(f"{text!s} USD is more than one amount may be (at most {MAX_AMOUNT_USD:,} USD)")
    return pico


def round_cents(pico: int) -> Decimal:
    """The amount in USD rounded half-even to whole cents (the only place money is rounded)."""
    return (Decimal(pico) / _PICO).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def format_usd(pico: int, *, places: int = 2) -> str:
    """``$1,234.57``; small non-zero amounts keep enough places to stay visible."""
    value = Decimal(pico) / _PICO
    if pico and abs(value) < Decimal("0.01") and places == 2:
        places = 6 if abs(value) >= Decimal("0.000001") else 12
    quantum = Decimal(1).scaleb(-places)
    shown = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
    sign = "-" if shown < 0 else ""
    return f"{sign}${abs(shown):,.{places}f}"


def exact_str(pico: int) -> str:
    """The exact decimal USD string used in CSV and JSON (no exponent, no float)."""
    whole, frac = divmod(abs(pico), PICO_PER_USD)
    digits = f"{frac:012d}".rstrip("0")
    if len(digits) < 2:
        digits = digits.ljust(2, "0")      # at least the cents, as to_decimal keeps them
    return f"{'-' if pico < 0 else ''}{whole}.{digits}"


# -- on screen ---------------------------------------------------------------------------------

_ONE_CENT = PICO_PER_USD // 100


def screen(pico: int) -> str:
    """An amount as every screen shows it (CLI tables, dashboard): the one rule.

    Whole cents, rounded half-even from the exact pico-USD (``$1,234.57``); a non-zero amount
    smaller than a cent is ``<$0.01`` (``-<$0.01`` below zero), never ``$0.00``. Detail views
    (one event) and exports keep full precision instead (:func:`exact_str`); an unknown cost
    is "unpriced", which callers say themselves (:func:`format_cost`).
    """
    if pico and abs(pico) < _ONE_CENT:
        return "<$0.01" if pico > 0 else "-<$0.01"
    shown = round_cents(pico)
    return f"{'-' if shown < 0 else ''}${abs(shown):,.2f}"


def format_cost(pico: int, requests: int, unpriced: int) -> str:
    """A cost for people, by :func:`screen`'s rule: unpriced calls counted beside the priced sum, never $0.00."""
    if requests and unpriced >= requests:
        return f"— ({unpriced:,} unpriced)"
    if unpriced:
        return f"{screen(pico)} + {unpriced:,} unpriced"
    return screen(pico)


# Buckets priced per request rather than per token: shown per thousand.
_PER_REQUEST = {"web_search_requests": "searches", "request_fee": "requests"}


def per_million(usd_per_unit: str | Decimal, bucket: str = "") -> str:
    """A rate (USD per token, as a PriceRef keeps it) per million tokens: ``$3.00 / M input``.

    Exact (rates have at most six decimals per million), at least two decimals. Per-request
    buckets (web searches, request fees) are shown per thousand: ``$10.00 / 1k searches``.
    """
    rate = Decimal(usd_per_unit)
    if bucket in _PER_REQUEST:
        scaled, unit = rate.scaleb(3), f"1k {_PER_REQUEST[bucket]}"
    else:
        name = bucket.removesuffix("_tokens").replace("_", " ")
        scaled, unit = rate.scaleb(6), f"M {name}".rstrip()
    whole_cents = scaled == scaled.quantize(_CENT)
    text = f"{scaled.quantize(_CENT):,.2f}" if whole_cents else f"{scaled.normalize():,f}"
    return f"{'-' if scaled < 0 else ''}${text.lstrip('-')} / {unit}"
