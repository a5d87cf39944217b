"""The client's document: from an invoice's exact USD amounts to whole cents of its currency.

Each item's exact value is worked out first, as a fraction, in USD: a usage or fixed-cost line,
with (``folded``, the default) its part of the shared cost, in proportion to its cost, and the
markup inside it, or (``separate``) at cost with the shared cost and a service fee as lines of
their own; a fixed fee, overage or units; then the credits owed to the client, as applied. They
add up to the invoice's exact total (checked). Each is then multiplied by the exchange rate and
the subtotal is the exact sum rounded to cents, half-even, once. The items are rounded to cents
so that they add up to that subtotal exactly, by the largest-remainder method
(:func:`~spendtag.bill.allocation.round_to_total`): never a "rounding" line. Tax is the subtotal
times the client's rate, rounded to cents half-even; the total due is their sum.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from spendtag.bill.allocation import round_to_total
from spendtag.bill.model import CENT, EXACT, Document, Exchange, Invoice, Item, Line, Party, Tax, money
from spendtag.bill.profile import REVERSE_CHARGE_NOTE, Business, ClientBilling, Profile
from spendtag.bill.terms import BillingError, percent_text
from spendtag.periods import zone

OTHER_GROUPS = ("(none)", "(untagged)")


def _detail(x: Line) -> str:
    if x.kind != "usage":
        return ""
    parts = []
    if x.requests:
        parts.append(f"{x.requests:,} request{'s' if x.requests != 1 else ''}")
    if x.tokens:
        parts.append(f"{x.tokens:,} tokens")
    return " · ".join(parts)


def _describe(x: Line) -> str:
    if x.title:
        return x.title
    return "Other usage" if x.label in OTHER_GROUPS else x.label


def _usd(value: Decimal) -> str:
    return money(value, "USD")


def exact_items(inv: Invoice, layout: str) -> list[tuple[str, str, Fraction]]:
    """(description, detail, exact USD) for each item of the document; they add up to ``inv.total_exact``."""
    model = inv.terms.get("model", "pass-through")
    items: list[tuple[str, str, Fraction]] = []
    if model in ("fixed-fee", "per-unit"):
        for c in inv.charges:
            if not c.billed or c.kind in ("credit", "credit_carried"):
                continue
            if c.kind == "fee":
                cap = inv.terms.get("usage_cap")
                items.append(("Fixed fee", f"covers usage up to {_usd(Decimal(cap))}" if cap else "",
                              Fraction(c.amount)))
            elif c.kind == "overage":
                items.append(("Usage above the amount the fixed fee covers", "", Fraction(c.amount)))
            elif c.kind == "units":
                price = f" at {_usd(c.unit_price)} each" if c.unit_price is not None else ""
                items.append((f"{c.quantity or 0:,} × {inv.terms.get('unit', 'unit')}", price.strip(),
                              Fraction(c.amount)))
            else:
                items.append((c.label, "", Fraction(c.amount)))
    else:
        markup = Fraction(Decimal(str(inv.terms.get("markup", "0")))) if model == "cost-plus" else Fraction(0)
        folded = layout != "separate"
        factor = 1 + markup if folded else Fraction(1)
        usage = [x for x in inv.lines if x.kind in ("usage", "fixed")]
        shared = sum((Fraction(x.amount) for x in inv.lines if x.kind == "allocation"), Fraction(0))
        weights = [max(Fraction(x.amount), Fraction(0)) for x in usage]
        spread = folded and shared != 0 and sum(weights) > 0
        for x, w in zip(usage, weights, strict=True):
            part = shared * w / sum(weights) if spread else Fraction(0)
            items.append((_describe(x), _detail(x), (Fraction(x.amount) + part) * factor))
        for x in inv.lines:
            if x.kind == "credit":
                items.append(("Included usage (credits and free tier)", "", Fraction(x.amount) * factor))
        if shared and not spread:
            items.append(("Shared costs", "", shared * factor))
        if markup and not folded:
            net = Fraction(inv.net_cost)
            items.append((f"Service fee ({percent_text(Decimal(str(inv.terms['markup'])))})", "", net * markup))
    for u in inv.credit_uses:
        if u.applied:
            items.append(("Credit" + (f" · {u.note}" if u.note else ""), u.day, -Fraction(u.applied)))
    if sum((v for _, _, v in items), Fraction(0)) != Fraction(inv.total_exact):   # pragma: no cover - a bug
        raise BillingError(f"internal error: the items of {inv.client}'s invoice do not add up to its total")
    return items


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2).quantize(CENT)


def _service(inv: Invoice) -> tuple[str, str]:
    """The period as dates in the zone it was counted in (the business's, unless --tz said otherwise)."""
    tz = zone(inv.tz or "UTC")

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    start = at(inv.since).astimezone(tz).date().isoformat() if inv.since else ""
    end = (at(inv.until) - timedelta(microseconds=1)).astimezone(tz).date().isoformat() if inv.until else ""
    return start, end


def _taxes(subtotal: Decimal, client: ClientBilling) -> tuple[Tax, ...]:
    if client.reverse_charge:
        return (Tax(f"{client.tax_label} (reverse charge)", Decimal(0), subtotal, Decimal("0.00"), True),)
    if not client.tax_rate:
        return ()
    amount = EXACT.multiply(subtotal, client.tax_rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return (Tax(f"{client.tax_label} {percent_text(client.tax_rate)}", client.tax_rate, subtotal, amount),)


def _seller(b: Business) -> Party:
    return Party(b.name, b.address, b.tax_id, b.email, tuple(x for x in (b.phone, b.website) if x))


def _payment(b: Business) -> tuple[str, ...]:
    out = list(b.payment)
    out += [f"IBAN {b.iban}"] if b.iban else []
    out += [f"BIC {b.bic}"] if b.bic else []
    out += [f"Pay online: {b.payment_link}"] if b.payment_link else []
    return tuple(out)


def due(issue_date: str, days: int) -> str:
    return (date.fromisoformat(issue_date) + timedelta(days=days)).isoformat() if issue_date else ""


def make(inv: Invoice, profile: Profile, *, on: date, exchange: Exchange | None = None, logo: str = "") -> Document:
    """The document of ``inv`` for its client as ``profile`` describes both parties, dated ``on``."""
    client = profile.client(inv.client)
    biz = profile.business
    currency = exchange.currency if exchange else "USD"
    rate = Fraction(exchange.rate) if exchange else Fraction(1)
    exact = [(d, detail, value * rate * 100) for d, detail, value in exact_items(inv, client.layout)]
    subtotal_cents = round(sum((v for _, _, v in exact), Fraction(0)))     # half-even
    cents = round_to_total([v for _, _, v in exact], subtotal_cents)
    items = tuple(Item(d, _cents(c), detail) for (d, detail, _), c in zip(exact, cents, strict=True))
    subtotal = _cents(subtotal_cents)
    taxes = _taxes(subtotal, client)
    total = subtotal + sum((t.amount for t in taxes), Decimal("0.00"))
    notes = list(client.notes)
    if client.reverse_charge:
        notes.append(REVERSE_CHARGE_NOTE)
    carried = _cents(round(Fraction(inv.credit_carried) * rate * 100))
    if carried:
        notes.append(f"A credit of {money(carried, currency)} is carried to your next invoice.")
    if inv.unpriced and inv.number is None:
        notes.append(f"Draft: {sum(n for _, _, n in inv.unpriced):,} calls could not be priced and are not "
                     "included.")
    notes += biz.notes
    terms_days = client.terms_days if client.terms_days is not None else biz.terms_days
    start, end = _service(inv)
    issue_date = (inv.issued_on or on.isoformat())
    return Document(
        currency=currency, seller=_seller(biz),
        bill_to=Party(client.legal_name or inv.client, client.address, client.tax_id, client.email),
        issue_date=issue_date, due_date=due(issue_date, terms_days), terms_days=terms_days,
        service_from=start, service_to=end, items=items, subtotal=subtotal, taxes=taxes, total=total,
        po_number=client.po_number, exchange=exchange, payment=_payment(biz), notes=tuple(notes), logo=logo,
        layout=client.layout, carried=carried,
    )


def dated(doc: Document, issue_date: str) -> Document:
    """The document as issued on ``issue_date`` (its due date follows)."""
    return dataclasses.replace(doc, issue_date=issue_date, due_date=due(issue_date, doc.terms_days))


def of(inv: Invoice) -> Document:
    """The invoice's document; one issued before documents existed gets one made from it, the same each time."""
    if inv.document is not None:
        return inv.document
    on = inv.issued_on or (inv.until[:10] if inv.until else "1970-01-01")
    return make(inv, Profile(Business(name=inv.issuer)), on=date.fromisoformat(on))


__all__ = ["dated", "due", "exact_items", "make", "of"]
