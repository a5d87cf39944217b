"""The ledger (layer L3): the Store protocol and its implementations."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from spendtag.errors import StoreError
from spendtag.ledger.store import ModelUse, RecordResult, Store, Vocabulary

# What --db, SPENDTAG_DB and `db` in the config file may hold.
LOCATIONS = "a file path, sqlite:///absolute/path.db, sqlite:relative.db or postgresql://user@host/db"
# A URL's scheme (mysql://..., https://...) or SQLite's own file: URIs: text that only looks like a
# relative file name, and would become a folder named "mysql:" holding an empty ledger.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|file:", re.IGNORECASE)


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def check_url(url: str) -> str:
    """``url`` if it names a ledger spendtag can open; otherwise a StoreError that says which forms work."""
    shown = url[:200]
    if not url.strip():
        raise StoreError(f"the ledger location is empty: give {LOCATIONS}")
    if "\x00" in url:
        raise StoreError(f"the ledger location {shown!r} holds a NUL character: give {LOCATIONS}")
    if is_postgres_url(url):
        return url
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:"):]
        if not rest.strip() or (rest.startswith("//") and not rest.startswith("///")):
            raise StoreError(f"{shown!r} names no SQLite file: write sqlite:///absolute/path.db (three slashes) "
                             "or sqlite:relative.db")
        return url
    if _URL.match(url):
        scheme = url.split(":", 1)[0]
        raise StoreError(f"{shown!r}: spendtag cannot keep a ledger in {scheme}: use {LOCATIONS}")
    return url


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
    check_url(url)
    if is_postgres_url(url):
        # Imported here: the driver is an optional extra, and SQLite users never load it.
        from spendtag.ledger.postgres import PostgresStore

        return PostgresStore(url)
    from spendtag.ledger.sqlite import SQLiteStore

    return SQLiteStore(url) if cache_mb is None else SQLiteStore(url, cache_mb=cache_mb)


def migrate(url: str) -> list[str]:
    """Apply the migrations the ledger at ``url`` lacks (making it if new); the names applied."""
    check_url(url)
    if is_postgres_url(url):
        from spendtag.ledger.postgres import PostgresStore

        with PostgresStore(url, migrate=False) as pg:
            return pg.migrate()
    from spendtag.ledger.sqlite import SQLiteStore

    with SQLiteStore(url, migrate=False) as lite:
        return lite.migrate()


__all__ = ["LOCATIONS", "ModelUse", "RecordResult", "Store", "Vocabulary", "check_url", "is_postgres_url", "location",
           "migrate", "open_store"]
