"""The shared ledger: PostgreSQL through psycopg 3, for several writers (people, proxy replicas).

Same schema and the same answers as the SQLite store: the logic both run is written once in
``rollup_store.py`` and the table mixins; the schema and why it suits the report queries
are in ``postgres_schema.py``. What differs is how concurrency is made safe, since writers
here really do run at the same time:

* ``record`` drops the ids already in the ledger, streams the rest into ``events`` with
  binary COPY (PostgreSQL's bulk path) and upserts the rollup sums, in one transaction.
  Two writers recording the same event at once: the second one's COPY waits on the first's
  unique-key entry, then fails on it; the whole batch is rolled back and tried again, and
  now counts that event as a duplicate. Rollup rows are written in key order, so batches
  lock shared rows in one order (a deadlock all the same is retried too: recording is
  idempotent).
* ``dims``, ``tagsets`` and ``prices`` rows are made with ``INSERT ... ON CONFLICT DO
  NOTHING`` and read back, so concurrent writers agree on one id per distinct row.
* Invoice numbers, active key names and migrations are serialised by table or advisory
  locks held to the end of their transaction (see ``postgres_tables.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import AccessTables
from spendtag.ledger.audit_tables import AuditTables
from spendtag.ledger.billing_tables import BillingTables
from spendtag.ledger.credit_tables import CreditTables
from spendtag.ledger.dialect import Cursor
from spendtag.ledger.invoice_tables import InvoiceTables
from spendtag.ledger.ledger_tables import LedgerTables
from spendtag.ledger.postgres_reservations import PostgresReservations
from spendtag.ledger.postgres_schema import postgres_migrations
from spendtag.ledger.postgres_tables import PostgresTables
from spendtag.ledger.provider_tables import ProviderReports
from spendtag.ledger.query import TOTAL_FIELDS, Filters
from spendtag.ledger.rollup_store import (
    EVENT_SELECT,
    EVENT_SUMS,
    INSERT_COLUMNS,
    ROLLUP_COLS,
    RollupStore,
    RowMaker,
)
from spendtag.ledger.rule_tables import RuleTables
from spendtag.ledger.store import ImportState
from spendtag.usage import PricedEvent

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised only without the extra
    raise StoreError("PostgreSQL ledgers need the postgres extra: pip install 'spendtag[postgres]'") from None

if TYPE_CHECKING:
    from psycopg import Connection

_PAGE = 5_000          # rows per keyset page when streaming events
_RETRIES = 5           # a record batch that deadlocked with another writer is tried again


def _floor(expr: str, width: int) -> str:
    """SQL for ``expr`` rounded down to a multiple of ``width`` (as Python's ``-`` and ``%`` do)."""
    return f"({expr} - mod(mod({expr}, {width}) + {width}, {width}))"


def _upsert(table: str, keys: str, select: str) -> str:
    updates = ", ".join(f"{f} = {table}.{f} + EXCLUDED.{f}" for f in TOTAL_FIELDS)
    return (f"INSERT INTO {table} ({keys}, {ROLLUP_COLS}) {select} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}")


@lru_cache(maxsize=1024)
def _native(sql: str) -> str:
    """A statement written with ``?`` placeholders, in psycopg's ``%s`` style."""
    return sql.replace("?", "%s")


# Binary COPY needs each column's exact type: events' columns in INSERT_COLUMNS order.
_COPY_TYPES = ["text", "int8", "int8", "text", "text", "int8", "text", "text", "text", "int8", "int8",
               *["int8"] * len(EVENT_SUMS)]
_COPY_SQL = f"COPY events ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# A batch's rollup rows go in as one statement per table: one array per column, unnested.
_UNNEST = ", ".join(["%s::int8[]"] * (2 + len(TOTAL_FIELDS)))
_UPSERT_HOUR = _upsert("rollup_hour", "bucket, dim_id", f"SELECT * FROM unnest({_UNNEST})")
_UPSERT_DAY = _upsert("rollup_day", "bucket, dim_id", f"SELECT * FROM unnest({_UNNEST})")
_UPSERT_SESSION = _upsert("rollup_session", "session, bucket, dim_id", f"SELECT * FROM unnest(%s::text[], {_UNNEST})")


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the arrays an unnest upsert reads; rows stay in the given order)."""
    return [list(c) for c in zip(*rows, strict=True)]


class PostgresStore(RollupStore, LedgerTables, PostgresTables, ProviderReports, InvoiceTables, CreditTables,
                    BillingTables, AccessTables, PostgresReservations, AuditTables, RuleTables):
    """A :class:`~spendtag.ledger.store.Store` on one PostgreSQL database (``postgresql://`` URL)."""

    _NUMERIC_SUMS = True

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self._conn: Connection[Any] = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the PostgreSQL ledger: {reason}") from None
        self._lock = threading.RLock()
        self._init_caches()
        self._expect_duplicates = False   # the last batch met ids already recorded: look them up first
        if migrate:
            self.migrate()

    # -- schema ---------------------------------------------------------------------------

    # Held (per transaction) while migrating, so two processes starting at once take turns.
    _MIGRATION_LOCK = 0x5370656E64746167   # "Spendtag"

    def applied_migrations(self) -> list[str]:
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT)")
        return [r[0] for r in self._conn.execute("SELECT name FROM schema_migrations ORDER BY name")]

    def migrate(self) -> list[str]:
        """Apply every migration not yet applied, each in its own transaction; return their names."""
        done = set(self.applied_migrations())
        applied = []
        for migration in postgres_migrations():
            if migration.name in done:
                continue
            with self._transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._MIGRATION_LOCK,))
                if conn.execute("SELECT 1 FROM schema_migrations WHERE name = %s", (migration.name,)).fetchone():
                    continue   # another process applied it while we waited for the lock
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (migration.name, int(time.time())))
            applied.append(migration.name)
        return applied

    @contextmanager
    def _transaction(self) -> Iterator[Connection[Any]]:
        """One transaction on this store's connection (nested calls become savepoints)."""
        with self._lock:
            try:
                with self._conn.transaction():
                    yield self._conn
            except BaseException:
                # The caches may now hold ids of rows that were rolled back.
                self._forget_caches()
                raise

    def change_token(self) -> int | None:
        return None   # no cheap per-database commit counter: guards read the ledger on a timer

    def refuse_writes(self) -> None:
        self._conn.execute("SET default_transaction_read_only = on")

    def close(self) -> None:
        self._conn.close()

    # -- the dialect ----------------------------------------------------------------------

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(_native(sql), args)

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_native(sql), rows)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def _insert_new(self, table: str, columns: Sequence[str], conflict: str = "") -> str:
        target = f" ({conflict})" if conflict else ""
        return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT{target} DO NOTHING")

    def _ints_text(self, columns: Sequence[str]) -> str:
        return f"concat_ws(',', {', '.join(columns)})"

    def _made(self, table: str, columns: Sequence[str], row: Sequence[Any], key: Sequence[str]) -> int:
        # ON CONFLICT DO NOTHING and read back: concurrent writers agree on one id per distinct row.
        values = dict(zip(columns, row, strict=True))
        where = " AND ".join(f"{c} = ?" for c in key)
        found = (self._run(self._insert_new(table, columns) + " RETURNING id", row).fetchone()
                 or self._run(f"SELECT id FROM {table} WHERE {where}", [values[c] for c in key]).fetchone())
        if found is None:   # pragma: no cover - the row was just inserted or found
            raise StoreError("a dimension row vanished while it was being made")
        return int(found[0])

    def _bucket_sql(self, width: int) -> tuple[str, str]:
        bucket = _floor("ts", width)
        return bucket, bucket

    def _insert_id(self, sql: str, args: Sequence[Any]) -> int:
        row = self._run(sql + " RETURNING id", args).fetchone()
        return int(row[0]) if row else 0

    # -- writing --------------------------------------------------------------------------

    def _record_batch(self, batch: dict[str, Any], now: int, make_rows: RowMaker,
                      states: Sequence[ImportState] = (), after: Callable[[], None] | None = None) -> int:
        # New events are the rule (an import resumes where it stopped): try the COPY straight
        # away, and look up which ids the ledger already has only when the last batch met one
        # or this one does (its COPY then fails on the unique key and the batch is rolled back).
        look = self._expect_duplicates
        for attempt in range(_RETRIES):
            try:
                inserted = self._record(dict(batch), now, make_rows, states, after, look_first=look)
                self._expect_duplicates = inserted < len(batch)
                return inserted
            except (pg_errors.UniqueViolation, pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                # Some of these events are in the ledger already (or another writer committed
                # them after we looked, or locked rollup rows in another order): the batch was
                # rolled back whole; look again.
                look = self._expect_duplicates = True
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")   # pragma: no cover

    def _record(self, batch: dict[str, Any], now: int, make_rows: RowMaker, states: Sequence[ImportState],
                after: Callable[[], None] | None = None, *, look_first: bool = True) -> int:
        with self._transaction() as conn, conn.cursor() as cur:
            if look_first:
                for (found,) in cur.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (list(batch),)):
                    del batch[found]
            if batch:
                # Made before the COPY: making a dims or prices row needs the connection, which a COPY holds.
                rows, hours, sessions = make_rows(batch, now)
                with cur.copy(_COPY_SQL) as copy:
                    copy.set_types(_COPY_TYPES)
                    write = copy.write_row
                    for row in rows:
                        write(row)
                # Rollup rows in key order, so concurrent batches lock shared rows in one order.
                hour_rows, day_rows, session_rows = self._rollup_rows(hours, sessions, ordered=True)
                cur.execute(_UPSERT_HOUR, _columns(hour_rows))
                cur.execute(_UPSERT_DAY, _columns(day_rows))
                cur.execute(_UPSERT_SESSION, _columns(session_rows))
            if states:
                self._put_import_states(states)
            if after is not None:
                after()
        return len(batch)

    # -- reading --------------------------------------------------------------------------

    def _allowed_sql(self, allowed: set[int] | None) -> tuple[str, list[Any]]:
        return ("", []) if allowed is None else (" AND r.dim_id = ANY(?)", [sorted(allowed)])

    def _event_dims(self, allowed: set[int], inline: bool) -> tuple[str | None, list[Any], set[int] | None]:
        return "dim_id = ANY(?)", [sorted(allowed)], None

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]:
        found = self._event_where(filters, dims_inline=True)
        if found is None:
            return
        where, args, _ = found
        # Keyset pages on the primary key: no cursor stays open between the pages a caller reads.
        after: tuple[int, str] | None = None
        left = limit
        while left is None or left > 0:
            page_where = list(where)
            page_args = list(args)
            if after is not None:
                page_where.append("(ts, event_id) > (?, ?)")
                page_args.extend(after)
            size = _PAGE if left is None else min(_PAGE, left)
            rows = self._run(
                f"SELECT {EVENT_SELECT} FROM events WHERE {' AND '.join(page_where)} "
                f"ORDER BY ts, event_id LIMIT {size}", page_args).fetchall()
            for row in rows:
                yield self._event_from_row(row)
            if len(rows) < size:
                return
            after = (rows[-1][1], rows[-1][0])
            if left is not None:
                left -= len(rows)

    def event_rows(self, filters: Filters, *, min_cost: int | None = None, max_cost: int | None = None,
                   batch: int = 2000) -> Iterator[list[tuple[Any, ...]]]:
        query = self._event_rows_query(filters, min_cost, max_cost)
        if query is None:
            return
        sql, args, _ = query
        # A server-side cursor (it lives in a transaction): the server sends a batch at a time,
        # and the rows are read in one scan of the (ts, event_id) key, from one snapshot.
        with self._transaction() as conn, conn.cursor(name="spendtag_event_rows") as cursor:
            cursor.itersize = batch
            cursor.execute(_native(sql), args)
            while rows := cursor.fetchmany(batch):
                yield rows

    def _session_spans(self, sessions: list[str]) -> tuple[dict[str, tuple[int, int]], dict[str, list[int]]]:
        spans: dict[str, tuple[int, int]] = {}
        dims: dict[str, list[int]] = {}
        for session, lo, hi, dim_ids in self._conn.execute(
                "SELECT session, MIN(bucket), MAX(bucket), array_agg(DISTINCT dim_id) FROM rollup_session "
                "WHERE session = ANY(%s) GROUP BY session", (sessions,)):
            spans[session] = (int(lo), int(hi))
            dims[session] = sorted(int(d) for d in dim_ids)
        return spans, dims
