"""The invoice document: what every format is rendered from, and what an issued invoice stores.

Amounts are exact ``Decimal`` USD (ledger costs are whole pico-USD; a markup may add finer
digits). Only ``total_due`` is rounded, to cents, half-even; ``rounding`` is the difference,
so the lines, the rounding and the total due always add up. The JSON form (:func:`to_json`)
round-trips exactly through :func:`from_json`, so a stored invoice renders as it did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, Rounded
from typing import Any

DOCUMENT_VERSION = 1
# Any result that would need rounding raises instead: invoice arithmetic is exact.
EXACT = Context(prec=120, rounding=ROUND_HALF_EVEN,
                traps=[Inexact, Rounded, InvalidOperation, DivisionByZero, Overflow])
CENT = Decimal("0.01")


def round_cents(value: Decimal) -> Decimal:
    """The one rounding on an invoice: half-even to cents (the rule of :func:`spendtag.money.round_cents`)."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> str:
    """Exact USD as a plain number for CSV: ``55.000000000000`` -> ``55.00``; every significant digit kept."""
    text = format(abs(value), "f")
    whole, _, frac = text.partition(".")
    return f"{'-' if value < 0 else ''}{whole}.{frac.rstrip('0').ljust(2, '0')}"


def usd(value: Decimal) -> str:
    """Exact USD for people: ``$1,234.5`` -> ``$1,234.50``; every significant digit kept; ``-$1.00``."""
    whole, _, frac = plain(abs(value)).partition(".")
    return f"{'-' if value < 0 else ''}${int(whole):,}.{frac}"


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = EXACT.add(total, v)
    return total


@dataclass(frozen=True, slots=True)
class Line:
    """A cost line: usage (per group), a fixed cost, a credit (negative) or an allocated share."""

    kind: str                       # usage | fixed | credit | allocation
    label: str
    amount: Decimal
    requests: int | None = None
    tokens: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Charge:
    """What the client is charged under its terms; ``billed=False`` lines are shown, not added."""

    kind: str                       # cost | markup | fee | overage | units
    label: str
    amount: Decimal
    billed: bool = True
    quantity: int | None = None     # per-unit: units counted
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None  # per-unit: cost per unit (informational, rounded to cents)


@dataclass(frozen=True, slots=True)
class EventRef:
    id: str
    ts: str
    amount: Decimal
    price: int | None               # index into Invoice.prices; None when unpriced


@dataclass(frozen=True, slots=True)
class CreditUse:
    """A credit owed to the client (``record-cost --credit``) as this invoice used it."""

    id: str
    day: str
    note: str
    available: Decimal              # what was left of the credit for this invoice
    applied: Decimal                # taken off this invoice's total; the rest is carried to the next


@dataclass(frozen=True, slots=True)
class Invoice:
    client_key: str
    client: str
    period: str                     # as asked: 2026-03
    since: str                      # ISO UTC, inclusive
    until: str                      # ISO UTC, exclusive
    tz: str
    group_by: str
    terms: dict[str, Any]
    terms_text: str
    lines: tuple[Line, ...]
    cost: Decimal                   # everything attributed at list price (usage and fixed costs)
    credits: Decimal                # credited usage at list price (a positive amount, shown negative)
    allocated: Decimal              # this client's part of the shared cost
    charges: tuple[Charge, ...]
    total_exact: Decimal
    rounding: Decimal
    total_due: Decimal
    price_sources: tuple[str, ...]
    statement: tuple[str, ...]
    unpriced: tuple[tuple[str, str, int], ...] = ()    # (provider, model, calls)
    prices: tuple[dict[str, Any], ...] = ()
    events: tuple[EventRef, ...] = ()
    number: str | None = None
    issued_on: str | None = None
    issuer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    credit_uses: tuple[CreditUse, ...] = ()     # credits owed to the client, oldest first (charges "credit")
    credit_carried: Decimal = Decimal("0.00")   # credit left over when credits exceed the charges

    @property
    def net_cost(self) -> Decimal:
        """What the client's usage cost the agency: list cost less credits plus its shared part."""
        return EXACT.add(EXACT.subtract(self.cost, self.credits), self.allocated)

    @property
    def title(self) -> str:
        return f"Invoice {self.number}" if self.number else "Invoice (draft, not issued)"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"an amount in an invoice document must be a string, got {value!r}")
    return Decimal(value)


def to_dict(inv: Invoice) -> dict[str, Any]:
    return {
        "document": "spendtag invoice",
        "version": DOCUMENT_VERSION,
        "number": inv.number,
        "issued_on": inv.issued_on,
        "issuer": inv.issuer,
        "client_key": inv.client_key,
        "client": inv.client,
        "period": {"label": inv.period, "since": inv.since, "until": inv.until, "tz": inv.tz},
        "group_by": inv.group_by,
        "terms": inv.terms,
        "terms_text": inv.terms_text,
        "lines": [{"kind": x.kind, "label": x.label, "requests": x.requests, "tokens": x.tokens,
                   "amount": _money(x.amount), "note": x.note} for x in inv.lines],
        "cost": _money(inv.cost),
        "credits": _money(inv.credits),
        "allocated": _money(inv.allocated),
        "charges": [{"kind": c.kind, "label": c.label, "amount": _money(c.amount), "billed": c.billed,
                     "quantity": c.quantity, "unit_price": _money(c.unit_price), "unit_cost": _money(c.unit_cost)}
                    for c in inv.charges],
        "total_exact": _money(inv.total_exact),
        "rounding": _money(inv.rounding),
        "total_due": _money(inv.total_due),
        "price_sources": list(inv.price_sources),
        "statement": list(inv.statement),
        "unpriced": [{"provider": p, "model": m, "calls": n} for p, m, n in inv.unpriced],
        "extra": inv.extra,
        "prices": list(inv.prices),
        "events": [{"id": e.id, "ts": e.ts, "amount": _money(e.amount), "price": e.price} for e in inv.events],
        "credit_uses": [{"id": u.id, "day": u.day, "note": u.note, "available": _money(u.available),
                         "applied": _money(u.applied)} for u in inv.credit_uses],
        "credit_carried": _money(inv.credit_carried),
    }


def from_dict(d: dict[str, Any]) -> Invoice:
    if d.get("document") != "spendtag invoice" or d.get("version") != DOCUMENT_VERSION:
        raise ValueError("not a spendtag invoice document (version 1)")

    def opt(value: Any) -> Decimal | None:
        return None if value is None else _dec(value)

    return Invoice(
        client_key=d["client_key"], client=d["client"], period=d["period"]["label"], since=d["period"]["since"],
        until=d["period"]["until"], tz=d["period"]["tz"], group_by=d["group_by"], terms=d["terms"],
        terms_text=d["terms_text"],
        lines=tuple(Line(x["kind"], x["label"], _dec(x["amount"]), x["requests"], x["tokens"], x["note"])
                    for x in d["lines"]),
        cost=_dec(d["cost"]), credits=_dec(d["credits"]), allocated=_dec(d["allocated"]),
        charges=tuple(Charge(c["kind"], c["label"], _dec(c["amount"]), c["billed"], c["quantity"],
                             opt(c["unit_price"]), opt(c["unit_cost"])) for c in d["charges"]),
        total_exact=_dec(d["total_exact"]), rounding=_dec(d["rounding"]), total_due=_dec(d["total_due"]),
        price_sources=tuple(d["price_sources"]), statement=tuple(d["statement"]),
        unpriced=tuple((u["provider"], u["model"], u["calls"]) for u in d["unpriced"]),
        prices=tuple(d["prices"]),
        events=tuple(EventRef(e["id"], e["ts"], _dec(e["amount"]), e["price"]) for e in d["events"]),
        number=d["number"], issued_on=d["issued_on"], issuer=d["issuer"], extra=d["extra"],
        # Documents issued before credits existed have neither key.
        credit_uses=tuple(CreditUse(u["id"], u["day"], u["note"], _dec(u["available"]), _dec(u["applied"]))
                          for u in d.get("credit_uses", ())),
        credit_carried=_dec(d.get("credit_carried", "0.00")),
    )


def to_json(inv: Invoice) -> str:
    return json.dumps(to_dict(inv), indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> Invoice:
    return from_dict(json.loads(text))
