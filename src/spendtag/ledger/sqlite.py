"""The embedded ledger: SQLite in WAL mode, one writer at a time, durable commits.

Layout (see migrations.py): events hold counts and pico-USD costs per call and point to a
``dims`` row (provider, model, project, agent, key, user, source, status, tag set) and a
``prices`` row (the price used). ``rollup_hour``/``rollup_day`` hold exact per-bucket
sums per dims row, maintained in the same transaction as the events they sum, so reports
over months read thousands of rows, not millions (plan.py decides which parts come from
where).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import add
from pathlib import Path
from typing import Any

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import AccessTables
from spendtag.ledger.audit_tables import AuditTables
from spendtag.ledger.billing_tables import BillingTables
from spendtag.ledger.credit_tables import CreditTables
from spendtag.ledger.dialect import Cursor
from spendtag.ledger.invoice_tables import InvoiceTables
from spendtag.ledger.ledger_tables import LedgerTables
from spendtag.ledger.migrations import MIGRATIONS
from spendtag.ledger.plan import DAY_US
from spendtag.ledger.provider_tables import ProviderTables
from spendtag.ledger.query import TOTAL_FIELDS, Filters
from spendtag.ledger.reservation_tables import SQLiteReservations
from spendtag.ledger.rollup_store import (
    EVENT_SELECT,
    IMPORT_COLUMNS,
    INSERT_COLUMNS,
    ROLLUP_COLS,
    RollupStore,
    RowMaker,
    group_import_rows,
)
from spendtag.ledger.rule_tables import RuleTables
from spendtag.ledger.store import ImportPart, ImportState
from spendtag.periods import to_us
from spendtag.usage import PricedEvent

_INSERT_SQL = f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
_IMPORT_SQL = (f"INSERT OR IGNORE INTO events ({', '.join(IMPORT_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(IMPORT_COLUMNS))})")
# Rows written by one statement of an import (several small files' events, or their states).
_PART_ROWS = 2000
_IN_CHUNK = 900
PAGE_SIZE = 16384   # for new ledgers
_SCAN_CACHE = -2048  # KiB of page cache while event_rows reads


def _upsert_sql(table: str, keys: str) -> str:
    updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in TOTAL_FIELDS)
    marks = ", ".join("?" * (len(keys.split(",")) + len(TOTAL_FIELDS)))
    return (
        f"INSERT INTO {table} ({keys}, {ROLLUP_COLS}) VALUES ({marks}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )


_UPSERT_HOUR = _upsert_sql("rollup_hour", "bucket, dim_id")
_UPSERT_DAY = _upsert_sql("rollup_day", "bucket, dim_id")
_UPSERT_SESSION = _upsert_sql("rollup_session", "session, bucket, dim_id")


class _ExactSum:
    """SUM in Python's integers; beyond 64 bits the total comes back as its digits in a BLOB
    (a Python aggregate cannot hand SQLite a larger integer), which ``_run`` reads back."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = (self.total or 0) + int(value)

    def finalize(self) -> int | bytes | None:
        total = self.total
        if total is None or -(1 << 63) <= total < (1 << 63):
            return total
        return str(total).encode()


class _Rows:
    """Rows already read, as the cursor they came from would give them."""

    rowcount = -1

    def __init__(self, rows: list[Any]) -> None:
        self._rows = iter(rows)

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return self._rows


def path_from_url(url: str) -> Path:
    """``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a plain path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite://"):])
    if url.startswith("sqlite:"):
        return Path(url[len("sqlite:"):])
    return Path(url).expanduser()


def _add_sums(rows: list[tuple[Any, ...]], hours: dict[tuple[int, int], list[int]],
              sessions: dict[tuple[str, int, int], list[int]]) -> None:
    """Add import rows (IMPORT_COLUMNS order) to running totals (TOTAL_FIELDS order) per hour and per session."""
    by_hour, by_session = group_import_rows(rows)
    summed: dict[int, list[int]] = {}     # a session group that is an hour group is summed once
    for key, group in by_hour.items():
        sums = summed[id(group)] = [len(group), *map(sum, zip(*group, strict=True))]
        _add_to(hours, key, sums)
    for skey, group in by_session.items():
        found = summed.get(id(group))
        _add_to(sessions, skey, found if found is not None else [len(group), *map(sum, zip(*group, strict=True))])


def _add_to(totals: dict[Any, list[int]], key: Any, sums: list[int]) -> None:
    found = totals.get(key)
    totals[key] = sums if found is None else list(map(add, found, sums))


class SQLiteStore(RollupStore, LedgerTables, ProviderTables, InvoiceTables, CreditTables, BillingTables, AccessTables,
                  SQLiteReservations, AuditTables, RuleTables):
    """A :class:`~spendtag.ledger.store.Store` on one SQLite file."""

    _IN_CHUNK = _IN_CHUNK

    def __init__(self, url: str | Path, *, migrate: bool = True, cache_mb: int = 64) -> None:
        self.path = path_from_url(str(url))
        # Absolute: others reopen the ledger from this url (the proxy's writer), maybe elsewhere.
        self.url = f"sqlite:///{self.path.absolute()}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            if self.path.exists() and not self.path.is_file():
                # /dev/null, a folder, a FIFO: SQLite would fail later (or write a journal beside a device).
                raise StoreError(f"cannot open the ledger at {self.path}: it is not a regular file "
                                 "(give a ledger file, or a new file name)")
            # An absolute name: SQLite may read a relative one that starts with "file:" as a URI.
            self._conn = sqlite3.connect(str(self.path.absolute()), isolation_level=None, check_same_thread=False,
                                         timeout=30)
            self._conn.create_aggregate("spendtag_exact_sum", 1, _ExactSum)  # type: ignore[arg-type]  # (a BLOB too)
            if new:
                # Only a database not yet written takes it. Bulk imports insert at random places
                # in the time-clustered events and their id index: with 16 KiB pages they write
                # (and checksum into the WAL) about a fifth less, and the proxy's small batches
                # barely notice. An older ledger keeps its 4 KiB pages.
                self._conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")   # in KiB; readers want it large
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the ledger at {self.path}: {exc}") from None
        self._init_caches()
        self._last_stamp = 0   # the last recorded_at record_import used (each part its own)
        if migrate:
            try:
                self.migrate()
            except sqlite3.DatabaseError as exc:    # not a ledger, damaged, or read-only
                self._conn.close()
                raise StoreError(f"cannot open the ledger at {self.path}: {exc}") from None

    # -- schema ---------------------------------------------------------------------------

    def applied_migrations(self) -> list[str]:
        self._conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT)")
        return [r[0] for r in self._conn.execute("SELECT name FROM schema_migrations ORDER BY name")]

    def migrate(self) -> list[str]:
        """Apply every migration not yet applied, each in its own transaction; return their names."""
        done = set(self.applied_migrations())
        applied = []
        for migration in MIGRATIONS:
            if migration.name in done:
                continue
            with self._transaction():
                if self._conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?",
                                      (migration.name,)).fetchone():
                    continue   # another process applied it while we waited for the lock
                for statement in migration.statements:
                    self._conn.execute(statement.replace("{WITHOUT_ROWID}", "WITHOUT ROWID"))
                self._conn.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                                   (migration.name, int(time.time())))
            applied.append(migration.name)
        return applied

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            # The caches may now hold ids of rows that were rolled back.
            self._forget_caches()
            raise
        else:
            conn.execute("COMMIT")

    def change_token(self) -> int | None:
        # Moves when any other connection, in any process, commits to this database file
        # (never for this connection's own commits): a few microseconds, no file access.
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def refuse_writes(self) -> None:
        self._conn.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self._conn.close()

    # -- the dialect ----------------------------------------------------------------------

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        if "SUM(" not in sql:
            return self._conn.execute(sql, args)
        # SQLite's SUM stops at 64 bits ("integer overflow"). A rollup row stays far inside
        # them (see spendtag.bounds), but a report adds rows over any range: past 2^63 the
        # same query is run again with the sums made in Python's integers, exact.
        try:
            return _Rows(self._conn.execute(sql, args).fetchall())
        except sqlite3.OperationalError as exc:
            if "integer overflow" not in str(exc):
                raise
        rows = self._conn.execute(sql.replace("SUM(", "spendtag_exact_sum("), args).fetchall()
        return _Rows([tuple(int(v) if type(v) is bytes else v for v in row) for row in rows])

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _insert_new(self, table: str, columns: Sequence[str], conflict: str = "") -> str:
        return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"

    def _ints_text(self, columns: Sequence[str]) -> str:
        return f"printf('{','.join(['%d'] * len(columns))}', {', '.join(columns)})"

    def _made(self, table: str, columns: Sequence[str], row: Sequence[Any], key: Sequence[str]) -> int:
        conn = self._conn
        conn.execute(self._insert_new(table, columns), row)
        values = dict(zip(columns, row, strict=True))
        where = " AND ".join(f"{c} = ?" for c in key)
        found: int = conn.execute(f"SELECT id FROM {table} WHERE {where}", [values[c] for c in key]).fetchone()[0]
        return found

    def _bucket_sql(self, width: int) -> tuple[str, str]:
        return f"(ts / {width}) * {width}", f"ts / {width}"

    def _insert_id(self, sql: str, args: Sequence[Any]) -> int:
        return int(self._conn.execute(sql, args).lastrowid or 0)

    # -- writing --------------------------------------------------------------------------

    def _record_batch(self, batch: dict[str, Any], now: int, make_rows: RowMaker,
                      states: Sequence[ImportState] = (), after: Callable[[], None] | None = None) -> int:
        with self._transaction() as conn:
            ids = list(batch)
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i:i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for (found,) in conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk):
                    del batch[found]
            rows, hours, sessions = make_rows(batch, now)
            conn.executemany(_INSERT_SQL, rows)
            hour_rows, day_rows, session_rows = self._rollup_rows(hours, sessions, ordered=False)
            conn.executemany(_UPSERT_HOUR, hour_rows)
            conn.executemany(_UPSERT_DAY, day_rows)
            conn.executemany(_UPSERT_SESSION, session_rows)
            if states:
                self._put_import_states(states)
            if after is not None:
                after()
        return len(batch)

    def _record_import(self, files: Iterable[tuple[ImportPart, ImportState]], now: int) -> tuple[int, int, int]:
        """Each part (a file's events) is inserted as is, and looked at again only when some were in the ledger.

        ``INSERT OR IGNORE`` skips an id the ledger (or an earlier part) has; the change count
        says whether it did. Copies are the exception (resumed sessions, sub-agent calls also
        written in the parent), so most parts go in at once. For the others, the rows it did
        insert are told apart by their ``recorded_at``: each part (or run of small parts, written
        by one statement) gets its own value, later than any this ledger had when the write lock
        was taken (savepoints would say it too, but they double the cost of the whole import).
        Parts are written as they come and only their sums are kept, so a large transaction
        costs little memory. Foreign keys are not
        checked here: every dims and prices id comes from rows this store read or made
        (checking costs a third of the insert time). Revised copies are applied last, once
        the rollups of the new events are written (``_apply_revised`` rebuilds some).
        """
        conn = self._conn
        hours: dict[tuple[int, int], list[int]] = {}
        sessions: dict[tuple[str, int, int], list[int]] = {}
        revised: list[tuple[Any, ...]] = []
        inserted = total = updated = 0
        conn.execute("PRAGMA foreign_keys=OFF")   # a no-op inside a transaction: set before it
        try:
            with self._transaction():
                # Taken with the write lock held: every row committed before has an earlier time
                # (an earlier transaction's stamps end before it committed, each part taking
                # more than a microsecond), unless the clock went back, which _inserted_rows sees.
                stamp = max(int(time.time() * 1_000_000), self._last_stamp + 1)
                # Small parts (a file with a call or two: Droid, Cline...) are written together, as
                # one part: a statement per file was most of the time of a tree of small files.
                pending: list[tuple[Any, ...]] = []
                states: list[ImportState] = []

                def flush() -> None:
                    nonlocal inserted, stamp, pending
                    rows = pending
                    pending = []
                    before = conn.total_changes
                    conn.executemany(_IMPORT_SQL, rows)
                    added = conn.total_changes - before
                    if added != len(rows):
                        rows = self._inserted_rows(rows, stamp, added)
                    inserted += len(rows)
                    _add_sums(rows, hours, sessions)
                    stamp += 1

                for (heads, events, copies), state in files:
                    if events or copies:
                        total += len(events) + len(copies)
                        head_rows = [self._import_head(stamp, dims, price) for dims, price in heads]
                        # Revised copies wait for the end; one inserted then keeps its part's stamp.
                        revised.extend(head_rows[head] + body for head, body in copies)
                        pending.extend(head_rows[head] + body for head, body in events)
                        if len(pending) >= _PART_ROWS:
                            flush()
                    states.append(state)
                    if len(states) >= _PART_ROWS:
                        self._put_import_states(states)
                        states = []
                if pending:
                    flush()
                if states:
                    self._put_import_states(states)
                self._last_stamp = stamp - 1
                days: dict[tuple[int, int], list[int]] = {}
                for (hour, dim_id), acc in hours.items():
                    _add_to(days, (hour - hour % DAY_US, dim_id), acc)
                conn.executemany(_UPSERT_HOUR, [(*key, *acc) for key, acc in hours.items()])
                conn.executemany(_UPSERT_DAY, [(*key, *acc) for key, acc in days.items()])
                conn.executemany(_UPSERT_SESSION, [(*key, *acc) for key, acc in sessions.items()])
                if revised:
                    added, updated = self._apply_revised(revised)
                    inserted += added
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
        return inserted, total, updated

    def _inserted_rows(self, rows: list[tuple[Any, ...]], stamp: int, added: int) -> list[tuple[Any, ...]]:
        """The import rows that ``INSERT OR IGNORE`` with this ``recorded_at`` stamp did insert (``added`` of them).

        Asks for the ids that were there before (a row with another stamp): the copies, usually
        a few, rather than every id just inserted.
        """
        ids = [row[3] for row in rows]
        before: set[str] = set()
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            before.update(found for (found,) in self._conn.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({marks}) AND recorded_at <> ?", [*chunk, stamp]))
        new = []
        mine: set[str] = set()
        for row in rows:
            if row[3] not in before and row[3] not in mine:
                mine.add(row[3])          # a repeated id: only its first row went in
                new.append(row)
        if len(new) != added:
            # An event recorded earlier has this very stamp (the clock went back): which rows
            # are new cannot be told, so nothing of this batch is kept.
            raise StoreError("the system clock went back during an import; nothing of the last batch was "
                             "recorded: run the import again")
        return new

    # -- reading --------------------------------------------------------------------------

    def _allowed_sql(self, allowed: set[int] | None) -> tuple[str, list[Any]]:
        if allowed is None:
            return "", []
        if len(allowed) <= 64:
            return f" AND r.dim_id IN ({','.join(str(int(d)) for d in sorted(allowed))})", []
        conn = self._conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS allowed_dims (dim_id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.allowed_dims")
        conn.executemany("INSERT INTO temp.allowed_dims VALUES (?)", [(d,) for d in allowed])
        return " AND r.dim_id IN (SELECT dim_id FROM temp.allowed_dims)", []

    def _event_dims(self, allowed: set[int], inline: bool) -> tuple[str | None, list[Any], set[int] | None]:
        # A literal list, not the temp table: a generator over the result may outlive other queries.
        if inline or len(allowed) <= _IN_CHUNK:
            return f"dim_id IN ({','.join(str(int(d)) for d in sorted(allowed))})", [], None
        return None, [], allowed

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]:
        found = self._event_where(filters, dims_inline=False)
        if found is None:
            return
        where, args, check = found
        sql = (f"SELECT {EVENT_SELECT} FROM events WHERE {' AND '.join(where)} ORDER BY ts, event_id")
        if limit is not None and check is None:
            sql += f" LIMIT {int(limit)}"
        shown = 0
        for row in self._conn.execute(sql, args):
            if check is not None and row[2] not in check:
                continue
            if limit is not None and shown >= limit:
                return
            shown += 1
            yield self._event_from_row(row)

    def event_rows(self, filters: Filters, *, min_cost: int | None = None, max_cost: int | None = None,
                   batch: int = 2000) -> Iterator[list[tuple[Any, ...]]]:
        query = self._event_rows_query(filters, min_cost, max_cost)
        if query is None:
            return
        sql, args, check = query
        # One pass over the events: a page read will not be read again, so a small page cache
        # for the while keeps the reader's memory flat.
        (cache,) = self._conn.execute("PRAGMA cache_size").fetchone()
        self._conn.execute(f"PRAGMA cache_size={_SCAN_CACHE}")
        cursor = self._conn.execute(sql, args)
        try:
            while rows := cursor.fetchmany(batch):
                if check is not None:
                    rows = [row for row in rows if row[2] in check]
                yield rows
        finally:
            cursor.close()
            self._conn.execute(f"PRAGMA cache_size={int(cache)}")

    def _session_spans(self, sessions: list[str]) -> tuple[dict[str, tuple[int, int]], dict[str, list[int]]]:
        spans: dict[str, tuple[int, int]] = {}
        dims: dict[str, list[int]] = {}
        for i in range(0, len(sessions), _IN_CHUNK):
            part = sessions[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(part))
            for session, lo, hi in self._conn.execute(
                    f"SELECT session, MIN(bucket), MAX(bucket) FROM rollup_session WHERE session IN ({marks}) "
                    "GROUP BY session", part):
                spans[session] = (lo, hi)
            for session, dim_id in self._conn.execute(
                    f"SELECT DISTINCT session, dim_id FROM rollup_session WHERE session IN ({marks})", part):
                dims.setdefault(session, []).append(dim_id)
        return spans, dims

    # -- budget holds (proxy) -------------------------------------------------------------

    def save_holds(self, holder: str, holds: Mapping[str, int], at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_holds WHERE holder = ?", (holder,))
            conn.executemany("INSERT INTO budget_holds (holder, budget, amount, updated_at) VALUES (?,?,?,?)",
                             [(holder, b, a, to_us(at)) for b, a in holds.items() if a])
