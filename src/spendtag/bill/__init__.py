"""Billing (layer L4, `bill/`): billing terms, shared-cost allocation, invoice documents, issued invoices,
repricing and price cross-checks. See :mod:`spendtag.bill.build` for how an invoice is made."""

from __future__ import annotations

from spendtag.bill.allocation import Allocation, largest_remainder
from spendtag.bill.build import Request, Run, invoice_for, run_all
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import Invoice, from_json, to_json
from spendtag.bill.terms import BillingError, Terms

__all__ = ["Allocation", "BillingConfig", "BillingError", "Invoice", "Request", "Run", "Terms", "from_json",
           "invoice_for", "largest_remainder", "run_all", "to_json"]
