"""What a client's link and a client's token show: amounts as billed, never the agency's cost or margin.

A viewer scoped to one client (its scope key is the client key) sees, for the period, what an
invoice drafted now for that client and period would bill (the document's items, subtotal, tax
and total, in the client's currency: :func:`spendtag.bill.build.invoice_for`, as ``spendtag
invoice --client X --period P`` drafts it), the period before like for like, its usage without
money (calls and tokens, by model and over time), its budgets as a percentage used (budgets are
kept in raw cost, so no amount of theirs is shown) and its issued invoices. No forecast: one in
raw cost would show the cost, and an invoice's terms (a fixed fee, credits, a share of other
clients' untagged spend) do not scale with usage, so no honest billed forecast exists.

The agency may show the raw cost to a client: ``show_cost = true`` in the client's billing
details. Then the view carries today's summary (:func:`.views.tag_value`) too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill import build
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import Document, Invoice
from spendtag.bill.profile import Profile
from spendtag.bill.rates import Rates
from spendtag.errors import SpendtagError
from spendtag.guard.budgets import Budget, status
from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.store import Store
from spendtag.periods import Range
from spendtag.report.breakdown import REPORT_TOKEN_BUCKETS, families
from spendtag.report.selection import Selection
from spendtag.server.dashboard import views
from spendtag.server.dashboard.views import invoice_dict, scoped_budgets
from spendtag.tags import Selector

STACK_LIMIT = views.STACK_LIMIT
NOT_AVAILABLE = "Billed amounts are not available for this period yet."


@dataclass(frozen=True, slots=True)
class Billing:
    """The agency's billing setup as ``spendtag invoice`` reads it: terms, billing details, exchange rates."""

    config: BillingConfig
    profile: Profile
    rates: Rates

    def shows_cost(self, client: str) -> bool:
        return self.profile.client(client).show_cost


def _period_name(rng: Range, tz: ZoneInfo) -> str:
    return views.period_name(rng, tz) or rng.label(tz)


def draft(store: Store, billing: Billing, client: str, rng: Range, tz: ZoneInfo, now: datetime) -> Invoice:
    """The invoice for ``client`` over ``rng`` as drafted now, not issued (nothing is refused: $0.00 is said)."""
    req = build.Request(period=_period_name(rng, tz), range=rng, tz=tz, config=billing.config,
                        by=billing.config.by, allocation=billing.config.allocation, profile=billing.profile,
                        rates=billing.rates, on=now.astimezone(tz).date())
    return build.invoice_for(store, req, client, summed=True)


def _amount(value: Any) -> str:
    return format(value, "f")


def billed_dict(inv: Invoice, *, items: bool = True) -> dict[str, Any]:
    """An invoice draft as the client's document states it: 2 decimals of the client's currency."""
    doc: Document | None = inv.document
    assert doc is not None
    out: dict[str, Any] = {
        "currency": doc.currency,
        "subtotal": _amount(doc.subtotal),
        "taxes": [{"label": t.label, "amount": _amount(t.amount)} for t in doc.taxes],
        "tax": _amount(sum((t.amount for t in doc.taxes), Decimal("0.00"))),
        "total": _amount(doc.total),
        "unbilled_requests": sum(n for _, _, n in inv.unpriced),
    }
    if items:
        out["items"] = [{"description": i.description, "detail": i.detail, "amount": _amount(i.amount)}
                        for i in doc.items]
    return out


def _budget(st: Any) -> dict[str, Any]:
    b = st.budget
    return {"name": b.name, "period": st.period, "period_kind": b.period, "percent": str(st.percent),
            "state": st.state, "forecast_over": st.projected is not None and st.projected > b.limit}


def usage(store: Store, f: Filters, rng: Range, tz: ZoneInfo) -> dict[str, Any]:
    """Calls and tokens of the selection: in total, by model (families, as the staff pages group them) and
    over time, from one grouped read."""
    from spendtag.pricing.identity import model_name

    group = views.bucket_group(rng, None if rng.since and rng.until else store.time_span())
    rows = store.aggregate(f, [group, "provider", "model"], tz)
    total = Totals()
    models: dict[str, Totals] = {}
    provider_of: dict[str, str] = {}
    for a in rows:
        total.merge(a.totals)
        model = a.key[2] or views.NONE
        models.setdefault(model, Totals()).merge(a.totals)
        provider_of[model] = a.key[1] or views.NONE
    found = families(models, lambda m: m if m == views.NONE else model_name(provider_of[m], m))
    found.sort(key=lambda fam: (-fam.totals.tokens, -fam.totals.requests, fam.name))
    family_of = {m: fam.name for fam in found for m in fam.members}
    names = [fam.name for fam in found[:STACK_LIMIT]] + ([views.OTHER] if len(found) > STACK_LIMIT else [])
    buckets = views.bucket_labels(rng, group, tz, (a.key[0] or "" for a in rows))
    at = {b: i for i, b in enumerate(buckets)}
    tokens = {n: [0] * len(buckets) for n in names}
    calls = {n: [0] * len(buckets) for n in names}
    for a in rows:
        name = family_of[a.key[2] or views.NONE]
        name = name if name in tokens else views.OTHER
        tokens[name][at[a.key[0] or ""]] += a.totals.tokens
        calls[name][at[a.key[0] or ""]] += a.totals.requests
    unpriced = {}
    for m, t in models.items():
        if t["unpriced_requests"]:
            unpriced[provider_of[m], m] = t["unpriced_requests"]
    return {
        "total": {"requests": total.requests, "unpriced_requests": total["unpriced_requests"],
                  "tokens": {b: total[b] for b in REPORT_TOKEN_BUCKETS}, "tokens_total": total.tokens},
        "by_model": [{"value": fam.name, "label": fam.label, "detail": fam.detail, "requests": fam.totals.requests,
                      "unpriced_requests": fam.totals["unpriced_requests"], "tokens": fam.totals.tokens}
                     for fam in found],
        "chart": {"group": group, "buckets": buckets,
                  "series": [{"name": n, "tokens": tokens[n], "requests": calls[n]} for n in names]},
        "unpriced": {"requests": total["unpriced_requests"],
                     "models": [{"provider": p, "model": m, "requests": n}
                                for (p, m), n in sorted(unpriced.items(), key=lambda kv: (-kv[1], kv[0]))]},
    }


def client_view(store: Store, sel: Selection, client: str, *, key: str, billing: Billing | None,
                budgets: Sequence[Budget], now: datetime, show_cost: bool,
                cost: dict[str, Any] | None = None) -> dict[str, Any]:
    """The billed view of ``client`` for ``sel``'s period (its filters other than time are not used).

    ``billing`` None: the setup could not be read; the view says billed amounts are not available
    rather than show anything else. ``cost``: today's summary, when the agency shows the raw cost.
    """
    rng, tz = sel.range, sel.tz
    f = Filters(since=rng.since, until=rng.until, tags=(Selector(key, "eq", client),))
    used = usage(store, f, rng, tz)
    billed = previous_billed = None
    note = None
    before = views.previous_range(rng, tz, now)
    if billing is not None and rng.since is not None and rng.until is not None:
        try:
            billed = billed_dict(draft(store, billing, client, rng, tz, now))
            if before is not None:
                previous_billed = billed_dict(draft(store, billing, client, before, tz, now), items=False)
        except SpendtagError:       # a missing exchange rate, terms that cannot apply: the agency's to fix
            billed = previous_billed = None
    if billed is None:
        note = NOT_AVAILABLE if rng.since is not None and rng.until is not None else \
            "Choose a period to see its billed amount."
    previous = None
    if before is not None:
        earlier = store.aggregate(replace(f, since=before.since, until=before.until), [], tz)
        prev = Totals()
        for a in earlier:
            prev.merge(a.totals)
        previous = {**views.range_dict(before, tz), "requests": prev.requests,
                    "like_for_like": rng.since is not None and rng.until is not None and rng.since <= now < rng.until,
                    "billed": previous_billed}
    return {
        "key": key, "value": client, "period": views.range_dict(rng, tz),
        "invoice_period": _period_name(rng, tz) if rng.since and rng.until else None,
        "billed": billed, "billed_note": note, "previous": previous,
        "usage": used["total"], "by_model": used["by_model"], "chart": used["chart"], "unpriced": used["unpriced"],
        "budgets": [_budget(status(store, b, now, tz)) for b in scoped_budgets(budgets, key, client)
                    if b.in_effect(now, tz)],
        "invoices": [invoice_dict(i) for i in store.issued_invoices(client)],
        "show_cost": show_cost,
        "cost": cost if show_cost else None,
    }
