"""The ledger (layer L3): the Store protocol and its implementations."""

from __future__ import annotations

from spendtag.errors import StoreError
from spendtag.ledger.store import ModelUse, RecordResult, Store


def open_store(url: str) -> Store:
    """Open (and migrate) the ledger at ``url``: ``sqlite:///path``, a plain path, or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError("PostgreSQL ledgers are not available in this version; use a SQLite path")
    from spendtag.ledger.sqlite import SQLiteStore

    return SQLiteStore(url)


__all__ = ["ModelUse", "RecordResult", "Store", "open_store"]
