"""The ``[invoices]`` and ``[billing]`` config tables::

    [invoices]
    prefix = "INV"                # numbers: INV-2026-0001, sequential per year
    by = "model"                  # line items: model, project, agent or a tag key
    issuer = "Example Agency Ltd" # printed at the top of each invoice

    [billing]
    credit_tag = "billing=credit" # usage under credits or a free tier: at list price, then credited
    allocate = "proportional"     # shared (untagged) cost: overhead, proportional, even, fixed:a=60,b=40

    [billing.default]             # clients without their own table (else pass-through)
    model = "cost-plus"
    markup = "30%"

    [billing.clients.acme]
    model = "fixed-fee"
    fee = "500"
    usage_cap = "400"
    overage = "absorb"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spendtag.errors import ConfigError
from spendtag.invoices.allocation import Allocation
from spendtag.invoices.terms import BillingError, Terms, from_config
from spendtag.tags import Selector

_INVOICE_KEYS = ("prefix", "by", "issuer")
_BILLING_KEYS = ("credit_tag", "allocate", "default", "clients")


@dataclass(frozen=True, slots=True)
class BillingConfig:
    client_key: str = "client"
    prefix: str = "INV"
    by: str = "model"
    issuer: str = ""
    credit: Selector = Selector("billing", "eq", "credit")
    allocation: Allocation = field(default_factory=Allocation)
    default: Terms = field(default_factory=Terms)
    clients: Mapping[str, Terms] = field(default_factory=dict)

    def terms_for(self, client: str) -> Terms:
        return self.clients.get(client, self.default)

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any], *, client_key: str = "client",
                      path: str = "config") -> BillingConfig:
        try:
            return _read(sections, client_key)
        except BillingError as exc:
            raise ConfigError(str(exc), path=path) from None


def _table(value: object, name: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BillingError(f"[{name}] must be a table")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise BillingError(f"[{name}]: unknown key(s) {', '.join(unknown)}; use {', '.join(known)}")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise BillingError(f"[{where}] {key} must be a string, e.g. {key} = \"{default or '...'}\"")
    return value


def _read(sections: Mapping[str, Any], client_key: str) -> BillingConfig:
    inv = _table(sections.get("invoices"), "invoices", _INVOICE_KEYS)
    bill = _table(sections.get("billing"), "billing", _BILLING_KEYS)
    prefix = _text(inv, "prefix", "invoices", "INV").strip()
    if not prefix or not all(ch.isalnum() or ch in "-_" for ch in prefix):
        raise BillingError(f"[invoices] prefix {prefix!r} may hold only letters, digits, - and _")
    credit_text = _text(bill, "credit_tag", "billing", "billing=credit")
    credit = Selector.parse(credit_text)
    if credit.op != "eq":
        raise BillingError(f"[billing] credit_tag {credit_text!r} must be key=value, e.g. billing=credit")
    clients_table = bill.get("clients", {})
    if not isinstance(clients_table, Mapping):
        raise BillingError("[billing.clients] must hold one table per client: [billing.clients.acme]")
    clients = {name: from_config(t, f"[billing.clients.{name}]") for name, t in clients_table.items()}
    default = from_config(bill["default"], "[billing.default]") if "default" in bill else Terms()
    return BillingConfig(
        client_key=client_key,
        prefix=prefix,
        by=_text(inv, "by", "invoices", "model"),
        issuer=_text(inv, "issuer", "invoices", ""),
        credit=credit,
        allocation=Allocation.parse(_text(bill, "allocate", "billing", "overhead")),
        default=default,
        clients=clients,
    )
