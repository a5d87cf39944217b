"""Credits: money owed back to a client (a refund, goodwill, a prepayment), taken off its invoices.

``spendtag record-cost --credit 20 --tag client=acme --note "outage refund"`` records one. A
credit is not usage: it is kept in its own ledger table, never as an event, so reports,
exports and budgets never count it as negative spend. (Usage the client does not pay for,
such as a free tier, is a different thing: it is tagged ``billing=credit`` and credited on the
cost side, before any markup.)

On an invoice, as invoicing tools do with a customer's credit balance (Stripe, Xero):

* every credit of the client dated before the end of the period, and not used up by the
  client's issued invoices, is its own charge line (date and note), oldest first;
* credits come after the terms' charges: a markup or a fixed fee is never applied to a
  credit, and a credit is never negative usage;
* the total due is never below $0.00. When the credits exceed the charges, the credit left
  over is a line of its own ("carried to the next invoice") and the next invoice shows the
  rest of that credit. What each invoice used is part of the issued document, so a credit is
  used once: a draft shows what an issue would use, and issuing an invoice again for the same
  period (``--reissue``) replaces what the earlier issue used.

Amounts are exact (whole pico-USD); an issued invoice keeps its credit lines as issued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill.model import EXACT, Charge, CreditUse, exact_sum, usd
from spendtag.bill.terms import BillingError
from spendtag.ledger.credit_tables import Credit
from spendtag.ledger.store import Store
from spendtag.money import MoneyError, parse_usd, to_decimal
from spendtag.periods import parse_instant
from spendtag.tags import check_tags
from spendtag.usage import new_event_id

MAX_CREDIT = 9_000_000 * 10**12     # pico-USD; a ledger row holds up to about $9.2 million
MAX_NOTE = 256


def new_credit(amount: str, tags: Mapping[str, str], *, client_key: str, note: str = "", day: str | None = None,
               credit_id: str | None = None, tz: ZoneInfo | None = None, now: datetime | None = None) -> Credit:
    """A credit of ``amount`` USD (``"20.00"``) owed to the client its ``client_key`` tag names.

    ``day`` is the day it applies from (local midnight in ``tz``); the default is now.
    """
    try:
        pico = parse_usd(amount)
    except (MoneyError, ArithmeticError):   # (an exponent too large for any amount: decimal.Overflow)
        raise BillingError(f"credit {amount[:40]!r} is not an amount: give the USD owed to the client, "
                           "e.g. 20.00") from None
    if pico <= 0:
        raise BillingError(f"a credit must be more than $0, got {amount!r}: give the amount owed to the client, "
                           "e.g. --credit 20.00 (it is taken off the client's next invoice)")
    if pico > MAX_CREDIT:
        raise BillingError(f"credit {amount!r} is too large: at most {usd(to_decimal(MAX_CREDIT))} per credit")
    tags = check_tags(dict(tags))
    client = tags.get(client_key, "").strip()
    if not client:
        raise BillingError(f"a credit is owed to a client: add --tag {client_key}=NAME (the client of the invoice)")
    note = note.strip()
    if len(note) > MAX_NOTE or any(not ch.isprintable() for ch in note):
        raise BillingError(f"--note must be one line of printable text, at most {MAX_NOTE} characters "
                           "(it is printed on the client's invoice)")
    zone = tz or ZoneInfo("UTC")
    ts = parse_instant(day, zone) if day else (now or datetime.now(UTC))
    return Credit(credit_id or f"credit:{new_event_id()}", client, ts, ts.astimezone(zone).date().isoformat(),
                  pico, note, tags)


@dataclass(frozen=True, slots=True)
class Recorded:
    credit: Credit              # as the ledger holds it (an id recorded before keeps its first values)
    new: bool
    issued: list[str]           # the client's issued invoices whose period holds the credit's date


def record(store: Store, credit: Credit) -> Recorded:
    """Record ``credit`` once (its id is the idempotency key)."""
    new = store.add_credit(credit)
    held = credit if new else (store.credit(credit.credit_id) or credit)
    issued = [str(doc["number"]) for doc in _documents(store, held.client)
              if _within(held.ts, doc["period"]["since"], doc["period"]["until"])]
    return Recorded(held, new, issued)


def _within(ts: datetime, since: str, until: str) -> bool:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (not since or at(since) <= ts) and (not until or ts < at(until))


def _documents(store: Store, client: str, *, skip_period: str | None = None) -> list[dict[str, Any]]:
    """The client's issued invoice documents in force: the latest issue of each period."""
    latest: dict[str, str] = {}
    for inv in store.issued_invoices(client):      # oldest first: a reissue comes later
        latest[inv.period] = inv.number
    out = []
    for period, number in latest.items():
        if period == skip_period:
            continue
        found = store.issued_invoice(number)
        if found is not None:
            out.append(json.loads(found.document))
    return out


def _used(docs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    used: dict[str, int] = {}
    for doc in docs:
        for use in doc.get("credit_uses") or ():      # documents issued before credits have none
            used[use["id"]] = used.get(use["id"], 0) + parse_usd(Decimal(use["applied"]))
    return used


@dataclass(frozen=True, slots=True)
class Available:
    credit: Credit
    left: int                   # pico-USD not yet used by an issued invoice


def available(store: Store, client: str, until: datetime | None, period: str) -> list[Available]:
    """The client's credits an invoice for ``period`` (ending at ``until``) may use, oldest first.

    What the client's issued invoices used is taken off, except an earlier issue for this same
    period, which an issue of this invoice replaces.
    """
    credits = store.credits(client, until=until)
    if not credits:
        return []
    used = _used(_documents(store, client, skip_period=period))
    out = [Available(c, c.amount - used.get(c.credit_id, 0)) for c in credits]
    return [a for a in out if a.left > 0]


def _label(a: Available) -> str:
    text = " · ".join(filter(None, ("Credit", a.credit.day, a.credit.note)))
    if a.left != a.credit.amount:
        text += f" (the rest of {usd(to_decimal(a.credit.amount))})"
    return text


CARRIED_LABEL = "Credit left, carried to the next invoice"


def apply(billed: Decimal, credits: Sequence[Available]) -> tuple[list[Charge], tuple[CreditUse, ...], Decimal]:
    """Charges for ``credits`` against the ``billed`` total, what each credit gave, and the credit carried.

    Oldest first; the total due never goes below zero, the rest is carried (a charge that adds it back).
    """
    if not credits:
        return [], (), Decimal("0.00")
    charges: list[Charge] = []
    uses: list[CreditUse] = []
    room = max(billed, Decimal(0))
    for a in credits:
        left = to_decimal(a.left)
        applied = min(left, room)
        room = EXACT.subtract(room, applied)
        charges.append(Charge("credit", _label(a), -left))
        uses.append(CreditUse(a.credit.credit_id, a.credit.day, a.credit.note, left, applied))
    carried = EXACT.subtract(exact_sum(u.available for u in uses), exact_sum(u.applied for u in uses))
    if carried:
        charges.append(Charge("credit_carried", CARRIED_LABEL, carried))
    return charges, tuple(uses), carried


@dataclass(frozen=True, slots=True)
class Balance:
    credit: Credit
    used: int                   # pico-USD taken off issued invoices

    @property
    def left(self) -> int:
        return self.credit.amount - self.used


def balances(store: Store, client: str | None = None) -> list[Balance]:
    """Every credit (of ``client``) with what issued invoices used of it, oldest first."""
    credits = store.credits(client)
    used: dict[str, int] = {}
    for name in sorted({c.client for c in credits}):
        for key, value in _used(_documents(store, name)).items():
            used[key] = used.get(key, 0) + value
    return [Balance(c, min(used.get(c.credit_id, 0), c.amount)) for c in credits]
