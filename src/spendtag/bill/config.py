"""The ``[invoices]`` and ``[billing]`` config tables::

    [invoices]
    prefix = "INV"                # numbers: INV-2026-0001, sequential per year
    by = "model"                  # line items: model, project, agent or a tag key
    issuer = "Example Agency Ltd" # the seller's name when [business] has none (see profile.py)

    [billing]
    credit_tag = "billing=credit" # usage under credits or a free tier: at list price, then credited
    allocate = "proportional"     # shared (untagged) cost: overhead, proportional, even, fixed:a=60,b=40

    [billing.default]             # clients without their own table (else pass-through)
    model = "cost-plus"
    markup = "30%"

    [billing.rates]               # invoices in another currency: units per 1 USD (see rates.py)
    EUR = "0.92"

    [billing.clients.acme]        # terms, and billing details (see profile.py)
    model = "fixed-fee"
    fee = "500"
    usage_cap = "400"
    overage = "absorb"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spendtag.bill import profile
from spendtag.bill.allocation import Allocation
from spendtag.bill.terms import BillingError, Terms, from_config
from spendtag.config_table import Table
from spendtag.errors import SpendtagError
from spendtag.tags import Selector, check_key

_INVOICE_KEYS = ("prefix", "by", "issuer")
_BILLING_KEYS = ("credit_tag", "allocate", "default", "clients", "rates")


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
        inv = Table(sections.get("invoices", {}), path=path, key=("invoices",), label="[invoices]")
        inv.only(_INVOICE_KEYS)
        bill = Table(sections.get("billing", {}), path=path, key=("billing",), label="[billing]")
        bill.only(_BILLING_KEYS)
        prefix = inv.string("prefix", "INV", example="INV")
        if not all(ch.isalnum() or ch in "-_" for ch in prefix):
            raise inv.error("prefix", f"{prefix!r} may hold only letters, digits, - and _", 'write prefix = "INV"')
        credit_text = bill.string("credit_tag", "billing=credit", example="billing=credit")
        try:
            credit = Selector.parse(credit_text)
        except SpendtagError as exc:
            raise bill.error("credit_tag", str(exc), 'write credit_tag = "billing=credit"') from None
        if credit.op != "eq":
            raise bill.error("credit_tag", f"{credit_text!r} must be key=value", 'write credit_tag = "billing=credit"')
        allocate = bill.string("allocate", "overhead", example="proportional")
        try:
            allocation = Allocation.parse(allocate)
        except BillingError as exc:
            raise bill.error("allocate", str(exc), 'write allocate = "proportional"') from None
        clients = bill.table("clients", example="write one table per client: [billing.clients.acme]")
        return cls(
            client_key=client_key,
            prefix=prefix,
            by=_by(inv),
            issuer=inv.string("issuer", "", example="Example Agency Ltd", lines=True),
            credit=credit,
            allocation=allocation,
            default=from_config(bill.table("default"), _DETAILS) if "default" in bill else Terms(),
            clients={name: from_config(clients.table(name), _DETAILS) for name in clients.data},
        )


_DETAILS = tuple(profile.CLIENT_FIELDS)


def _by(inv: Table) -> str:
    by: str = inv.string("by", "model", example="model")
    if by not in ("model", "project", "agent"):
        try:
            check_key(by)
        except SpendtagError as exc:
            raise inv.error("by", f"{exc}; use model, project, agent or a tag key", 'write by = "model"') from None
    return by
