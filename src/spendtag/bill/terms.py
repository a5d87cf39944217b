"""Billing terms: how a client is charged for what its usage cost.

Four pricing models, set per client in the config or with flags:

* ``cost-plus``: cost plus a markup percentage (``markup = "30%"``).
* ``pass-through``: cost, nothing added (the default).
* ``fixed-fee``: a fee that covers usage up to a cap; usage above the cap is its own line,
  billed at cost (``overage = "bill"``) or absorbed (``overage = "absorb"``).
* ``per-unit``: a price per outcome, counted as the **distinct values** of a tag
  (``unit = "ticket"``: five calls tagged ``ticket=T-17`` are one ticket).

Amounts are exact: fees and prices are parsed into pico-USD, markups into a ``Decimal`` fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from spendtag.config_table import Table
from spendtag.errors import SpendtagError
from spendtag.money import MoneyError, format_usd, parse_amount
from spendtag.tags import check_key

Model = Literal["cost-plus", "pass-through", "fixed-fee", "per-unit"]
MODELS: tuple[str, ...] = ("cost-plus", "pass-through", "fixed-fee", "per-unit")
Overage = Literal["bill", "absorb"]


class BillingError(SpendtagError, ValueError):
    """Billing terms, an allocation or an invoice request that cannot be used as given."""


@dataclass(frozen=True, slots=True)
class Terms:
    model: Model = "pass-through"
    markup: Decimal = Decimal(0)      # a fraction: 0.3 for 30%
    fee: int = 0                      # pico-USD
    usage_cap: int = 0                # pico-USD of cost the fee covers
    overage: Overage = "bill"
    unit_key: str = ""                # per-unit: the tag whose distinct values are the units
    unit_price: int = 0               # pico-USD per unit

    def describe(self) -> str:
        if self.model == "cost-plus":
            return f"cost plus {percent_text(self.markup)} markup"
        if self.model == "fixed-fee":
            over = "billed at cost" if self.overage == "bill" else "absorbed"
            return (f"fixed fee {format_usd(self.fee)} covering usage up to {format_usd(self.usage_cap)}; "
                    f"usage above it {over}")
        if self.model == "per-unit":
            return f"{format_usd(self.unit_price)} per {self.unit_key} (distinct values of the {self.unit_key} tag)"
        return "pass-through at cost"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model}
        if self.model == "cost-plus":
            out["markup"] = str(self.markup)
        elif self.model == "fixed-fee":
            out.update(fee=format(Decimal(self.fee).scaleb(-12).normalize(), "f"),
                       usage_cap=format(Decimal(self.usage_cap).scaleb(-12).normalize(), "f"), overage=self.overage)
        elif self.model == "per-unit":
            out.update(unit=self.unit_key, price=format(Decimal(self.unit_price).scaleb(-12).normalize(), "f"))
        return out


def percent_text(fraction: Decimal) -> str:
    """0.3 -> '30%', 0.125 -> '12.5%'."""
    text = format((fraction * 100).normalize(), "f")
    return f"{text}%"


def parse_markup(text: str) -> Decimal:
    """``"30%"`` or ``"30"`` (percent) -> ``Decimal("0.3")``; never a float."""
    cleaned = str(text).strip().removesuffix("%").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise BillingError(f"markup {text!r} is not a percentage: write 30% (or 30)") from None
    if not value.is_finite() or not 0 <= value <= 1000:
        raise BillingError(f"markup {text!r} must be from 0 to 1000 percent")
    return value / 100


def _amount(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise BillingError(f"{what} must be an amount such as \"500.00\", got {value!r}")
    if isinstance(value, float):
        value = repr(value)       # a TOML float: its shortest text, never binary arithmetic
    if not isinstance(value, str | int | Decimal):
        raise BillingError(f"{what} must be an amount such as \"500.00\", got {value!r}")
    try:
        pico = parse_amount(value)
    except MoneyError as exc:
        raise BillingError(f"{what}: {exc}") from None
    if pico < 0:
        raise BillingError(f"{what} must not be negative")
    return pico


def parse_per_unit(text: str) -> tuple[str, int]:
    """``ticket=2.50`` -> (``"ticket"``, 2.50 USD in pico)."""
    key, sep, price = text.partition("=")
    if not sep:
        raise BillingError(f"--per-unit {text!r}: write TAGKEY=PRICE, e.g. ticket=2.50")
    try:
        check_key(key.strip())
    except ValueError as exc:
        raise BillingError(f"--per-unit: {exc}") from None
    return key.strip(), _amount(price, f"--per-unit price for {key.strip()}")


def from_flags(*, markup: str | None = None, pass_through: bool = False, fixed_fee: str | None = None,
               usage_cap: str | None = None, absorb_overage: bool = False,
               per_unit: str | None = None) -> Terms | None:
    """Terms from command-line flags, or None when no pricing flag was given."""
    chosen = [name for name, given in (("--markup", markup is not None), ("--pass-through", pass_through),
                                       ("--fixed-fee", fixed_fee is not None), ("--per-unit", per_unit is not None))
              if given]
    if len(chosen) > 1:
        raise BillingError(f"choose one pricing model: {' and '.join(chosen)} were both given")
    if (usage_cap is not None or absorb_overage) and fixed_fee is None:
        raise BillingError("--usage-cap and --absorb-overage go with --fixed-fee")
    if markup is not None:
        return Terms("cost-plus", markup=parse_markup(markup))
    if pass_through:
        return Terms("pass-through")
    if fixed_fee is not None:
        return Terms("fixed-fee", fee=_amount(fixed_fee, "--fixed-fee"),
                     usage_cap=_amount(usage_cap or "0", "--usage-cap"),
                     overage="absorb" if absorb_overage else "bill")
    if per_unit is not None:
        key, price = parse_per_unit(per_unit)
        return Terms("per-unit", unit_key=key, unit_price=price)
    return None


_KEYS: dict[str, tuple[str, ...]] = {
    "cost-plus": ("model", "markup"),
    "pass-through": ("model",),
    "fixed-fee": ("model", "fee", "usage_cap", "overage"),
    "per-unit": ("model", "unit", "price"),
}


def from_config(table: Table, details: tuple[str, ...] = ()) -> Terms:
    """Terms from a ``[billing.clients.NAME]`` (or ``[billing.default]``) table.

    ``details`` are the other keys the table may hold (the client's billing details, read by
    :mod:`spendtag.bill.profile`).
    """
    model = table.string("model", "cost-plus" if "markup" in table else "pass-through", choices=MODELS)
    table.only((*_KEYS[model], *details))
    if model == "cost-plus":
        if "markup" not in table:
            raise table.error("markup", "missing: cost-plus needs a markup", 'add markup = "30%"')
        try:
            return Terms("cost-plus", markup=parse_markup(_text(table.get("markup"))))
        except BillingError as exc:
            raise table.error("markup", str(exc), 'write markup = "30%"') from None
    if model == "fixed-fee":
        if "fee" not in table:
            raise table.error("fee", "missing: fixed-fee needs fee = \"500.00\" (and usage_cap)",
                              'add fee = "500.00"')
        return Terms("fixed-fee", fee=table.money("fee", positive=False, example="500.00") or 0,
                     usage_cap=table.money("usage_cap", positive=False, example="400.00") or 0,
                     overage=table.string("overage", "bill", choices=("bill", "absorb")))
    if model == "per-unit":
        for key, example in (("unit", "ticket"), ("price", "2.50")):
            if key not in table:
                raise table.error(key, 'missing: per-unit needs unit = "ticket" (a tag key) and price = "2.50"',
                                  f'add {key} = "{example}"')
        unit = table.string("unit", example="ticket")
        try:
            check_key(unit)
        except ValueError as exc:
            raise table.error("unit", str(exc), 'write unit = "ticket" (a tag key)') from None
        return Terms("per-unit", unit_key=unit, unit_price=table.money("price", positive=False, example="2.50") or 0)
    return Terms("pass-through")


def _text(value: object) -> str:
    """A markup as text: TOML floats through their shortest text, never binary arithmetic."""
    return repr(value) if isinstance(value, float) else str(value)
