"""The dashboard's door to invoice status and billing details, which ``spendtag.bill`` provides.

``spendtag.bill.status.mark`` (sent, paid, void) and ``spendtag.bill.profile.save_business`` /
``save_client`` come with the billing-profile work. They are imported when first used, so
the dashboard runs without them and says what is missing instead of failing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from spendtag.errors import SpendtagError
from spendtag.ledger.store import Store

STATUSES: tuple[str, ...] = ("sent", "paid", "void")
BUSINESS_FIELDS: tuple[str, ...] = ("legal_name", "address", "tax_id", "email", "payment_instructions", "terms_days",
                                    "notes")
CLIENT_FIELDS: tuple[str, ...] = ("legal_name", "address", "tax_id", "email", "po_number", "currency", "tax_rate",
                                  "reverse_charge", "terms_days", "presentation", "show_cost")
MISSING = "needs the billing profile support"


class Unavailable(SpendtagError):
    """This install of spendtag has no billing-profile support yet."""


def _find(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def _need(module: str, name: str, what: str) -> Callable[..., Any]:
    found = _find(module, name)
    if found is None:
        raise Unavailable(f"{what} {MISSING} ({module}.{name}), which this version of spendtag does not have yet")
    return found


def available() -> dict[str, bool]:
    """Which of the three actions this install can do."""
    return {"status": _find("spendtag.bill.status", "mark") is not None,
            "business": _find("spendtag.bill.profile", "save_business") is not None,
            "client": _find("spendtag.bill.profile", "save_client") is not None}


def mark(store: Store, number: str, status: str, by: str, at: datetime | None = None) -> Any:
    if status not in STATUSES:
        raise SpendtagError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    return _need("spendtag.bill.status", "mark", "Marking an invoice sent, paid or void")(store, number, status,
                                                                                          by=by, at=at)


def save_business(store: Store, fields: Mapping[str, str], by: str) -> Any:
    return _need("spendtag.bill.profile", "save_business", "Saving the business profile")(
        store, {k: fields.get(k, "") for k in BUSINESS_FIELDS}, by=by)


def save_client(store: Store, client: str, fields: Mapping[str, str], by: str) -> Any:
    if not client.strip():
        raise SpendtagError("give the client (a value of the client tag, e.g. acme)")
    return _need("spendtag.bill.profile", "save_client", "Saving a client's billing details")(
        store, client.strip(), {k: fields.get(k, "") for k in CLIENT_FIELDS}, by=by)


def current(store: Store, client: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The saved business profile and (for ``client``) client details, as form values, where the
    billing-profile support can read them back; empty otherwise."""
    business: dict[str, str] = {}
    details: dict[str, str] = {}
    for name in ("business", "load_business"):
        load = _find("spendtag.bill.profile", name)
        if load is not None:
            business = _as_fields(_quiet(load, store), BUSINESS_FIELDS)
            break
    if client:
        for name in ("client", "load_client"):
            load = _find("spendtag.bill.profile", name)
            if load is not None:
                details = _as_fields(_quiet(load, store, client), CLIENT_FIELDS)
                break
    return business, details


def _quiet(load: Callable[..., Any], *args: Any) -> Any:
    try:
        return load(*args)
    except (SpendtagError, TypeError, ValueError, LookupError):
        return None


def _as_fields(found: Any, names: tuple[str, ...]) -> dict[str, str]:
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        found = {n: getattr(found, n, None) for n in names}
    return {n: "" if found.get(n) is None else str(found.get(n)) for n in names}
