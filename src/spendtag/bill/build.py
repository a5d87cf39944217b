"""Build invoices from the ledger: one client, or every client of a period with a summary.

Every amount is summed in whole pico-USD from the ledger's own costs; a markup is applied as
an exact ``Decimal`` product (a context that traps any rounding); the total due is rounded to
cents half-even once, at the end. A client's events are the ones whose client tag (the
``client_key`` setting) equals its name; events without that tag are the shared cost, split
by the run's :class:`~spendtag.bill.allocation.Allocation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill import credits as owed
from spendtag.bill import document as client_document
from spendtag.bill.allocation import Allocation, largest_remainder
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import EXACT, Charge, EventRef, Invoice, Line, exact_sum, round_cents, usd
from spendtag.bill.profile import Business, Profile, logo_uri
from spendtag.bill.rates import Rates
from spendtag.bill.terms import BillingError, Terms, percent_text
from spendtag.ledger.query import EVENT_DIMENSIONS, Filters
from spendtag.ledger.store import Store
from spendtag.money import format_usd, to_decimal
from spendtag.periods import Range
from spendtag.report.breakdown import group_key
from spendtag.tags import Selector
from spendtag.usage import Cost, PricedEvent, PriceRef, Usage, UsageEvent

MANUAL_SOURCE = "manual"   # fixed costs (see fixed_costs.py)


@dataclass(slots=True)
class SummedEvent(PricedEvent):
    """Several calls of one line summed (their tokens and cost): ``calls`` of them.

    An invoice's amounts depend only on such sums; a draft built from them (the client's view)
    has the line items, counts and totals of one built call by call, but no per-call appendix.
    """

    calls: int = 1
ROUNDING_RULE = ("Amounts are exact to 1e-12 USD on every line; only the total due is rounded, to whole cents, "
                 "half to even (banker's rounding).")


@dataclass(frozen=True, slots=True)
class Request:
    """One invoice run: the period, how lines are grouped, the shared-cost policy, forced terms."""

    period: str
    range: Range
    tz: ZoneInfo
    config: BillingConfig
    by: str = "model"
    allocation: Allocation = field(default_factory=Allocation)
    terms: Terms | None = None          # flags: these terms for every client, over the config
    profile: Profile | None = None      # seller and clients' billing details (None: [invoices] issuer only)
    rates: Rates = field(default_factory=Rates)
    on: date | None = None              # the document's date (default: today in ``tz``)

    def __post_init__(self) -> None:
        group_key(self.by)              # a bad --by fails before any work

    @property
    def who(self) -> Profile:
        return self.profile if self.profile is not None else Profile(Business(name=self.config.issuer))

    def terms_for(self, client: str) -> Terms:
        return self.terms if self.terms is not None else self.config.terms_for(client)

    @property
    def base(self) -> Filters:
        return Filters(since=self.range.since, until=self.range.until)


@dataclass(frozen=True, slots=True)
class PeriodSpend:
    """The ledger total of a period split into each client's tagged spend and the untagged rest."""

    by_client: Mapping[str, int]
    untagged: int
    total: int


def period_spend(store: Store, base: Filters, client_key: str) -> PeriodSpend:
    by_client: dict[str, int] = {}
    untagged = total = 0
    for a in store.aggregate(base, [f"tag:{client_key}"]):
        total += a.totals.cost
        if a.key[0] is None:
            untagged += a.totals.cost
        else:
            by_client[a.key[0]] = by_client.get(a.key[0], 0) + a.totals.cost
    return PeriodSpend(by_client, untagged, total)


def _group(priced: PricedEvent, by: str) -> str:
    e = priced.event
    if by in EVENT_DIMENSIONS:
        value = getattr(e, by)
        return str(value) if value else "(none)"
    return e.tags.get(by) or "(untagged)"


def _price_view(ref: PriceRef) -> dict[str, Any]:
    return {"provider": ref.provider, "model": ref.model, "rates": dict(sorted(ref.rates.items())),
            "price_date": ref.price_date, "source": ref.source, "note": ref.note}


def _fixed_label(priced: PricedEvent) -> str:
    ref = priced.cost.price
    day = ref.price_date if ref and ref.price_date else priced.event.ts.date().isoformat()
    note = ref.note if ref else ""
    return " · ".join(filter(None, (day, priced.event.model, note)))


def _fixed_title(priced: PricedEvent) -> str:
    """How the client's document names a fixed cost: its note (or kind) and its day."""
    ref = priced.cost.price
    day = ref.price_date if ref and ref.price_date else priced.event.ts.date().isoformat()
    return f"{(ref.note if ref else '') or priced.event.model} ({day})"


@dataclass(slots=True)
class _Tally:
    lines: dict[str, list[int]] = field(default_factory=dict)    # group -> [requests, tokens, cost]
    fixed: list[Line] = field(default_factory=list)
    cost: int = 0
    credits: int = 0
    units: set[str] = field(default_factory=set)
    unpriced: dict[tuple[str, str], int] = field(default_factory=dict)
    prices: dict[tuple[Any, ...], tuple[int, PriceRef]] = field(default_factory=dict)
    events: list[EventRef] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)

    def add(self, priced: PricedEvent, by: str, credit: Selector, unit_key: str) -> None:
        e, c = priced.event, priced.cost
        calls = priced.calls if isinstance(priced, SummedEvent) else 1
        index = None
        if c.price is not None:
            ref = c.price
            ident = (ref.provider, ref.model, tuple(sorted(ref.rates.items())), ref.price_date, ref.source, ref.note)
            index = self.prices.setdefault(ident, (len(self.prices), ref))[0]
        self.events.append(EventRef(e.event_id, e.ts.isoformat().replace("+00:00", "Z"), to_decimal(c.total), index))
        if not c.priced:
            key = (e.provider, e.model)
            self.unpriced[key] = self.unpriced.get(key, 0) + calls
            return
        if c.price is not None:
            self.sources.add(c.price.source)
        self.cost += c.total
        if credit.matches(e.tags):
            self.credits += c.total
        if unit_key and e.tags.get(unit_key):
            self.units.add(e.tags[unit_key])
        if e.source == MANUAL_SOURCE and e.provider == MANUAL_SOURCE:
            self.fixed.append(Line("fixed", _fixed_label(priced), to_decimal(c.total), 1,
                                   title=_fixed_title(priced)))
            return
        row = self.lines.setdefault(_group(priced, by), [0, 0, 0])
        row[0] += calls
        row[1] += e.usage.total_tokens
        row[2] += c.total


def _charges(terms: Terms, net: int, units: int) -> list[Charge]:
    net_usd = to_decimal(net)
    if terms.model == "cost-plus":
        return [Charge("cost", "Cost at list price", net_usd),
                Charge("markup", f"Markup {percent_text(terms.markup)}", EXACT.multiply(net_usd, terms.markup))]
    if terms.model == "fixed-fee":
        out = [Charge("fee", f"Fixed fee (covers usage up to {format_usd(terms.usage_cap)})", to_decimal(terms.fee))]
        over = net - terms.usage_cap
        if over > 0:
            billed = terms.overage == "bill"
            label = f"Usage above the {format_usd(terms.usage_cap)} cap" + ("" if billed else " (absorbed, not billed)")
            out.append(Charge("overage", label, to_decimal(over), billed=billed))
        return out
    if terms.model == "per-unit":
        price = to_decimal(terms.unit_price)
        unit_cost = round_cents(net_usd / units) if units else None
        return [Charge("units", f"{units} {terms.unit_key} × {format_usd(terms.unit_price)}",
                       EXACT.multiply(price, Decimal(units)), quantity=units, unit_price=price, unit_cost=unit_cost)]
    return [Charge("cost", "Cost at list price", net_usd)]


def _statement(req: Request, tally: _Tally, terms: Terms, shared: int, part: int,
               owed_credits: bool = False) -> tuple[str, ...]:
    out = ["Each call is priced at its own time from its recorded token counts, bucket by bucket (uncached input, "
           "cache reads, cache writes, output, audio, web searches), at the list prices of the price data "
           "named on this invoice or your price overrides, in exact decimal arithmetic."]
    if tally.fixed:
        out.append("Fixed costs are amounts recorded with `spendtag record-cost`.")
    if tally.credits:
        out.append(f"Usage tagged {req.config.credit} (credits, free tier) is shown at list price and credited "
                   "on its own line.")
    if req.allocation.policy != "overhead":
        out.append(f"Shared (untagged) cost of the period, {format_usd(shared)}, is allocated to clients by the "
                   f"policy '{req.allocation.describe()}'; this client's part is {usd(to_decimal(part))}.")
    if terms.model == "per-unit":
        out.append(f"Units are the distinct values of the {terms.unit_key} tag on this client's calls; "
                   "cost per unit is the cost subtotal divided by the units, rounded to cents.")
    if terms.model == "cost-plus":
        out.append("The markup applies to the cost subtotal (after credited usage, with the allocated share).")
    if owed_credits:
        out.append("Credits are amounts owed to you (a refund, goodwill, a prepayment). They are taken off the total "
                   "after the charges above, oldest first, and no markup or fee applies to them. The total due is "
                   "never below $0.00: a credit left over is carried to your next invoice.")
    out.append(ROUNDING_RULE)
    return tuple(out)


def invoice_from_events(req: Request, client: str, events: Iterable[PricedEvent], *, allocated: int = 0,
                        shared: int = 0, credits: Sequence[owed.Available] = ()) -> Invoice:
    """An invoice for ``client`` from its events of the period (and its part of ``shared`` cost), less the
    ``credits`` owed to it (see :mod:`spendtag.bill.credits`)."""
    terms = req.terms_for(client)
    by = group_key(req.by).removeprefix("tag:")
    tally = _Tally()
    for priced in events:
        tally.add(priced, by, req.config.credit, terms.unit_key)
    lines = [Line("usage", label, to_decimal(cost), requests, tokens)
             for label, (requests, tokens, cost) in sorted(tally.lines.items(), key=lambda kv: (-kv[1][2], kv[0]))]
    lines += tally.fixed
    if tally.credits:
        lines.append(Line("credit", f"Credits and free tier (usage tagged {req.config.credit})",
                          to_decimal(-tally.credits)))
    if allocated:
        lines.append(Line("allocation", f"Shared cost allocated, {req.allocation.describe()}", to_decimal(allocated),
                          note=f"of {format_usd(shared)} untagged spend"))
    net = tally.cost - tally.credits + allocated
    charges = _charges(terms, net, len(tally.units))
    credit_charges, uses, carried = owed.apply(exact_sum(c.amount for c in charges if c.billed), credits)
    charges += credit_charges
    total = exact_sum(c.amount for c in charges if c.billed)
    due = round_cents(total)
    rng = req.range
    inv = Invoice(
        client_key=req.config.client_key, client=client, period=req.period,
        since=rng.since.isoformat().replace("+00:00", "Z") if rng.since else "",
        until=rng.until.isoformat().replace("+00:00", "Z") if rng.until else "",
        tz=req.tz.key, group_by=req.by, terms=terms.as_dict(), terms_text=terms.describe(),
        lines=tuple(lines), cost=to_decimal(tally.cost), credits=to_decimal(tally.credits),
        allocated=to_decimal(allocated), charges=tuple(charges), total_exact=total,
        rounding=EXACT.subtract(due, total), total_due=due, price_sources=tuple(sorted(tally.sources)),
        statement=_statement(req, tally, terms, shared, allocated, bool(uses)),
        unpriced=tuple((p, m, n) for (p, m), n in sorted(tally.unpriced.items())),
        prices=tuple(_price_view(ref) for _, ref in tally.prices.values()), events=tuple(tally.events),
        issuer=req.who.business.name or req.config.issuer, credit_uses=uses, credit_carried=carried,
    )
    return with_document(req, inv)


def with_document(req: Request, inv: Invoice) -> Invoice:
    """``inv`` with its client's document: the request's profile, exchange rate and date."""
    who = req.who
    on = req.on or datetime.now(req.tz).date()
    client = who.client(inv.client)
    exchange = req.rates.exchange(client.currency, on, inv.client)
    doc = client_document.make(inv, who, on=on, exchange=exchange, logo=logo_uri(who.business.logo))
    return dataclasses.replace(inv, document=doc)


def _client_filters(req: Request, client: str) -> Filters:
    return Filters(since=req.range.since, until=req.range.until,
                   tags=(Selector(req.config.client_key, "eq", client),))


def invoice_for(store: Store, req: Request, client: str, *, summed: bool = False) -> Invoice:
    """One client's invoice for the period (its share of shared cost needs every client's spend).

    ``summed``: from the client's calls summed per line (:func:`summed_events`): the same items,
    counts and totals, read from the ledger's rollups; the invoice lists no calls (not for issuing).
    """
    spend = period_spend(store, req.base, req.config.client_key)
    parts = req.allocation.split(spend.untagged, spend.by_client)
    found = summed_events(store, req, client) if summed else None
    return invoice_from_events(req, client, found if found is not None else store.events(_client_filters(req, client)),
                               allocated=parts.get(client, 0), shared=spend.untagged,
                               credits=owed.available(store, client, req.range.until, req.period))


def summed_events(store: Store, req: Request, client: str) -> list[PricedEvent] | None:
    """The client's calls of the period summed per invoice line and what else an amount depends on
    (provider and model of unpriced calls, the credit tag, the unit tag); fixed costs as they are.
    None when the lines are grouped by something the rollups do not keep, or a line mixes priced and
    unpriced calls of one model (then the calls are read one by one)."""
    by = group_key(req.by)
    if not (by.startswith("tag:") or by in EVENT_DIMENSIONS):
        return None
    terms = req.terms_for(client)
    keys = list(dict.fromkeys(["provider", "model", "source", by, f"tag:{req.config.credit.key}",
                               *([f"tag:{terms.unit_key}"] if terms.unit_key else [])]))
    f = _client_filters(req, client)
    at = req.range.since or datetime(1970, 1, 1, tzinfo=UTC)
    out: list[PricedEvent] = []
    manual = False
    for n, a in enumerate(store.aggregate(f, keys, req.tz)):
        values = dict(zip(keys, a.key, strict=True))
        if values["source"] == MANUAL_SOURCE and values["provider"] == MANUAL_SOURCE:
            manual = True              # fixed costs: one line each, read below
            continue
        tags = {k[4:]: str(v) for k, v in values.items() if k.startswith("tag:") and v is not None}
        tags[req.config.client_key] = client
        t = a.totals
        unpriced = t["unpriced_requests"]
        if 0 < unpriced < t.requests:
            return None                # the rollups do not split a group's tokens by priced and unpriced
        for part, calls in (("p", t.requests - unpriced), ("u", unpriced)):
            if calls <= 0:
                continue
            cost = t.cost if part == "p" else 0
            event = UsageEvent(event_id=f"summed-{n}-{part}", ts=at, provider=str(values["provider"] or ""),
                               model=str(values["model"] or ""), source=str(values["source"] or ""),
                               usage=Usage(input_tokens=t.tokens if part == "p" else 0), tags=tags)
            if by in EVENT_DIMENSIONS and by not in ("provider", "model", "source"):
                setattr(event, by, values[by])       # the line's own dimension (agent, project...)
            out.append(SummedEvent(event, Cost({"input_tokens": cost} if cost else {}, cost, None,
                                               priced=part == "p"), calls))
    if manual:
        out += store.events(replace(f, dims={"source": (MANUAL_SOURCE,)}))
    return out


@dataclass(frozen=True, slots=True)
class SummaryRow:
    client: str
    revenue: Decimal            # the total due
    cost: Decimal               # what the client's usage cost (after credits, with its shared part)
    margin: Decimal
    attributed: Decimal         # its tagged spend plus allocated share, at list price
    even_split: Decimal         # an even share of the whole period's bill
    difference: Decimal         # even split - attributed: > 0 means an even split overcharges it


@dataclass(frozen=True, slots=True)
class Run:
    invoices: list[Invoice]
    rows: list[SummaryRow]
    spend: PeriodSpend
    allocated: int              # of the untagged spend, how much went to clients
    overhead: int               # of the untagged spend, how much stayed unallocated

    @property
    def total_revenue(self) -> Decimal:
        return exact_sum(r.revenue for r in self.rows)

    @property
    def total_cost(self) -> Decimal:
        return exact_sum(r.cost for r in self.rows)


def run_all(store: Store, req: Request) -> Run:
    """An invoice for every client with spend (or an allocated share) in the period, and the summary."""
    spend = period_spend(store, req.base, req.config.client_key)
    parts = req.allocation.split(spend.untagged, spend.by_client)
    clients = sorted(set(spend.by_client) | set(parts))
    invoices = [invoice_from_events(req, c, store.events(_client_filters(req, c)), allocated=parts.get(c, 0),
                                    shared=spend.untagged,
                                    credits=owed.available(store, c, req.range.until, req.period))
                for c in clients]
    even = largest_remainder(spend.total, dict.fromkeys(clients, 1))
    rows = []
    for inv in invoices:
        attributed = EXACT.add(inv.cost, inv.allocated)
        share = to_decimal(even[inv.client])
        rows.append(SummaryRow(inv.client, inv.total_due, inv.net_cost, EXACT.subtract(inv.total_due, inv.net_cost),
                               attributed, share, EXACT.subtract(share, attributed)))
    allocated = sum(parts.values())
    return Run(invoices, rows, spend, allocated, spend.untagged - allocated)


def issued(inv: Invoice, number: str, issued_on: str) -> Invoice:
    doc = client_document.of(inv)
    return dataclasses.replace(inv, number=number, issued_on=issued_on,
                               document=client_document.dated(doc, issued_on))


def check_issuable(inv: Invoice) -> None:
    """An invoice with unpriced calls is not issued: their cost would silently be missing."""
    if inv.unpriced:
        names = ", ".join(f"{p}/{m} ({n})" for p, m, n in inv.unpriced)
        raise BillingError(f"not issued: {sum(n for _, _, n in inv.unpriced)} calls could not be priced: {names}; "
                           "add a price with `spendtag prices override`, run `spendtag reprice`, then issue")
