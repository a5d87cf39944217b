"""The ledger (layer L3): the Store protocol and its implementations."""

from __future__ import annotations

from spendtag.ledger.store import ModelUse, RecordResult, Store


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(url: str) -> Store:
    """Open (and migrate) the ledger at ``url``: ``sqlite:///path``, a plain path, or ``postgresql://...``."""
    if is_postgres_url(url):
        # Imported here: the driver is an optional extra, and SQLite users never load it.
        from spendtag.ledger.postgres import PostgresStore

        return PostgresStore(url)
    from spendtag.ledger.sqlite import SQLiteStore

    return SQLiteStore(url)


__all__ = ["ModelUse", "RecordResult", "Store", "is_postgres_url", "open_store"]
