"""Where an issued invoice stands: issued, sent, paid or void; overdue is derived, never stored.

Marks are recorded in the ledger with who made them and when (``invoice_status``, append-only);
the latest one is the invoice's status. What may follow what:

* ``sent``: after issued (or sent: sending again, a reminder, is recorded too);
* ``paid``: after issued or sent;
* ``void``: after issued or sent. A paid invoice is not voided (refund it with a credit,
  ``record-cost --credit``), and nothing follows void or paid.

``overdue`` is an issued or sent invoice whose due date has passed (the day after it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from spendtag.bill.terms import BillingError
from spendtag.ledger.billing_tables import StatusMark
from spendtag.ledger.store import Store

MARKS: tuple[str, ...] = ("sent", "paid", "void")
STATUSES: tuple[str, ...] = ("draft", "issued", "sent", "paid", "void", "overdue")
_AFTER: dict[str, tuple[str, ...]] = {"sent": ("issued", "sent"), "paid": ("issued", "sent"),
                                      "void": ("issued", "sent")}


def _refusal(number: str, status: str, last: StatusMark) -> str:
    when = f"{last.at.astimezone(UTC):%Y-%m-%d} by {last.by}"
    if last.status == "void":
        return f"{number} was voided ({when}): a void invoice cannot be marked {status}; issue a new one"
    if last.status == "paid" and status == "void":
        return (f"{number} was paid ({when}): a paid invoice is not voided; refund it with "
                "`spendtag record-cost --credit AMOUNT --tag client=NAME`")
    return f"{number} is already {last.status} ({when})"


def mark(store: Store, number: str, status: str, by: str, at: datetime | None = None) -> StatusMark:
    """Mark issued invoice ``number`` ``sent``, ``paid`` or ``void``, recording who and when."""
    if status not in MARKS:
        raise BillingError(f"status {status!r}: mark an invoice sent, paid or void")
    who = (by or "").strip()
    if not who or len(who) > 200 or not who.isprintable():
        raise BillingError("say who marks the invoice (one line of text)")
    found = store.issued_invoice(number)
    if found is None:
        raise BillingError(f"no issued invoice {number[:80]!r}; see `spendtag invoice list`")
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise BillingError("the time of a mark needs a time zone")

    def check(last: StatusMark | None) -> None:
        if last is not None and last.status not in _AFTER[status]:
            raise BillingError(_refusal(found.number, status, last))

    return store.mark_invoice(found.number, status, who, when, check)


def current(invoice_record: Any, today: date) -> str:
    """draft, issued, sent, paid, void or overdue, for an issued invoice (or an unissued ``Invoice``: draft)."""
    if not getattr(invoice_record, "number", None):
        return "draft"
    status = str(getattr(invoice_record, "status", "") or "issued")
    if status in ("paid", "void"):
        return status
    due_on = getattr(invoice_record, "due_on", "") or ""
    if not due_on:
        doc = getattr(invoice_record, "document", None)
        due_on = getattr(doc, "due_date", "") if doc is not None and not isinstance(doc, str) else ""
    if due_on and date.fromisoformat(due_on) < today:
        return "overdue"
    return status


__all__ = ["MARKS", "STATUSES", "current", "mark"]
