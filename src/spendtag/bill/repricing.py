"""Repricing: recompute recorded costs with the current price data and overrides.

A plan compares each event's recorded cost with what the current :class:`Pricer` gives
(list prices plus the price book) and keeps the events whose cost or price reference
changed. Applying it calls ``Store.revise``, which keeps every previous cost as a revision;
issued invoices are stored documents and keep the prices they were issued with. Fixed costs
(``record-cost``, source ``manual``) are amounts, not prices, and are never repriced.
:func:`history` reads an event back with the costs it had before (``spendtag event ID``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spendtag.bill.build import MANUAL_SOURCE
from spendtag.ledger.query import Filters
from spendtag.ledger.store import CostRevision, Store
from spendtag.usage import PricedEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer


@dataclass(slots=True)
class DiffRow:
    client: str | None
    model: str
    events: int = 0
    old: int = 0                 # pico-USD recorded now (priced events only)
    new: int = 0                 # pico-USD with current prices (priced events only)
    newly_unpriced: int = 0      # priced before, nobody can price them now
    newly_priced: int = 0
    old_unpriced: int = 0        # events without a price now, left out of ``old``
    new_unpriced: int = 0        # events current prices cannot price, left out of ``new``

    @property
    def delta(self) -> int:
        return self.new - self.old


@dataclass(slots=True)
class Plan:
    revised: list[PricedEvent] = field(default_factory=list)    # the events with their new costs
    rows: list[DiffRow] = field(default_factory=list)
    scanned: int = 0
    fixed_skipped: int = 0

    @property
    def old_total(self) -> int:
        return sum(r.old for r in self.rows)

    @property
    def new_total(self) -> int:
        return sum(r.new for r in self.rows)

    @property
    def old_unpriced(self) -> int:
        return sum(r.old_unpriced for r in self.rows)

    @property
    def new_unpriced(self) -> int:
        return sum(r.new_unpriced for r in self.rows)


def _same(a: PricedEvent, b: PricedEvent) -> bool:
    x, y = a.cost, b.cost
    return (x.total == y.total and x.priced == y.priced and x.price == y.price
            and {k: v for k, v in x.components.items() if v} == {k: v for k, v in y.components.items() if v})


def compare(events: Iterable[PricedEvent], pricer: Pricer, client_key: str) -> Plan:
    plan = Plan()
    rows: dict[tuple[str | None, str], DiffRow] = {}
    for priced in events:
        plan.scanned += 1
        e = priced.event
        if e.source == MANUAL_SOURCE:
            plan.fixed_skipped += 1
            continue
        fresh = PricedEvent(e, pricer.price(e))
        if _same(priced, fresh):
            continue
        plan.revised.append(fresh)
        client = e.tags.get(client_key)
        row = rows.setdefault((client, e.model), DiffRow(client, e.model))
        row.events += 1
        row.old += priced.cost.total
        row.new += fresh.cost.total
        row.newly_unpriced += priced.cost.priced and not fresh.cost.priced
        row.newly_priced += fresh.cost.priced and not priced.cost.priced
        row.old_unpriced += not priced.cost.priced
        row.new_unpriced += not fresh.cost.priced
    plan.rows = sorted(rows.values(), key=lambda r: (r.client is None, r.client or "", r.model))
    return plan


def plan(store: Store, pricer: Pricer, filters: Filters, client_key: str) -> Plan:
    """What repricing the events passing ``filters`` would change (nothing is written)."""
    return compare(store.events(filters), pricer, client_key)


def apply(store: Store, plan: Plan, reason: str) -> int:
    """Record the new costs as new revisions (the previous ones are kept); returns how many changed."""
    return store.revise(plan.revised, reason) if plan.revised else 0


@dataclass(frozen=True, slots=True)
class History:
    """An event as the ledger holds it now, and every cost a reprice replaced (oldest first)."""

    priced: PricedEvent
    revisions: list[CostRevision]


def history(store: Store, event_id: str) -> History | None:
    """The event ``event_id`` with its cost revisions; None when the ledger has no such event."""
    priced = store.get_event(event_id)
    if priced is None:
        return None
    return History(priced, store.cost_revisions(event_id))
