"""The dashboard's billing settings and invoice status: the forms' fields and the calls behind them.

Saving goes through :mod:`spendtag.bill.profile` and marking through :mod:`spendtag.bill.status`,
as the CLI does. A form shows what the ledger holds for each field; its placeholder shows what
applies when the field is left empty (the config file's value, or the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from spendtag.bill import profile, status
from spendtag.errors import SpendtagError
from spendtag.ledger.store import Store

STATUSES: tuple[str, ...] = ("sent", "paid", "void")


class Field(NamedTuple):
    name: str                  # the profile's field (and the config file's key)
    label: str
    kind: str = "text"         # text | area | choice
    choices: tuple[str, ...] = ()


BUSINESS_FORM: tuple[Field, ...] = (
    Field("name", "Legal name"), Field("address", "Address", "area"), Field("tax_id", "Tax / VAT ID"),
    Field("email", "Email"), Field("phone", "Phone"), Field("website", "Website"),
    Field("logo", "Logo (a .png or .jpg file on this machine)"),
    Field("payment", "Payment instructions", "area"), Field("iban", "IBAN"), Field("bic", "BIC"),
    Field("payment_link", "Payment link"), Field("terms_days", "Payment terms (days)"),
    Field("notes", "Notes on every invoice", "area"), Field("timezone", "Time zone (e.g. Europe/Berlin)"),
    Field("invoice_number", "Invoice number scheme"),
)
CLIENT_FORM: tuple[Field, ...] = (
    Field("legal_name", "Legal name"), Field("address", "Address", "area"), Field("tax_id", "Tax / VAT ID"),
    Field("email", "Email"), Field("po_number", "PO number"), Field("currency", "Currency (ISO code)"),
    Field("tax_rate", "Tax rate (e.g. 20%)"), Field("tax_label", "Tax name (e.g. VAT)"),
    Field("reverse_charge", "Reverse charge", "choice", ("true", "false")),
    Field("terms_days", "Payment terms (days)"),
    Field("layout", "Markup and shared cost", "choice", ("folded", "separate")),
    Field("show_cost", "Show the raw cost on the client's link", "choice", ("true", "false")),
    Field("notes", "Notes on this client's invoices", "area"),
)
BUSINESS_FIELDS: tuple[str, ...] = tuple(f.name for f in BUSINESS_FORM)
CLIENT_FIELDS: tuple[str, ...] = tuple(f.name for f in CLIENT_FORM)
assert set(BUSINESS_FIELDS) == set(profile.BUSINESS_FIELDS) and set(CLIENT_FIELDS) == set(profile.CLIENT_FIELDS)


def mark(store: Store, number: str, status_: str, by: str, at: datetime | None = None) -> Any:
    if status_ not in STATUSES:
        raise SpendtagError(f"status {status_!r}: choose one of {', '.join(STATUSES)}")
    return status.mark(store, number, status_, by=by, at=at)


def save_business(store: Store, fields: Mapping[str, str], by: str) -> None:
    profile.save_business(store, {k: fields.get(k, "") for k in BUSINESS_FIELDS}, by=by)


def save_client(store: Store, client: str, fields: Mapping[str, str], by: str) -> None:
    if not client.strip():
        raise SpendtagError("give the client (a value of the client tag, e.g. acme)")
    profile.save_client(store, client.strip(), {k: fields.get(k, "") for k in CLIENT_FIELDS}, by=by)


def current(store: Store, client: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """What the ledger holds for the business and (for ``client``) the client, as form values."""
    saved = store.billing_settings()
    business = dict(saved.get("business", {}))
    details = dict(saved.get(f"client:{client}", {})) if client else {}
    return business, details


def fallbacks(settings: Any, client: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """What applies to each field when the form leaves it empty: the config file's value, or the default."""
    found = profile.from_sections(settings.sections, path=str(settings.config_path))
    business = {f.name: _text(getattr(found.business, f.name)) for f in BUSINESS_FORM}
    who = found.client(client) if client else found.default
    details = {f.name: _text(getattr(who, f.name)) for f in CLIENT_FORM}
    return business, details


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    from decimal import Decimal

    if isinstance(value, Decimal):
        return f"{(value * 100).normalize():f}%"
    return str(value)
