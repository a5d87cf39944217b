"""What the ledger code shared by SQLite and PostgreSQL asks of its database.

Shared code (``rollup_store.py`` and the table mixins) writes SQL with ``?`` placeholders
and runs it through ``_run``/``_run_many``; each store implements the hooks below for its
database: how a statement runs, how a value list is matched, how an insert skips a row
that exists, and which locks a transaction takes (none on SQLite, whose write
transaction already excludes every other writer).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from spendtag.errors import StoreError


class Cursor(Protocol):
    """The part of a DB-API cursor the shared code reads."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect:
    """Hooks a store implements for its database (see the module docstring)."""

    # Appended to a SELECT whose rows the transaction goes on to update.
    _FOR_UPDATE = ""
    # The most values one ``_in`` condition may hold (None: no limit).
    _IN_CHUNK: int | None = None

    def _transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement written with ``?`` placeholders."""
        raise NotImplementedError

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition that ``column`` is one of ``values``, and its arguments."""
        raise NotImplementedError

    def _insert_new(self, table: str, columns: Sequence[str], conflict: str = "") -> str:
        """An INSERT of one row that does nothing when the row exists (``conflict``: the key)."""
        raise NotImplementedError

    def _ints_text(self, columns: Sequence[str]) -> str:
        """SQL for integer columns' values as decimal text joined by commas."""
        raise NotImplementedError

    def _lock_table(self, table: str) -> None:
        """Keep other writers of ``table`` out until this transaction ends."""

    def _lock_name(self, name: str) -> None:
        """Take a lock named ``name`` until this transaction ends."""

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self._run(sql, args).fetchone()
        if row is None:   # pragma: no cover - only for queries that always return a row
            raise StoreError(f"no row from: {sql}")
        return tuple(row)

    def _chunks(self, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """``values`` in pieces small enough for one ``_in`` condition each."""
        size = self._IN_CHUNK or max(1, len(values))
        for i in range(0, len(values), size):
            yield values[i:i + size]
