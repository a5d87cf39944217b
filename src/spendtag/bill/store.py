"""Issued invoices: kept in the ledger as the documents they were (see ledger/invoice_tables.py).

``IssuedInvoices`` is the invoices code's view of them, over any store that keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from spendtag.bill import build, render
from spendtag.bill import document as client_document
from spendtag.bill.model import Invoice, from_json, to_json
from spendtag.bill.terms import BillingError
from spendtag.ledger.invoice_tables import DEFAULT_SCHEME, IssuedInvoice, Render
from spendtag.ledger.store import Store

__all__ = ["IssuedInvoice", "IssuedInvoices", "Render", "issue_all"]


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


def issue_all(store: Store, invoices: Sequence[Invoice], *, prefix: str, on: date, scheme: str = DEFAULT_SCHEME,
              reissue: bool = False, told: Callable[[Invoice], None] | None = None) -> list[Invoice]:
    """Number and store each invoice (dated ``on``) exactly as it prints; what `invoice --issue` does.

    Refused, before anything is stored: an invoice with calls nobody could price, and a client's
    period already issued (unless ``reissue``: a new number, whose credits replace the earlier issue's).
    ``told`` hears of each invoice as it is stored.
    """
    issued = IssuedInvoices.for_store(store)
    for inv in invoices:
        build.check_issuable(inv)
        done = issued.find(inv.client, inv.period)
        if done and not reissue:
            raise BillingError(f"{inv.client_key}={inv.client} {inv.period} was already issued as {done[-1]}: "
                               f"see `spendtag invoice show {done[-1]}`, or pass --reissue for a new number")
    out = []
    for inv in invoices:
        def rendered(number: str, inv: Invoice = inv) -> tuple[str, str, str]:
            final = build.issued(inv, number, on.isoformat())
            return to_json(final), render.as_text(final), format(client_document.of(final).total, "f")

        doc = client_document.dated(client_document.of(inv), on.isoformat())
        record = issued.issue(prefix, on.year, inv.client, inv.period, on.isoformat(), rendered, scheme=scheme,
                              currency=doc.currency, due_on=doc.due_date)
        final = from_json(record.document)
        if told is not None:
            told(final)
        out.append(final)
    return out
