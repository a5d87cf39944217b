"""The invoice document: what every format is rendered from, and what an issued invoice stores.

Amounts are exact ``Decimal`` USD (ledger costs are whole pico-USD; a markup may add finer
digits). Only ``total_due`` is rounded, to cents, half-even; ``rounding`` is the difference,
so the lines, the rounding and the total due always add up. The JSON form (:func:`to_json`)
round-trips exactly through :func:`from_json`, so a stored invoice renders as it did.

Those exact USD amounts are the agency's appendix (JSON, CSV). What the client receives is the
:class:`Document`: seller and bill-to blocks, dates, items in whole cents of the invoice's
currency that add up to the subtotal exactly, tax and the total due (made by
:mod:`spendtag.bill.document`, kept in the issued copy so it reprints identically).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, Rounded
from typing import Any

DOCUMENT_VERSION = 2
READ_VERSIONS = (1, 2)        # version 1: issued before the client document existed
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


def money(value: Decimal, currency: str) -> str:
    """An amount on the client's document: ``EUR 1,234.50``, ``EUR -1.00`` (whole cents, ISO code)."""
    cents = round_cents(value)
    return f"{currency} {'-' if cents < 0 else ''}{abs(cents):,.2f}"


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
    title: str = ""                 # how the client's document names it (empty: the label)


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
class Party:
    """The seller or the client as the document names them."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str = ""
    email: str = ""
    more: tuple[str, ...] = ()      # phone, website


@dataclass(frozen=True, slots=True)
class Item:
    """A line of the client's document, in whole cents of its currency."""

    description: str
    amount: Decimal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Tax:
    label: str                      # "VAT 20%" or "VAT (reverse charge)"
    rate: Decimal                   # a fraction: 0.2
    base: Decimal
    amount: Decimal
    reverse_charge: bool = False


@dataclass(frozen=True, slots=True)
class Exchange:
    """The rate the usage (USD) was converted at: ``rate`` units of ``currency`` per 1 USD, as of ``on``."""

    currency: str
    rate: Decimal
    on: str
    source: str = ""                # where the agency took it from (appendix only)


@dataclass(frozen=True, slots=True)
class Document:
    """What the client receives: every amount in ``currency``, 2 decimals, adding up exactly."""

    currency: str
    seller: Party
    bill_to: Party
    issue_date: str
    due_date: str
    terms_days: int
    service_from: str
    service_to: str                 # inclusive
    items: tuple[Item, ...]
    subtotal: Decimal
    taxes: tuple[Tax, ...]
    total: Decimal
    po_number: str = ""
    exchange: Exchange | None = None
    payment: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    logo: str = ""                  # a data: URI (PNG or JPEG), kept so a reprint is identical
    layout: str = "folded"
    carried: Decimal = Decimal("0.00")   # credit left over for the next invoice, in ``currency``


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
    document: Document | None = None            # the client's document (None only while it is being built)

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
                   "amount": _money(x.amount), "note": x.note, "title": x.title} for x in inv.lines],
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
        "client_document": None if inv.document is None else _document_dict(inv.document),
    }


def _party_dict(p: Party) -> dict[str, Any]:
    return {"name": p.name, "address": list(p.address), "tax_id": p.tax_id, "email": p.email, "more": list(p.more)}


def _party(d: dict[str, Any]) -> Party:
    return Party(d["name"], tuple(d["address"]), d["tax_id"], d["email"], tuple(d["more"]))


def _document_dict(doc: Document) -> dict[str, Any]:
    ex = doc.exchange
    return {
        "currency": doc.currency, "seller": _party_dict(doc.seller), "bill_to": _party_dict(doc.bill_to),
        "issue_date": doc.issue_date, "due_date": doc.due_date, "terms_days": doc.terms_days,
        "service_from": doc.service_from, "service_to": doc.service_to,
        "items": [{"description": i.description, "amount": _money(i.amount), "detail": i.detail} for i in doc.items],
        "subtotal": _money(doc.subtotal),
        "taxes": [{"label": t.label, "rate": _money(t.rate), "base": _money(t.base), "amount": _money(t.amount),
                   "reverse_charge": t.reverse_charge} for t in doc.taxes],
        "total": _money(doc.total), "po_number": doc.po_number,
        "exchange": None if ex is None else {"currency": ex.currency, "rate": _money(ex.rate), "on": ex.on,
                                             "source": ex.source},
        "payment": list(doc.payment), "notes": list(doc.notes), "logo": doc.logo, "layout": doc.layout,
        "carried": _money(doc.carried),
    }


def _document(d: dict[str, Any]) -> Document:
    ex = d["exchange"]
    return Document(
        currency=d["currency"], seller=_party(d["seller"]), bill_to=_party(d["bill_to"]), issue_date=d["issue_date"],
        due_date=d["due_date"], terms_days=int(d["terms_days"]), service_from=d["service_from"],
        service_to=d["service_to"],
        items=tuple(Item(i["description"], _dec(i["amount"]), i["detail"]) for i in d["items"]),
        subtotal=_dec(d["subtotal"]),
        taxes=tuple(Tax(t["label"], _dec(t["rate"]), _dec(t["base"]), _dec(t["amount"]), bool(t["reverse_charge"]))
                    for t in d["taxes"]),
        total=_dec(d["total"]), po_number=d["po_number"],
        exchange=None if ex is None else Exchange(ex["currency"], _dec(ex["rate"]), ex["on"], ex["source"]),
        payment=tuple(d["payment"]), notes=tuple(d["notes"]), logo=d["logo"], layout=d["layout"],
        carried=_dec(d["carried"]),
    )


def from_dict(d: dict[str, Any]) -> Invoice:
    if d.get("document") != "spendtag invoice" or d.get("version") not in READ_VERSIONS:
        raise ValueError(f"not a spendtag invoice document (version {' or '.join(map(str, READ_VERSIONS))})")

    def opt(value: Any) -> Decimal | None:
        return None if value is None else _dec(value)

    return Invoice(
        client_key=d["client_key"], client=d["client"], period=d["period"]["label"], since=d["period"]["since"],
        until=d["period"]["until"], tz=d["period"]["tz"], group_by=d["group_by"], terms=d["terms"],
        terms_text=d["terms_text"],
        lines=tuple(Line(x["kind"], x["label"], _dec(x["amount"]), x["requests"], x["tokens"], x["note"],
                         x.get("title", "")) for x in d["lines"]),
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
        # Version 1 documents have none: spendtag.bill.document.of() derives one, the same each time.
        document=_document(d["client_document"]) if d.get("client_document") else None,
    )


def to_json(inv: Invoice) -> str:
    return json.dumps(to_dict(inv), indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> Invoice:
    return from_dict(json.loads(text))
