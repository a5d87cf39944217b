"""Shared cost: spend no client tag claims, and how an invoice run splits it.

Policies: ``overhead`` (left out of every invoice), ``proportional`` (to each client's tagged
spend), ``even``, or ``fixed:acme=60,globex=40`` (percentages summing to 100).

Allocation is exact: the parts are whole pico-USD and always sum to the amount split. Each
client first gets the floor of its exact share; the pico left over go one each to the
largest fractional remainders (ties by client name), the largest-remainder method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from spendtag.bill.terms import BillingError, percent_text

Policy = Literal["overhead", "proportional", "even", "fixed"]
POLICIES: tuple[str, ...] = ("overhead", "proportional", "even", "fixed")


def largest_remainder(amount: int, weights: Mapping[str, int | Fraction]) -> dict[str, int]:
    """Split ``amount`` pico by ``weights``; the parts sum to ``amount`` exactly (all zero if no weight)."""
    total = sum(weights.values(), Fraction(0))
    if amount == 0 or total <= 0:
        return {k: 0 for k in weights}
    quotas = {k: Fraction(amount) * Fraction(w) / total for k, w in weights.items()}
    parts = {k: math.floor(q) for k, q in quotas.items()}
    left = amount - sum(parts.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - parts[k]), k))[:left]:
        parts[k] += 1
    return parts


def round_to_total(values: Sequence[Fraction], total: int) -> list[int]:
    """Whole units (cents) for exact ``values`` that add up to ``total``, the rounded sum of ``values``.

    The same largest-remainder method: each value first gets its floor; the units left over go one
    each to the largest fractional remainders (ties: the earlier value). Each part is then within
    one unit of its exact value, and no "rounding" line is ever needed.
    """
    parts = [math.floor(v) for v in values]
    left = total - sum(parts)
    if not 0 <= left <= len(values):
        raise ValueError(f"{total} is not the rounded sum of the values")
    for i in sorted(range(len(values)), key=lambda i: (-(values[i] - parts[i]), i))[:left]:
        parts[i] += 1
    return parts


@dataclass(frozen=True, slots=True)
class Allocation:
    policy: Policy = "overhead"
    shares: Mapping[str, Decimal] = field(default_factory=dict)   # fixed: client -> percent

    @classmethod
    def parse(cls, text: str) -> Allocation:
        text = text.strip()
        name, _, rest = text.partition(":")
        if name not in POLICIES:
            raise BillingError(f"allocation {text!r}: use overhead, proportional, even or "
                               "fixed:acme=60,globex=40")
        if name != "fixed":
            if rest:
                raise BillingError(f"allocation {name} takes no values (only fixed:acme=60,globex=40 does)")
            return cls(name)  # type: ignore[arg-type]
        shares: dict[str, Decimal] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            client, sep, pct = part.partition("=")
            try:
                value = Decimal(pct.strip().removesuffix("%"))
            except InvalidOperation:
                value = Decimal("NaN")
            if not sep or not client.strip() or not value.is_finite() or value < 0:
                raise BillingError(f"allocation fixed: {part!r} should look like acme=60 (a percentage)")
            shares[client.strip()] = value
        if sum(shares.values()) != 100:
            raise BillingError(f"allocation fixed: percentages sum to {sum(shares.values())}, not 100")
        return cls("fixed", shares)

    def describe(self) -> str:
        if self.policy == "fixed":
            return "fixed: " + ", ".join(f"{c} {percent_text(p / 100)}" for c, p in self.shares.items())
        return self.policy

    def split(self, amount: int, spend: Mapping[str, int]) -> dict[str, int]:
        """Each client's part of ``amount`` (the shared cost) given each client's tagged spend.

        Clients absent from the result get nothing. ``proportional`` with no tagged spend at
        all, and ``even`` with no clients, allocate nothing: it all stays overhead.
        """
        weights: dict[str, int | Fraction]
        if self.policy == "proportional":
            weights = dict(spend)
        elif self.policy == "even":
            weights = dict.fromkeys(spend, 1)
        elif self.policy == "fixed":
            weights = {c: Fraction(p) for c, p in self.shares.items()}
        else:
            return {}
        return {k: v for k, v in largest_remainder(amount, weights).items() if v}
