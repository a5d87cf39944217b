"""Issued invoices: kept in the ledger as the documents they were (see ledger/invoice_tables.py).

``IssuedInvoices`` is the invoices code's view of them, over any store that keeps them.
"""

from __future__ import annotations

from pathlib import Path

from spendtag.ledger.invoice_tables import DEFAULT_SCHEME, IssuedInvoice, Render
from spendtag.ledger.store import Store

__all__ = ["IssuedInvoice", "IssuedInvoices", "Render"]


class IssuedInvoices:
    def __init__(self, path: Path | str, *, store: Store | None = None) -> None:
        if store is None:
            from spendtag.ledger import open_store

            store = open_store(str(path))
            self._owned = True
        else:
            self._owned = False
        self._store = store

    @classmethod
    def for_store(cls, store: Store) -> IssuedInvoices:
        return cls("", store=store)

    def issue(self, prefix: str, year: int, client: str, period: str, issued_at: str, render: Render, *,
              scheme: str = DEFAULT_SCHEME, currency: str = "USD", due_on: str = "") -> IssuedInvoice:
        """Take the next number for ``year``, render the invoice with it, and store it, in one transaction."""
        return self._store.issue_invoice(prefix, year, client, period, issued_at, render, scheme=scheme,
                                         currency=currency, due_on=due_on)

    def get(self, number: str) -> IssuedInvoice | None:
        return self._store.issued_invoice(number)

    def index(self, client: str | None = None) -> list[IssuedInvoice]:
        return self._store.issued_invoices(client)

    def find(self, client: str, period: str) -> list[str]:
        return self._store.issued_numbers(client, period)

    def close(self) -> None:
        if self._owned:
            self._store.close()
