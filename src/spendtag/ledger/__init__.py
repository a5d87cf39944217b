"""The ledger (layer L3): the Store protocol and its implementations."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from spendtag.ledger.store import ModelUse, RecordResult, Store, Vocabulary


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def location(url: str) -> str:
    """Where the ledger at ``url`` is, for people: a SQLite file's absolute path, or a PostgreSQL
    URL with its password masked (``postgresql://user:***@host/db``)."""
    if is_postgres_url(url):
        parts = urlsplit(url)
        if parts.password is not None:
            user, _, host = parts.netloc.rpartition("@")
            parts = parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(k == "password" for k, _ in query):
            masked = [(k, "***" if k == "password" else v) for k, v in query]
            parts = parts._replace(query=urlencode(masked, safe="*"))
        return urlunsplit(parts)
    from spendtag.ledger.sqlite import path_from_url

    path = str(path_from_url(url).absolute())
    # A store's own url is sqlite:/// + its absolute path: four slashes, read back as //path.
    return "/" + path.lstrip("/") if path.startswith("//") else path


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


__all__ = ["ModelUse", "RecordResult", "Store", "Vocabulary", "is_postgres_url", "location", "migrate", "open_store"]
