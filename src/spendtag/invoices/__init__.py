"""Invoices (layer L4): billing terms, shared-cost allocation, invoice documents, issued invoices,
repricing and price cross-checks. See :mod:`spendtag.invoices.build` for how an invoice is made."""

from __future__ import annotations

from spendtag.invoices.allocation import Allocation, largest_remainder
from spendtag.invoices.build import Request, Run, invoice_for, run_all
from spendtag.invoices.config import BillingConfig
from spendtag.invoices.model import Invoice, from_json, to_json
from spendtag.invoices.terms import BillingError, Terms

__all__ = ["Allocation", "BillingConfig", "BillingError", "Invoice", "Request", "Run", "Terms", "from_json",
           "invoice_for", "largest_remainder", "run_all", "to_json"]
