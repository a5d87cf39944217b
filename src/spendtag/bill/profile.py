"""Who bills whom: the business profile and each client's billing details.

Set once in the config file::

    [business]
    name = "Northwind Studio GmbH"          # legal name (else [invoices] issuer)
    address = ["Hauptstraße 1", "10115 Berlin", "Germany"]
    tax_id = "DE123456789"
    email = "billing@northwind.example"
    logo = "~/northwind.png"                 # PNG or JPEG, at most 256 KB
    iban = "DE89 3704 0044 0532 0130 00"
    payment_link = "https://pay.example.com/northwind"
    payment = "Bank transfer, quoting the invoice number"
    terms_days = 30                          # due date = issue date + 30 days
    notes = "Thank you for your business."
    timezone = "Europe/Berlin"               # service period dates
    invoice_number = "{prefix}-{year}-{seq:04d}"

    [billing.clients.acme]                   # beside the client's terms (markup = "30%" ...)
    legal_name = "Acme Corporation SARL"
    address = ["1 rue de la Paix", "75002 Paris", "France"]
    tax_id = "FR12345678901"
    po_number = "PO-7781"
    currency = "EUR"
    tax_rate = "20%"                         # or reverse_charge = true
    terms_days = 14
    layout = "folded"                        # markup and shared cost inside the line prices, or "separate"
    show_cost = false                        # the share link may show raw cost (off: billed amounts only)

``[billing.default]`` takes the same client keys for every client. The dashboard saves edits to
these details in the ledger (:func:`save_business`, :func:`save_client`): append-only rows, the
latest value of a field wins over the config file, and an empty value falls back to the file.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from spendtag.bill.terms import BillingError, parse_markup
from spendtag.config_table import Table
from spendtag.errors import ConfigError, SpendtagError
from spendtag.periods import zone

DEFAULT_NUMBER = "{prefix}-{year}-{seq:04d}"
LOGO_MAX = 256 * 1024
MAX_FIELD = 2000
REVERSE_CHARGE_NOTE = ("Reverse charge: VAT to be accounted for by the recipient "
                       "(Article 196, Council Directive 2006/112/EC).")
Layout = Literal["folded", "separate"]


@dataclass(frozen=True, slots=True)
class Business:
    name: str = ""
    address: tuple[str, ...] = ()
    tax_id: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    logo: str = ""                  # a path to a PNG or JPEG
    payment: tuple[str, ...] = ()   # free-form payment instructions
    iban: str = ""
    bic: str = ""
    payment_link: str = ""
    terms_days: int = 30
    notes: tuple[str, ...] = ()
    timezone: str = ""              # empty: the invoice's own time zone
    invoice_number: str = DEFAULT_NUMBER


@dataclass(frozen=True, slots=True)
class ClientBilling:
    legal_name: str = ""
    address: tuple[str, ...] = ()
    tax_id: str = ""
    email: str = ""
    po_number: str = ""
    currency: str = "USD"
    tax_rate: Decimal = Decimal(0)   # a fraction: 0.2 for 20%
    tax_label: str = "VAT"
    reverse_charge: bool = False
    terms_days: int | None = None    # None: the business's terms
    layout: Layout = "folded"
    show_cost: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    business: Business = field(default_factory=Business)
    default: ClientBilling = field(default_factory=ClientBilling)
    clients: Mapping[str, ClientBilling] = field(default_factory=dict)

    def client(self, name: str) -> ClientBilling:
        return self.clients.get(name, self.default)


# -- reading one value -----------------------------------------------------------------------

def _text(t: Table, key: str, default: Any) -> Any:
    value = t.string(key, default, example="...")
    if isinstance(value, str) and len(value) > MAX_FIELD:
        raise t.error(key, f"is {len(value):,} characters long; at most {MAX_FIELD:,}", "shorten it")
    return value


def _lines(t: Table, key: str, default: Any) -> Any:
    if key not in t:
        return default
    raw = t.get(key)
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise t.error(key, "must be a string or a list of strings (one per line)",
                      f'write {key} = ["line 1", "line 2"]')
    out = tuple(x.strip() for x in raw if x.strip())
    if sum(len(x) for x in out) > MAX_FIELD or len(out) > 20:
        raise t.error(key, f"is too long: at most 20 lines and {MAX_FIELD:,} characters", "shorten it")
    probe = Table({key: "\n".join(out) or "-"}, path=t.path, key=t.key, label=t.label)
    probe.string(key, lines=True)       # the same control-character check as every other string
    return out


def _days(t: Table, key: str, default: Any) -> Any:
    return t.integer(key, default, least=0, most=365, example=30)


def _bool(t: Table, key: str, default: Any) -> Any:
    return t.boolean(key, default) if key in t else default


def _currency(t: Table, key: str, default: Any) -> Any:
    value = t.string(key, default, example="EUR")
    if value is default:
        return default
    code = str(value).upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise t.error(key, f"{value!r} is not an ISO 4217 currency code", f'write {key} = "EUR"')
    return code


def _percent(t: Table, key: str, default: Any) -> Any:
    if key not in t:
        return default
    raw = t.get(key)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise t.error(key, "must be a percentage such as \"20%\"", f'write {key} = "20%"')
    try:
        value = parse_markup(repr(raw) if isinstance(raw, float) else str(raw))
    except BillingError:
        raise t.error(key, f"{raw!r} is not a percentage", f'write {key} = "20%"') from None
    if value > 1:
        raise t.error(key, f"{raw!r} is above 100%", f'write {key} = "20%"')
    return value


def _layout(t: Table, key: str, default: Any) -> Any:
    return t.string(key, default, choices=("folded", "separate"))


def _zone(t: Table, key: str, default: Any) -> Any:
    value = t.string(key, default, example="Europe/Berlin")
    if value is default:
        return default
    try:
        zone(value)
    except SpendtagError as exc:
        raise t.error(key, str(exc), f'write {key} = "Europe/Berlin"') from None
    return value


def _url(t: Table, key: str, default: Any) -> Any:
    return t.url(key, default, example="https://pay.example.com/you")


def _scheme(t: Table, key: str, default: Any) -> Any:
    value = t.string(key, default, example=DEFAULT_NUMBER)
    if value is default:
        return default
    try:
        check_scheme(value)
    except BillingError as exc:
        raise t.error(key, str(exc), f'write {key} = "{DEFAULT_NUMBER}"') from None
    return value


def _logo(t: Table, key: str, default: Any) -> Any:
    value = _text(t, key, default)
    if value is default:
        return default
    if not str(value).lower().endswith((".png", ".jpg", ".jpeg")):
        raise t.error(key, f"{value!r} is not a .png or .jpg file", f'write {key} = "~/logo.png"')
    return value


Reader = Callable[[Table, str, Any], Any]
BUSINESS_FIELDS: dict[str, Reader] = {
    "name": _text, "address": _lines, "tax_id": _text, "email": _text, "phone": _text, "website": _text,
    "logo": _logo, "payment": _lines, "iban": _text, "bic": _text, "payment_link": _url, "terms_days": _days,
    "notes": _lines, "timezone": _zone, "invoice_number": _scheme,
}
CLIENT_FIELDS: dict[str, Reader] = {
    "legal_name": _text, "address": _lines, "tax_id": _text, "email": _text, "po_number": _text,
    "currency": _currency, "tax_rate": _percent, "tax_label": _text, "reverse_charge": _bool,
    "terms_days": _days, "layout": _layout, "show_cost": _bool, "notes": _lines,
}
_BOOLEANS = ("reverse_charge", "show_cost")
_INTEGERS = ("terms_days",)


def check_scheme(scheme: str) -> None:
    """An invoice number scheme: ``{prefix}``, ``{year}`` and ``{seq}`` (``{seq:04d}``), year and seq required."""
    names = []
    try:
        for _, name, spec, conv in string.Formatter().parse(scheme):
            if name is None:
                continue
            if name not in ("prefix", "year", "seq") or conv:
                raise BillingError(f"invoice number {scheme!r}: {{{name}}} is unknown (use {{prefix}}, {{year}}, "
                                   "{seq})")
            if spec and (name != "seq" or not (spec.rstrip("d").lstrip("0").isdigit() or spec in ("d", "0d"))):
                raise BillingError(f"invoice number {scheme!r}: only {{seq}} takes a width, as in {{seq:04d}}")
            names.append(name)
    except ValueError as exc:
        raise BillingError(f"invoice number {scheme!r}: {exc}") from None
    if "year" not in names or "seq" not in names:
        raise BillingError(f"invoice number {scheme!r} must hold {{year}} and {{seq}}: numbers restart each year")
    number = scheme.format(prefix="INV", year=2026, seq=1)
    if not number or len(number) > 64 or not all(ch.isalnum() or ch in "-_/." for ch in number):
        raise BillingError(f"invoice number {scheme!r}: a number may hold letters, digits, - _ / . (at most 64)")


def _read(t: Table, readers: Mapping[str, Reader], base: Any) -> Any:
    changes = {k: readers[k](t, k, getattr(base, k)) for k in readers if k in t}
    return replace(base, **changes)


def _client_table(t: Table, base: ClientBilling) -> ClientBilling:
    return _read(t, CLIENT_FIELDS, base)   # type: ignore[no-any-return]


# -- config file and ledger ------------------------------------------------------------------

def from_sections(sections: Mapping[str, Any], *, path: str = "config") -> Profile:
    """The profile as the config file sets it (``[business]``, ``[billing.default]``, ``[billing.clients.*]``)."""
    biz = Table(sections.get("business", {}), path=path, key=("business",), label="[business]")
    biz.only(BUSINESS_FIELDS)
    business: Business = _read(biz, BUSINESS_FIELDS, Business())
    if not business.name:
        inv = sections.get("invoices", {})
        issuer = inv.get("issuer") if isinstance(inv, Mapping) else None
        if isinstance(issuer, str) and issuer.strip():
            business = replace(business, name=issuer.strip())    # the one-line issuer of earlier versions
    bill = Table(sections.get("billing", {}), path=path, key=("billing",), label="[billing]")
    default = _client_table(bill.table("default"), ClientBilling()) if "default" in bill else ClientBilling()
    clients_table = bill.table("clients")
    clients = {name: _client_table(clients_table.table(name), default) for name in clients_table.data}
    return Profile(business, default, clients)


Saved = Mapping[str, Mapping[str, str]]     # scope ("business", "client:acme") -> field -> text


def _typed(fields_: Mapping[str, str]) -> dict[str, Any]:
    """Dashboard text as the config file would hold it ("true" -> true, "30" -> 30, lines as a list)."""
    out: dict[str, Any] = {}
    for key, value in fields_.items():
        text = value.strip() if isinstance(value, str) else value
        if key in _BOOLEANS and isinstance(text, str) and text.lower() in ("true", "false", "on", "off", "yes", "no"):
            out[key] = text.lower() in ("true", "on", "yes")
        elif key in _INTEGERS and isinstance(text, str) and text.isdigit() and text.isascii():
            out[key] = int(text)
        elif key in ("address", "payment", "notes") and isinstance(text, str):
            out[key] = text.splitlines()
        else:
            out[key] = text
    return out


def apply_saved(profile: Profile, saved: Saved) -> Profile:
    """The profile with the ledger's saved fields over the config file's (an empty field keeps the file's)."""
    business = profile.business
    if saved.get("business"):
        t = Table(_typed({k: v for k, v in saved["business"].items() if v and k in BUSINESS_FIELDS}), path="",
                  key=("business",), label="business (saved)")
        business = _read(t, BUSINESS_FIELDS, business)
    clients = dict(profile.clients)
    for scope, values in saved.items():
        if not scope.startswith("client:") or not any(values.values()):
            continue
        name = scope.removeprefix("client:")
        t = Table(_typed({k: v for k, v in values.items() if v and k in CLIENT_FIELDS}), path="",
                  key=("client", name), label=f"client {name} (saved)")
        clients[name] = _client_table(t, profile.client(name))
    return Profile(business, profile.default, clients)


def load(settings: Any, store: Any | None = None) -> Profile:
    """The profile: the config file (``settings``: :class:`spendtag.settings.Settings`), then the ledger's edits."""
    profile = from_sections(settings.sections, path=str(settings.config_path))
    if store is None:
        return profile
    return apply_saved(profile, store.billing_settings())


def _check(fields_: Mapping[str, str], readers: Mapping[str, Reader], label: str) -> dict[str, str]:
    if not isinstance(fields_, Mapping) or not fields_:
        raise BillingError(f"{label}: nothing to save")
    unknown = [k for k in fields_ if k not in readers]
    if unknown:
        raise BillingError(f"{label}: unknown field {unknown[0]!r}; known: {', '.join(readers)}")
    clean: dict[str, str] = {}
    for key, value in fields_.items():
        if not isinstance(value, str):
            raise BillingError(f"{label} {key}: must be text")
        clean[key] = value.replace("\r\n", "\n").strip()
    t = Table(_typed({k: v for k, v in clean.items() if v}), path="", key=(label,), label=label)
    try:
        for key in t.data:
            readers[key](t, key, None)
    except ConfigError as exc:
        raise BillingError(str(exc)) from None
    return clean


def _who(by: str) -> str:
    by = (by or "").strip()
    if not by or len(by) > 200 or not by.isprintable():
        raise BillingError("say who made the change (one line of text, e.g. the admin's name)")
    return by


def save_business(store: Any, fields: dict[str, str], by: str) -> None:
    """Save the business profile fields given (text, as a form sends them); an empty value reverts to the config."""
    clean = _check(fields, BUSINESS_FIELDS, "business")
    store.save_billing_settings("business", clean, _who(by), datetime.now(UTC))


def save_client(store: Any, client: str, fields: dict[str, str], by: str) -> None:
    """Save billing details of ``client`` (text, as a form sends them); an empty value reverts to the config."""
    name = (client or "").strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise BillingError("name the client whose details these are")
    clean = _check(fields, CLIENT_FIELDS, f"client {name}")
    store.save_billing_settings(f"client:{name}", clean, _who(by), datetime.now(UTC))


def logo_uri(path: str, *, origin: str = "[business] logo") -> str:
    """The logo file as a data: URI, kept in the issued document."""
    if not path:
        return ""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()[:LOGO_MAX + 1]
    except OSError as exc:
        raise BillingError(f"{origin}: cannot read {path!r}: {exc.strerror or exc}") from None
    if len(data) > LOGO_MAX:
        raise BillingError(f"{origin}: {path!r} is larger than {LOGO_MAX // 1024} KB; use a smaller image")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "jpeg"
    else:
        raise BillingError(f"{origin}: {path!r} is not a PNG or JPEG image")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def field_names() -> dict[str, tuple[str, ...]]:
    """The fields a form may send, for the dashboard."""
    return {"business": tuple(f.name for f in fields(Business)), "client": tuple(f.name for f in fields(ClientBilling))}


__all__ = ["BUSINESS_FIELDS", "CLIENT_FIELDS", "Business", "ClientBilling", "Profile", "apply_saved", "check_scheme",
           "field_names", "from_sections", "load", "logo_uri", "save_business", "save_client"]
