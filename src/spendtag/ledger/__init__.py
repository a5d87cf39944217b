"""The ledger (layer L3): the Store protocol and its implementations."""

from __future__ import annotations

from spendtag.ledger.store import ModelUse, RecordResult, Store, Vocabulary


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(url: str, *, cache_mb: int | None = None) -> Store:
    """Open (and migrate) the ledger at ``url``: ``sqlite:///path``, a plain path, or ``postgresql://...``.

    ``cache_mb`` caps a SQLite connection's page cache (a writer that only appends needs little;
    the server keeps its own cache for PostgreSQL)."""
    if is_postgres_url(url):
        # Imported here: the driver is an optional extra, and SQLite users never load it.
        from spendtag.ledger.postgres import PostgresStore

        return PostgresStore(url)
    from spendtag.ledger.sqlite import SQLiteStore

    return SQLiteStore(url) if cache_mb is None else SQLiteStore(url, cache_mb=cache_mb)


def migrate(url: str) -> list[str]:
    """Apply the migrations the ledger at ``url`` lacks (making it if new); the names applied."""
    if is_postgres_url(url):
        from spendtag.ledger.postgres import PostgresStore

        with PostgresStore(url, migrate=False) as pg:
            return pg.migrate()
    from spendtag.ledger.sqlite import SQLiteStore

    with SQLiteStore(url, migrate=False) as lite:
        return lite.migrate()


__all__ = ["ModelUse", "RecordResult", "Store", "Vocabulary", "is_postgres_url", "migrate", "open_store"]
