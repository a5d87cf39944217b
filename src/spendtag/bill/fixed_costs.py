"""Costs that are not tokens: a subscription, a tool seat, compute, recorded against tags.

A fixed cost is an ordinary ledger event (provider ``manual``, model = its kind, no tokens,
source ``manual``) whose cost has one component, ``reported``: an amount stated, not
computed from rates. Reports, budgets and invoices then include it with no other change;
invoices list each one on its own line, and repricing leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from spendtag.bill.terms import BillingError
from spendtag.bounds import MAX_CALL_COST, check_time, clean_text
from spendtag.money import MAX_AMOUNT, MoneyError, format_usd, parse_usd
from spendtag.periods import parse_instant
from spendtag.tags import check_tags
from spendtag.usage import Cost, PricedEvent, PriceRef, Usage, UsageEvent, new_event_id

MANUAL = "manual"
DEFAULT_KIND = "fixed-cost"


def fixed_cost(amount: str, tags: Mapping[str, str], *, note: str = "", day: str | None = None,
               kind: str = DEFAULT_KIND, event_id: str | None = None, tz: ZoneInfo | None = None,
               now: datetime | None = None) -> PricedEvent:
    """A fixed cost of ``amount`` USD (``"49.00"``) on ``day`` (local midnight in ``tz``; default now)."""
    try:
        pico = parse_usd(amount)
    except (MoneyError, ArithmeticError):   # (an exponent too large for any amount: decimal.Overflow)
        raise BillingError(f"cost {amount[:80]!r} is not an amount: give USD, e.g. 49.00") from None
    if pico > MAX_AMOUNT:
        raise BillingError(f"cost {amount[:80]!r} is too large: at most {format_usd(MAX_AMOUNT)} per fixed cost")
    if pico <= 0:
        raise BillingError(f"a fixed cost must be more than $0, got {amount!r} "
                           "(for money owed to a client, record a credit: record-cost --credit 20 --tag client=NAME)")
    if pico > MAX_CALL_COST:
        raise BillingError(f"cost {amount[:40]!r} is too large: at most $100,000 per fixed cost "
                           "(record a larger amount as several costs)")
    kind = kind.strip()
    if not kind or any(not ch.isprintable() for ch in kind):
        raise BillingError("--kind must be a short printable name such as subscription")
    zone = tz or ZoneInfo("UTC")
    ts = check_time(parse_instant(day, zone), "--date") if day else (now or datetime.now(UTC))
    price_date = ts.astimezone(zone).date().isoformat()
    event = UsageEvent(event_id=event_id or new_event_id(), ts=ts, provider=MANUAL, model=kind, usage=Usage(),
                       tags=check_tags(dict(tags)), source=MANUAL)
    price = PriceRef(provider=MANUAL, model=event.model, rates={}, price_date=price_date, source="record-cost",
                     note=clean_text(note))
    return PricedEvent(event, Cost({"reported": pico}, pico, price))
