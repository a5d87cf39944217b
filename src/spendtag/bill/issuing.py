"""Drafting and issuing invoices: what ``spendtag invoice`` and the dashboard's invoice form both do.

A draft is built from the ledger as it is now; issuing gives it the next number and stores
it exactly as rendered (see :mod:`spendtag.bill.store`). Before anything is billed, names
no call carries are refused (a typo would bill $0.00), and so is a period with nothing due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill import build, render
from spendtag.bill.allocation import Allocation
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import Invoice, from_json, to_json
from spendtag.bill.store import IssuedInvoices
from spendtag.bill.terms import BillingError, Terms
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.periods import parse_period
from spendtag.report import matching
from spendtag.report.breakdown import group_key
from spendtag.tags import Selector


def config_from(sections: Mapping[str, Any], *, client_key: str, path: str) -> BillingConfig:
    return BillingConfig.from_sections(sections, client_key=client_key, path=path)


def request(config: BillingConfig, period: str, tz: ZoneInfo, *, by: str | None = None, allocate: str | None = None,
            terms: Terms | None = None) -> build.Request:
    """One invoice run: ``by`` and ``allocate`` default to the config's; ``terms`` force terms on every client."""
    return build.Request(period=period, range=parse_period(period, tz), tz=tz, config=config, by=by or config.by,
                         allocation=Allocation.parse(allocate) if allocate else config.allocation, terms=terms)


def check_names(store: Store, req: build.Request, client: str | None) -> list[str]:
    """Refuse a client (or grouping key) no call in the ledger carries; notes on a fixed split's unknown names.

    A client with its own [billing.clients] terms may have no calls yet (a retainer).
    """
    wanted = Selector(req.config.client_key, "eq" if client else "present", client)
    if client in req.config.clients:
        wanted = Selector(req.config.client_key, "present")
    # Per-unit terms count the distinct values of a tag: one no call has would bill 0 units.
    terms = req.terms_for(client) if client else req.terms
    units = (Selector(terms.unit_key, "present"),) if terms and terms.model == "per-unit" and terms.unit_key else ()
    matching.check(store, Filters(tags=(wanted, *units)), by=[group_key(req.by)], known_keys=(req.config.client_key,))
    # A fixed split naming a client no call has (acmee=60) would hand its share to nobody anyone bills.
    notes = []
    for name in req.allocation.shares:
        if name not in req.config.clients:
            share = Filters(tags=(Selector(req.config.client_key, "eq", name),))
            for note in matching.check_scope(store, share, allow_new=False,
                                             fix="name it in [billing.clients] if it is a new client"):
                notes.append(f"--allocate {name}: {note}")
    return notes


def refuse_nothing(store: Store, req: build.Request, inv: Invoice) -> None:
    """No calls in the period and nothing else due (a fee, a share of shared cost): there is nothing to bill."""
    if inv.events or inv.allocated or inv.total_due:
        return
    client = Filters(since=req.range.since, until=req.range.until,
                     tags=(Selector(req.config.client_key, "eq", inv.client),))
    raise matching.explain_empty(store, client, req.range, req.tz)


def draft(store: Store, req: build.Request, client: str) -> Invoice:
    """One client's invoice for the period, not issued; refused when there is nothing to bill."""
    inv = build.invoice_for(store, req, client)
    refuse_nothing(store, req, inv)
    return inv


def issue(store: Store, config: BillingConfig, invoices: Iterable[Invoice], on: date, *,
          reissue: bool = False) -> list[Invoice]:
    """Store each invoice under a new number; refuse unpriced calls or a second issue (unless ``reissue``).

    Every invoice is checked before any is stored.
    """
    issued = IssuedInvoices.for_store(store)
    invoices = list(invoices)
    for inv in invoices:
        build.check_issuable(inv)
        done = issued.find(inv.client, inv.period)
        if done and not reissue:
            raise BillingError(f"{inv.client_key}={inv.client} {inv.period} was already issued as {done[-1]}: "
                               f"see `spendtag invoice show {done[-1]}`, or pass --reissue for a new number")
    out = []
    for inv in invoices:
        def rendered(number: str, inv: Invoice = inv) -> tuple[str, str, str]:
            final = build.issued(inv, number, on.isoformat())
            return to_json(final), render.as_text(final), format(final.total_due, "f")

        record = issued.issue(config.prefix, on.year, inv.client, inv.period, on.isoformat(), rendered)
        out.append(from_json(record.document))
    return out
