"""Drafting and issuing invoices: what ``spendtag invoice`` and the dashboard's invoice form both do.

A draft is built from the ledger as it is now; issuing gives it the next number and stores
it exactly as rendered (see :mod:`spendtag.bill.store`). Before anything is billed, names
no call carries are refused (a typo would bill $0.00), and so is a period with nothing due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill import build
from spendtag.bill.allocation import Allocation
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import Invoice
from spendtag.bill.profile import Profile
from spendtag.bill.rates import Rates
from spendtag.bill.store import issue_all
from spendtag.bill.terms import Terms
from spendtag.ledger.invoice_tables import DEFAULT_SCHEME
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.periods import parse_period
from spendtag.report import matching
from spendtag.report.breakdown import group_key
from spendtag.tags import Selector


def config_from(sections: Mapping[str, Any], *, client_key: str, path: str) -> BillingConfig:
    return BillingConfig.from_sections(sections, client_key=client_key, path=path)


def request(config: BillingConfig, period: str, tz: ZoneInfo, *, by: str | None = None, allocate: str | None = None,
            terms: Terms | None = None, profile: Profile | None = None, on: date | None = None,
            rates: Rates | None = None) -> build.Request:
    """One invoice run: ``by`` and ``allocate`` default to the config's; ``terms`` force terms on every client;
    ``profile`` is the seller's and clients' billing details; ``on`` the document's date; ``rates`` for
    invoices in another currency."""
    return build.Request(period=period, range=parse_period(period, tz), tz=tz, config=config, by=by or config.by,
                         allocation=Allocation.parse(allocate) if allocate else config.allocation, terms=terms,
                         profile=profile, on=on, rates=rates if rates is not None else Rates())


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
          profile: Profile | None = None, reissue: bool = False,
          told: Callable[[Invoice], None] | None = None) -> list[Invoice]:
    """Store each invoice under a new number (the business's scheme); refuse unpriced calls or a second
    issue (unless ``reissue``). Every invoice is checked before any is stored."""
    scheme = profile.business.invoice_number if profile is not None else DEFAULT_SCHEME
    return issue_all(store, list(invoices), prefix=config.prefix, on=on, scheme=scheme, reissue=reissue, told=told)
