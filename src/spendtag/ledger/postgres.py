"""The shared ledger: PostgreSQL through psycopg 3, for several writers (people, proxy replicas).

Same schema and the same answers as the SQLite store (``sqlite.py`` is the reference; the
schema and why it suits the report queries are in ``postgres_schema.py``). What differs is
how concurrency is made safe, since writers here really do run at the same time:

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

import gc
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from spendtag.errors import StoreError
from spendtag.ledger.plan import DAY_US, HOUR_US, QUARTER_US, plan
from spendtag.ledger.postgres_reservations import PostgresReservations
from spendtag.ledger.postgres_schema import postgres_migrations
from spendtag.ledger.postgres_tables import PostgresTables
from spendtag.ledger.query import DIMENSIONS, TOTAL_FIELDS, Aggregate, Filters, QueryError, Totals, check_group
from spendtag.ledger.store import EVENT_ORDERS, EventPage, ModelUse, RecordResult, SessionSummary, TagChange
from spendtag.periods import TIME_GROUPS, from_us, label_function, to_us
from spendtag.pricing import PriceOverride
from spendtag.tags import Selector, check_tags
from spendtag.tags import canonical as canonical_tags
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, Cost, PricedEvent, PriceRef, Usage, UsageEvent

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised only without the extra
    raise StoreError("PostgreSQL ledgers need the postgres extra: pip install 'spendtag[postgres]'") from None

if TYPE_CHECKING:
    from psycopg import Connection

_DIM_COLUMNS = ("provider", "model", "project", "agent", "key_id", "user_id", "source", "status")
_EVENT_SUMS = TOTAL_FIELDS[1:]   # every total but "requests", which is COUNT(*) on events
_EVENT_SELECT = (f"event_id, ts, dim_id, session, response_id, price_id, {', '.join(_EVENT_SUMS)}, "
                 "service_tier, inference_geo, speed, reported_cost")
_PAGE_ORDERS = {"ts": "ts, event_id", "-ts": "ts DESC, event_id DESC",
                "cost": "cost, event_id", "-cost": "cost DESC, event_id DESC"}
_COST_COLUMNS = tuple(f"cost_{c}" for c in COST_COMPONENTS)
_INSERT_COLUMNS = (
    "event_id", "ts", "dim_id", "session", "response_id", "price_id",
    "service_tier", "inference_geo", "speed", "reported_cost", "recorded_at", *_EVENT_SUMS,
)
_ROLLUP_COLS = ", ".join(TOTAL_FIELDS)
_RAW_SUM_SQL = "COUNT(*), " + ", ".join(f"SUM({f})" for f in _EVENT_SUMS)
_ROLLUP_SUM_SQL_R = ", ".join(f"SUM(r.{f})" for f in TOTAL_FIELDS)
_GROUP_COLUMN = {"tag": "tagset_id", **{d: c for d, c in zip(DIMENSIONS, _DIM_COLUMNS, strict=True)}}
_BUCKETS = attrgetter(*TOKEN_BUCKETS)
_ZEROS = (0,) * len(COST_COMPONENTS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_PAGE = 5_000          # rows per keyset page when streaming events
_RETRIES = 5           # a record batch that deadlocked with another writer is tried again


def _floor(expr: str, width: int) -> str:
    """SQL for ``expr`` rounded down to a multiple of ``width`` (as Python's ``-`` and ``%`` do)."""
    return f"({expr} - mod(mod({expr}, {width}) + {width}, {width}))"


def _upsert(table: str, keys: str, select: str) -> str:
    updates = ", ".join(f"{f} = {table}.{f} + EXCLUDED.{f}" for f in TOTAL_FIELDS)
    return (f"INSERT INTO {table} ({keys}, {_ROLLUP_COLS}) {select} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}")


_HOUR = _floor("ts", HOUR_US)
_DAY = _floor("ts", DAY_US)
# Binary COPY needs each column's exact type: events' columns in _INSERT_COLUMNS order.
_COPY_TYPES = ["text", "int8", "int8", "text", "text", "int8", "text", "text", "text", "int8", "int8",
               *["int8"] * len(_EVENT_SUMS)]
_COPY_SQL = f"COPY events ({', '.join(_INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# A batch's rollup rows go in as one statement per table: one array per column, unnested.
_UNNEST = ", ".join(["%s::int8[]"] * (2 + len(TOTAL_FIELDS)))
_UPSERT_HOUR = _upsert("rollup_hour", "bucket, dim_id", f"SELECT * FROM unnest({_UNNEST})")
_UPSERT_DAY = _upsert("rollup_day", "bucket, dim_id", f"SELECT * FROM unnest({_UNNEST})")
_UPSERT_SESSION = _upsert("rollup_session", "session, bucket, dim_id", f"SELECT * FROM unnest(%s::text[], {_UNNEST})")


def _sum_rows(rows: list[tuple[int, ...]]) -> list[int]:
    """Totals (TOTAL_FIELDS order) of event rows in _EVENT_SUMS order: the count, then column sums."""
    return [len(rows), *map(sum, zip(*rows, strict=True))]


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the arrays an unnest upsert reads; rows stay in the given order)."""
    return [list(c) for c in zip(*rows, strict=True)]


def _ints(row: Sequence[Any]) -> list[int]:
    """Sums as Python ints (PostgreSQL's SUM of BIGINT is NUMERIC, read as an integral Decimal)."""
    return [int(v) if v is not None else 0 for v in row]


class PostgresStore(PostgresTables, PostgresReservations):
    """A :class:`~spendtag.ledger.store.Store` on one PostgreSQL database (``postgresql://`` URL)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self._conn: Connection[Any] = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the PostgreSQL ledger: {reason}") from None
        self._lock = threading.RLock()
        self._dims: dict[tuple[Any, ...], int] = {}
        self._dim_rows: dict[int, tuple[str, ...]] = {}
        self._tagsets: dict[str, int] = {}
        self._tagset_rows: dict[int, dict[str, str]] = {}
        self._prices: dict[str, int] = {}
        self._price_rows: dict[int, PriceRef] = {}
        self._price_objects: dict[int, tuple[PriceRef, int]] = {}
        self._dims_loaded_to = 0
        self._tagsets_loaded_to = 0
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

    def _forget_caches(self) -> None:
        self._dims_loaded_to = self._tagsets_loaded_to = 0
        self._dims.clear()
        self._dim_rows.clear()
        self._tagsets.clear()
        self._tagset_rows.clear()
        self._prices.clear()
        self._price_rows.clear()
        self._price_objects.clear()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self._conn.execute(sql, args).fetchone()
        if row is None:   # pragma: no cover - only for queries that always return a row
            raise StoreError(f"no row from: {sql}")
        return tuple(row)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    def _made(self, insert: str, select: str, args: Sequence[Any]) -> int:
        """The id of a row made by ``insert`` (ON CONFLICT DO NOTHING RETURNING id) or found by ``select``."""
        row = self._conn.execute(insert, args).fetchone() or self._conn.execute(select, args).fetchone()
        if row is None:   # pragma: no cover - the row was just inserted or found
            raise StoreError("a dimension row vanished while it was being made")
        return int(row[0])

    def _tagset_id(self, tags: dict[str, str]) -> int:
        text = canonical_tags(tags)
        found = self._tagsets.get(text)
        if found is None:
            found = self._made("INSERT INTO tagsets (tags) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id",
                               "SELECT id FROM tagsets WHERE tags = %s", (text,))
            self._tagsets[text] = found
            self._tagset_rows[found] = dict(tags)
        return found

    def _dim_id(self, event: UsageEvent, cache_key: tuple[Any, ...]) -> int:
        found = self._dims.get(cache_key)
        if found is None:
            values = (event.provider, event.model, event.project or "", event.agent or "", event.key or "",
                      event.user or "", event.source, event.status)
            found = self._dims[cache_key] = self._dim_row(values, event.tags)
        return found

    def _dim_row(self, values: tuple[str, ...], tags: Mapping[str, str]) -> int:
        row = (*values, self._tagset_id(dict(tags)))
        cols = ", ".join((*_DIM_COLUMNS, "tagset_id"))
        where = " AND ".join(f"{c} = %s" for c in (*_DIM_COLUMNS, "tagset_id"))
        found = self._made(f"INSERT INTO dims ({cols}) VALUES ({', '.join(['%s'] * len(row))}) "
                           "ON CONFLICT DO NOTHING RETURNING id", f"SELECT id FROM dims WHERE {where}", row)
        self._dim_rows[found] = tuple(str(v) for v in row)
        return found

    def _price_id(self, price: PriceRef | None) -> int | None:
        if price is None:
            return None
        hit = self._price_objects.get(id(price))
        if hit is not None and hit[0] is price:
            return hit[1]
        rates = json.dumps(dict(sorted(price.rates.items())), separators=(",", ":"))
        fingerprint = json.dumps([price.provider, price.model, rates, price.price_date, price.source, price.note])
        found = self._prices.get(fingerprint)
        if found is None:
            found = self._made(
                "INSERT INTO prices (fingerprint, provider, model, rates, price_date, source, note) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                "SELECT id FROM prices WHERE fingerprint = %s AND provider = %s AND model = %s AND rates = %s "
                "AND price_date = %s AND source = %s AND note = %s",
                (fingerprint, price.provider, price.model, rates, price.price_date, price.source, price.note))
            self._prices[fingerprint] = found
            self._price_rows[found] = price
        self._price_objects[id(price)] = (price, found)
        return found

    def record(self, events: Iterable[PricedEvent]) -> RecordResult:
        batch: dict[str, PricedEvent] = {}
        total = 0
        for priced in events:
            total += 1
            batch.setdefault(priced.event.event_id, priced)
        if not batch:
            return RecordResult(0, 0)
        now = int(time.time() * 1_000_000)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for attempt in range(_RETRIES):
                try:
                    inserted = self._record(dict(batch), now)
                    break
                except (pg_errors.UniqueViolation, pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                    # Another writer committed some of these events after we looked (or locked rollup
                    # rows in another order): the batch was rolled back whole; look again.
                    if attempt == _RETRIES - 1:
                        raise
            return RecordResult(inserted, total - inserted)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _record(self, batch: dict[str, PricedEvent], now: int) -> int:
        with self._transaction() as conn, conn.cursor() as cur:
            for (found,) in cur.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (list(batch),)):
                del batch[found]
            if not batch:
                return 0
            buckets, dims, dim_id_of = _BUCKETS, self._dims, self._dim_id
            price_objects, price_id_of = self._price_objects, self._price_id
            hours: dict[tuple[int, int], list[tuple[int, ...]]] = defaultdict(list)
            sessions: dict[tuple[str, int, int], list[tuple[int, ...]]] = defaultdict(list)
            rows = []
            for priced in batch.values():
                event, cost = priced.event, priced.cost
                usage = event.usage
                tags = event.tags
                dim_key = (event.provider, event.model, event.project, event.agent, event.key, event.user,
                           event.source, event.status, tuple(tags.items()) if tags else ())
                dim_id = dims.get(dim_key) or dim_id_of(event, dim_key)
                price = cost.price
                hit = price_objects.get(id(price))
                price_id = hit[1] if hit is not None and hit[0] is price else price_id_of(price)
                ts = (event.ts - _EPOCH) // _ONE_US
                session = event.session or ""
                sums = (
                    0 if cost.priced else 1, 1 if usage.estimated else 0, 0 if event.status == "ok" else 1,
                    *buckets(usage), *map(cost.components.get, COST_COMPONENTS, _ZEROS), cost.total,
                )
                rows.append((event.event_id, ts, dim_id, session, event.response_id, price_id, usage.service_tier,
                             usage.inference_geo, usage.speed, usage.reported_cost, now, *sums))
                hour = ts - ts % HOUR_US
                hours[(hour, dim_id)].append(sums)
                sessions[(session, hour, dim_id)].append(sums)
            # Written after the loop: making a dims or prices row needs the connection, which a COPY holds.
            with cur.copy(_COPY_SQL) as copy:
                copy.set_types(_COPY_TYPES)
                write = copy.write_row
                for row in rows:
                    write(row)
            # Rollup rows in key order, so concurrent batches lock shared rows in one order.
            hour_sums = {key: _sum_rows(group) for key, group in sorted(hours.items())}
            days: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
            for (hour, dim_id), acc in hour_sums.items():
                days[(hour - hour % DAY_US, dim_id)].append(acc)
            cur.execute(_UPSERT_HOUR, _columns([(b, d, *acc) for (b, d), acc in hour_sums.items()]))
            cur.execute(_UPSERT_DAY, _columns([(b, d, *map(sum, zip(*group, strict=True)))
                                               for (b, d), group in sorted(days.items())]))
            cur.execute(_UPSERT_SESSION, _columns([(s, b, d, *_sum_rows(group))
                                                   for (s, b, d), group in sorted(sessions.items())]))
        return len(batch)

    # -- reading: dimensions --------------------------------------------------------------

    def _load_dims(self) -> None:
        """Bring the dims and tag-set caches up to date with rows other writers added."""
        conn = self._conn
        for tid, text in conn.execute("SELECT id, tags FROM tagsets WHERE id > %s ORDER BY id",
                                      (self._tagsets_loaded_to,)):
            self._tagset_rows[tid] = json.loads(text)
            self._tagsets[text] = tid
            self._tagsets_loaded_to = tid
        cols = ", ".join((*_DIM_COLUMNS, "tagset_id"))
        for row in conn.execute(f"SELECT id, {cols} FROM dims WHERE id > %s ORDER BY id", (self._dims_loaded_to,)):
            self._dim_rows[row[0]] = tuple(str(v) for v in row[1:])
            self._dims_loaded_to = row[0]

    def _dim_of(self, dim_id: int) -> tuple[str, ...]:
        row = self._dim_rows.get(dim_id)
        if row is None:
            cols = ", ".join((*_DIM_COLUMNS, "tagset_id"))
            found = self._one(f"SELECT {cols} FROM dims WHERE id = %s", (dim_id,))
            row = self._dim_rows[dim_id] = tuple(str(v) for v in found)
            tagset = int(row[-1])
            if tagset not in self._tagset_rows:
                text = self._one("SELECT tags FROM tagsets WHERE id = %s", (tagset,))[0]
                self._tagset_rows[tagset] = json.loads(text)
                self._tagsets[text] = tagset
        return row

    def _dim_dict(self, dim_id: int) -> dict[str, str]:
        return dict(zip(DIMENSIONS, self._dim_of(dim_id)[:-1], strict=True))

    def _dim_tags(self, dim_id: int) -> dict[str, str]:
        return self._tagset_rows[int(self._dim_of(dim_id)[-1])]

    def _allowed_dims(self, filters: Filters) -> set[int] | None:
        """The dims ids that pass the filters, or None when every one does."""
        if not (filters.tags or filters.project or any(k != "session" for k in filters.dims)):
            return None
        self._load_dims()
        return {dim_id for dim_id, row in self._dim_rows.items()
                if filters.matches_dims(self._dim_dict(dim_id), self._tagset_rows[int(row[-1])])}

    # -- reading: aggregates --------------------------------------------------------------

    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None) -> list[Aggregate]:
        by = [check_group(k) for k in by]
        tz = tz or ZoneInfo("UTC")
        if "session" not in filters.dims:
            self._load_dims()
        allowed = self._allowed_dims(filters)
        if allowed is not None and not allowed:
            return []
        sessions = filters.dims.get("session")
        by_session = "session" in by
        time_keys = [k for k in by if k in TIME_GROUPS]
        label_fns = {k: label_function(k, tz) for k in time_keys}

        span = self._span_us()
        if span is None:
            return []
        start = max(span[0], to_us(filters.since)) if filters.since else span[0]
        end = min(span[1], to_us(filters.until)) if filters.until else span[1]
        if start >= end:
            return []

        static_parts: dict[int, list[str | None]] = {}

        def static_part(dim_id: int) -> list[str | None]:
            found = static_parts.get(dim_id)
            if found is None:
                dims = self._dim_dict(dim_id)
                tags = self._dim_tags(dim_id)
                found = []
                for k in by:
                    if k.startswith("tag:"):
                        found.append(tags.get(k[4:]))
                    elif k in DIMENSIONS:
                        found.append(dims[k] or None)
                    else:
                        found.append(None)
                static_parts[dim_id] = found
            return found

        groups: dict[tuple[str | None, ...], Totals] = {}
        session_pos = by.index("session") if by_session else -1
        time_pos = [(by.index(k), label_fns[k]) for k in time_keys]

        def take(bucket: int, dim_id: int, session: str | None, sums: Sequence[Any]) -> None:
            key = static_part(dim_id)
            if time_pos or session_pos >= 0:
                key = list(key)
                for pos, fn in time_pos:
                    key[pos] = fn(bucket)
                if session_pos >= 0:
                    key[session_pos] = session or None
            tkey = tuple(key)
            totals = groups.get(tkey)
            if totals is None:
                groups[tkey] = totals = Totals()
            totals.add(_ints(sums))

        allowed_list = sorted(allowed) if allowed is not None else None
        group_cols = sorted({_GROUP_COLUMN["tag" if k.startswith("tag:") else k] for k in by
                             if k.startswith("tag:") or k in _GROUP_COLUMN})
        use_sessions = by_session or sessions is not None
        for piece in plan(start, end, list(label_fns.values())):
            if piece.level == "raw":
                self._take_raw(piece.start, piece.end, allowed_list, sessions, bool(time_keys), by_session, take)
                continue
            table = "rollup_session" if use_sessions else ("rollup_day" if piece.level == "day" else "rollup_hour")
            cols = [f"d.{c}" for c in group_cols]
            if time_keys:
                cols.insert(0, "r.bucket")
            if by_session:
                cols.append("r.session")
            where = "r.bucket >= %s AND r.bucket < %s"
            args: list[Any] = [piece.start, piece.end]
            if allowed_list is not None:
                where += " AND r.dim_id = ANY(%s)"
                args.append(allowed_list)
            if sessions is not None:
                where += " AND r.session = ANY(%s)"
                args.append(list(sessions))
            select = ["r.bucket" if time_keys else "0", "MIN(r.dim_id)", "r.session" if by_session else "''"]
            sql = (f"SELECT {', '.join(select)}, {_ROLLUP_SUM_SQL_R} FROM {table} r JOIN dims d ON d.id = r.dim_id "
                   f"WHERE {where}" + (f" GROUP BY {', '.join(cols)}" if cols else ""))
            for row in self._conn.execute(sql, args):
                if row[1] is not None:
                    take(row[0], row[1], row[2], row[3:])
        return [Aggregate(key, totals) for key, totals in groups.items()]

    def _take_raw(self, a: int, b: int, allowed: list[int] | None, sessions: tuple[str, ...] | None, by_time: bool,
                  by_session: bool, take: Callable[[int, int, str | None, Sequence[Any]], None]) -> None:
        """Sum events in [a, b) per quarter hour (when grouping by time), dims row and session."""
        quarter = _floor("ts", QUARTER_US)
        select = [quarter if by_time else "0", "dim_id", "session" if by_session else "''"]
        group = [g for g, on in ((quarter, by_time), ("dim_id", True), ("session", by_session)) if on]
        where = "ts >= %s AND ts < %s"
        args: list[Any] = [a, b]
        if allowed is not None:
            where += " AND dim_id = ANY(%s)"
            args.append(allowed)
        if sessions is not None:
            where += " AND session = ANY(%s)"
            args.append(list(sessions))
        sql = f"SELECT {', '.join(select)}, {_RAW_SUM_SQL} FROM events WHERE {where} GROUP BY {', '.join(group)}"
        for row in self._conn.execute(sql, args):
            take(row[0], row[1], row[2], row[3:])

    def _span_us(self) -> tuple[int, int] | None:
        lo, hi = self._one("SELECT MIN(bucket), MAX(bucket) FROM rollup_day")
        if lo is None:
            return None
        return int(lo), int(hi) + DAY_US

    # -- reading: events ------------------------------------------------------------------

    def _event_where(self, filters: Filters) -> tuple[list[str], list[Any]] | None:
        """SQL conditions on events for ``filters`` (None: nothing can match)."""
        self._load_dims()
        allowed = self._allowed_dims(filters)
        if allowed is not None and not allowed:
            return None
        where, args = self._time_conditions(filters)
        sessions = filters.dims.get("session")
        if sessions is not None:
            # No index on events.session: narrow the scan to the hours the sessions ran.
            lo, hi = self._one("SELECT MIN(bucket), MAX(bucket) FROM rollup_session WHERE session = ANY(%s)",
                               (list(sessions),))
            if lo is None:
                return None
            where.append("ts >= %s AND ts < %s")
            args.extend([lo, hi + HOUR_US])
            where.append("session = ANY(%s)")
            args.append(list(sessions))
        if allowed is not None:
            where.append("dim_id = ANY(%s)")
            args.append(sorted(allowed))
        return where, args

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]:
        found = self._event_where(filters)
        if found is None:
            return
        where, args = found
        # Keyset pages on the primary key: no cursor stays open between the pages a caller reads.
        after: tuple[int, str] | None = None
        left = limit
        while left is None or left > 0:
            page_where = list(where)
            page_args = list(args)
            if after is not None:
                page_where.append("(ts, event_id) > (%s, %s)")
                page_args.extend(after)
            size = _PAGE if left is None else min(_PAGE, left)
            rows = self._conn.execute(
                f"SELECT {_EVENT_SELECT} FROM events WHERE {' AND '.join(page_where)} "
                f"ORDER BY ts, event_id LIMIT {size}", page_args).fetchall()
            for row in rows:
                yield self._event_from_row(row)
            if len(rows) < size:
                return
            after = (rows[-1][1], rows[-1][0])
            if left is not None:
                left -= len(rows)

    def event_page(self, filters: Filters, *, order: str = "-ts", offset: int = 0, limit: int = 50,
                   min_cost: int | None = None, max_cost: int | None = None) -> EventPage:
        column = _PAGE_ORDERS.get(order)
        if column is None:
            raise QueryError(f"cannot order events by {order!r}; use one of {', '.join(EVENT_ORDERS)}")
        found = self._event_where(filters)
        if found is None:
            return EventPage([], 0)
        where, args = found
        if min_cost is not None:
            where.append("cost >= %s")
            args.append(min_cost)
        if max_cost is not None:
            where.append("cost <= %s")
            args.append(max_cost)
        condition = " AND ".join(where)
        total = int(self._one(f"SELECT COUNT(*) FROM events WHERE {condition}", args)[0])
        rows = self._conn.execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE {condition} ORDER BY {column} LIMIT %s OFFSET %s",
            [*args, max(0, int(limit)), max(0, int(offset))]).fetchall()
        return EventPage([self._event_from_row(r) for r in rows], total)

    def sessions(self, filters: Filters, *, limit: int | None = None, offset: int = 0, min_cost: int = 0,
                 max_cost: int | None = None, by_cost: bool = False) -> list[SessionSummary]:
        totals = {a.key[0]: a.totals for a in self.aggregate(filters, ["session"]) if a.key[0]}
        chosen = [s for s, t in totals.items() if t.cost >= min_cost and (max_cost is None or t.cost <= max_cost)]
        if not chosen:
            return []
        spans: dict[str, tuple[int, int]] = {}
        dims: dict[str, list[int]] = {}
        for session, lo, hi, dim_ids in self._conn.execute(
                "SELECT session, MIN(bucket), MAX(bucket), array_agg(DISTINCT dim_id) FROM rollup_session "
                "WHERE session = ANY(%s) GROUP BY session", (chosen,)):
            spans[session] = (int(lo), int(hi))
            dims[session] = sorted(int(d) for d in dim_ids)
        if by_cost:
            chosen.sort(key=lambda s: (-totals[s].cost, s))
        else:
            chosen.sort(key=lambda s: (-spans[s][1], s))
        start = max(0, offset)
        chosen = chosen[start:None if limit is None else start + limit]
        where, args = self._event_conditions(filters)
        out = []
        for session in chosen:
            lo, hi = spans[session]
            first, last = self._one(
                f"SELECT MIN(ts), MAX(ts) FROM events WHERE ts >= %s AND ts < %s AND session = %s AND {where}",
                [lo, hi + HOUR_US, session, *args])
            rows = [(self._dim_dict(d), self._dim_tags(d)) for d in dims[session]]
            out.append(SessionSummary(session, from_us(first if first is not None else lo),
                                      from_us(last if last is not None else hi), totals[session], rows))
        return out

    def get_event(self, event_id: str) -> PricedEvent | None:
        row = self._conn.execute(f"SELECT {_EVENT_SELECT} FROM events WHERE event_id = %s", (event_id,)).fetchone()
        return None if row is None else self._event_from_row(row)

    def _price(self, price_id: int | None) -> PriceRef | None:
        if price_id is None:
            return None
        found = self._price_rows.get(price_id)
        if found is None:
            provider, model, rates, price_date, source, note = self._one(
                "SELECT provider, model, rates, price_date, source, note FROM prices WHERE id = %s", (price_id,))
            found = PriceRef(provider, model, json.loads(rates), price_date, source, note)
            self._price_rows[price_id] = found
        return found

    def _event_from_row(self, row: Sequence[Any]) -> PricedEvent:
        event_id, ts, dim_id, session, response_id, price_id = row[:6]
        sums = row[6:6 + len(_EVENT_SUMS)]
        service_tier, inference_geo, speed, reported_cost = row[6 + len(_EVENT_SUMS):]
        values = dict(zip(_EVENT_SUMS, sums, strict=True))
        dims = self._dim_dict(dim_id)
        tags = self._dim_tags(dim_id)
        usage = Usage(
            **{b: values[b] for b in TOKEN_BUCKETS},
            service_tier=service_tier, inference_geo=inference_geo, speed=speed,
            estimated=bool(values["estimated_requests"]), reported_cost=reported_cost,
        )
        event = UsageEvent(
            event_id=event_id, ts=from_us(ts), provider=dims["provider"], model=dims["model"], usage=usage,
            tags=dict(tags), project=dims["project"] or None, session=session or None,
            agent=dims["agent"] or None, key=dims["key"] or None, user=dims["user"] or None,
            source=dims["source"], status=dims["status"],  # type: ignore[arg-type]
            response_id=response_id,
        )
        components = {c: values[f"cost_{c}"] for c in COST_COMPONENTS if values[f"cost_{c}"]}
        cost = Cost(components, values["cost"], self._price(price_id), not values["unpriced_requests"])
        return PricedEvent(event, cost)

    # -- reading: facts -------------------------------------------------------------------

    def tag_keys(self, filters: Filters) -> list[str]:
        """Every tag key on events whose dimensions and tags pass ``filters`` (time is not checked)."""
        self._load_dims()
        allowed = self._allowed_dims(filters)
        keys: set[str] = set()
        for dim_id, row in self._dim_rows.items():
            if allowed is None or dim_id in allowed:
                keys.update(self._tagset_rows[int(row[-1])])
        return sorted(keys)

    def count(self) -> int:
        return int(self._one("SELECT COALESCE(SUM(requests), 0) FROM rollup_day")[0])

    def time_span(self) -> tuple[datetime, datetime] | None:
        lo, hi = self._one("SELECT MIN(ts), MAX(ts) FROM events")
        if lo is None:
            return None
        return from_us(lo), from_us(hi)

    def models(self) -> list[ModelUse]:
        sql = ("SELECT d.provider, d.model, SUM(r.requests), SUM(r.unpriced_requests), MIN(r.bucket), MAX(r.bucket) "
               "FROM rollup_hour r JOIN dims d ON d.id = r.dim_id GROUP BY d.provider, d.model "
               "ORDER BY d.provider, d.model")
        return [ModelUse(p, m, int(n), int(u), from_us(a), from_us(b + HOUR_US - 1))
                for p, m, n, u, a, b in self._conn.execute(sql)]

    # -- price overrides ------------------------------------------------------------------

    def add_price_override(self, override: PriceOverride) -> int:
        rates = None if override.rates is None else json.dumps({k: str(v) for k, v in override.rates.items()})
        with self._transaction() as conn:
            row = conn.execute(
                "INSERT INTO price_overrides (model, provider, rates, multiplier, valid_from, valid_until, scope, "
                "note, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (override.model, override.provider, rates,
                 None if override.multiplier is None else str(override.multiplier),
                 override.valid_from.isoformat() if override.valid_from else None,
                 override.valid_until.isoformat() if override.valid_until else None,
                 json.dumps([str(s) for s in override.scope]), override.note, int(time.time())),
            ).fetchone()
        return int(row[0]) if row else 0

    def price_overrides(self) -> list[PriceOverride]:
        rows = self._conn.execute(
            "SELECT id, model, provider, rates, multiplier, valid_from, valid_until, scope, note "
            "FROM price_overrides WHERE removed_at IS NULL ORDER BY id")
        return [PriceOverride(
            id=oid, model=model, provider=provider,
            rates=None if rates is None else {k: Decimal(v) for k, v in json.loads(rates).items()},
            multiplier=None if multiplier is None else Decimal(multiplier),
            valid_from=date.fromisoformat(valid_from) if valid_from else None,
            valid_until=date.fromisoformat(valid_until) if valid_until else None,
            scope=tuple(Selector.parse(s) for s in json.loads(scope)), note=note,
        ) for oid, model, provider, rates, multiplier, valid_from, valid_until, scope, note in rows]

    def remove_price_override(self, override_id: int) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute("UPDATE price_overrides SET removed_at = %s WHERE id = %s AND removed_at IS NULL",
                                  (int(time.time()), override_id))
            return cursor.rowcount > 0

    # -- attribution after the fact -------------------------------------------------------

    def retag(self, filters: Filters, change: TagChange, what: str) -> int:
        """Move the events that pass ``filters`` to the tags ``change`` gives their dims row."""
        self._load_dims()
        allowed = self._allowed_dims(filters)
        candidates = sorted(self._dim_rows) if allowed is None else sorted(allowed)
        where, args = self._event_conditions(filters)
        if where is None:
            return 0
        moved = 0
        with self._transaction() as conn:
            touched: set[int] = set()
            for dim_id in candidates:
                row = self._dim_rows[dim_id]
                tags = self._tagset_rows[int(row[-1])]
                new_tags = change(self._dim_dict(dim_id), tags)
                if new_tags is None or dict(new_tags) == tags:
                    continue
                new_id = self._dim_row(row[:-1], check_tags(dict(new_tags)))
                cursor = conn.execute(f"UPDATE events SET dim_id = %s WHERE dim_id = %s AND {where}",
                                      [new_id, dim_id, *args])
                if cursor.rowcount:
                    moved += cursor.rowcount
                    touched.update((dim_id, new_id))
            if touched:
                self._rebuild_rollups(sorted(touched), filters)
            conn.execute("INSERT INTO retag_log (at, what, events) VALUES (%s, %s, %s)",
                         (int(time.time()), what, moved))
        self._dims.clear()
        return moved

    @staticmethod
    def _time_conditions(filters: Filters) -> tuple[list[str], list[Any]]:
        where: list[str] = ["TRUE"]
        args: list[Any] = []
        if filters.since:
            where.append("ts >= %s")
            args.append(to_us(filters.since))
        if filters.until:
            where.append("ts < %s")
            args.append(to_us(filters.until))
        return where, args

    def _event_conditions(self, filters: Filters) -> tuple[str | None, list[Any]]:
        where, args = self._time_conditions(filters)
        sessions = filters.dims.get("session")
        if sessions is not None:
            if not sessions:
                return None, []
            where.append("session = ANY(%s)")
            args.append(list(sessions))
        return " AND ".join(where), args

    def _rebuild_rollups(self, dim_ids: list[int], filters: Filters) -> None:
        """Recompute every rollup row of these dims rows over whole UTC days around the filter's range."""
        conn = self._conn
        lo, hi = self._one("SELECT MIN(ts), MAX(ts) FROM events WHERE dim_id = ANY(%s)", (dim_ids,))
        lo, hi = (0, 0) if lo is None else (int(lo), int(hi) + 1)
        if filters.since:
            lo = max(lo, to_us(filters.since))
        if filters.until:
            hi = min(hi, to_us(filters.until))
        lo -= lo % DAY_US
        hi += (-hi) % DAY_US
        for table, bucket, keys in (("rollup_hour", _HOUR, "bucket, dim_id"), ("rollup_day", _DAY, "bucket, dim_id"),
                                    ("rollup_session", _HOUR, "session, bucket, dim_id")):
            conn.execute(f"DELETE FROM {table} WHERE dim_id = ANY(%s) AND bucket >= %s AND bucket < %s",
                         (dim_ids, lo, hi))
            select = f"{bucket}, dim_id" if table != "rollup_session" else f"session, {bucket}, dim_id"
            n = len(keys.split(","))
            conn.execute(
                f"INSERT INTO {table} ({keys}, {_ROLLUP_COLS}) SELECT {select}, {_RAW_SUM_SQL} FROM events "
                f"WHERE dim_id = ANY(%s) AND ts >= %s AND ts < %s GROUP BY {', '.join(str(i + 1) for i in range(n))}",
                (dim_ids, lo, hi))

    # -- cost revisions -------------------------------------------------------------------

    def revise(self, priced: Iterable[PricedEvent], reason: str) -> int:
        """Give recorded events new costs; keep each one's previous cost as a revision."""
        wanted = {p.event.event_id: p for p in priced}
        if not wanted:
            return 0
        now = int(time.time() * 1_000_000)
        cost_cols = ("unpriced_requests", *_COST_COLUMNS, "cost")
        changed = 0
        with self._transaction() as conn:
            dims: set[int] = set()
            lo: int | None = None
            hi: int | None = None
            # Locked in id order, so two revisions of the same events take turns and number in sequence.
            rows = conn.execute(
                f"SELECT event_id, ts, dim_id, price_id, {', '.join(_EVENT_SUMS)} FROM events "
                "WHERE event_id = ANY(%s) ORDER BY event_id FOR UPDATE", (list(wanted),)).fetchall()
            for event_id, ts, dim_id, price_id, *sums in rows:
                new = wanted[event_id].cost
                current = dict(zip(_EVENT_SUMS, sums, strict=True))
                values = {"unpriced_requests": 0 if new.priced else 1, "cost": new.total,
                          **{f"cost_{c}": new.components.get(c, 0) for c in COST_COMPONENTS}}
                new_price = self._price_id(new.price)
                if all(current[c] == values[c] for c in cost_cols) and new_price == price_id:
                    continue
                revision = self._one("SELECT COALESCE(MAX(revision), 0) + 1 FROM cost_revisions "
                                     "WHERE event_id = %s", (event_id,))[0]
                conn.execute(
                    f"INSERT INTO cost_revisions (event_id, revision, price_id, {', '.join(_EVENT_SUMS)}, reason, "
                    f"revised_at) VALUES ({', '.join(['%s'] * (len(_EVENT_SUMS) + 5))})",
                    (event_id, revision, price_id, *sums, reason, now))
                conn.execute(
                    f"UPDATE events SET price_id = %s, {', '.join(f'{c} = %s' for c in cost_cols)} "
                    "WHERE ts = %s AND event_id = %s",
                    (new_price, *(values[c] for c in cost_cols), ts, event_id))
                changed += 1
                dims.add(dim_id)
                lo = ts if lo is None else min(lo, ts)
                hi = ts if hi is None else max(hi, ts)
            if dims and lo is not None and hi is not None:
                self._rebuild_rollups(sorted(dims), Filters(since=from_us(lo), until=from_us(hi + 1)))
        return changed

    def revisions(self, event_id: str) -> list[PricedEvent]:
        """The costs an event had before its current one, oldest first."""
        current = self.get_event(event_id)
        if current is None:
            return []
        out = []
        for row in self._conn.execute(
                f"SELECT price_id, {', '.join(_EVENT_SUMS)} FROM cost_revisions WHERE event_id = %s "
                "ORDER BY revision", (event_id,)):
            values = dict(zip(_EVENT_SUMS, row[1:], strict=True))
            components = {c: values[f"cost_{c}"] for c in COST_COMPONENTS if values[f"cost_{c}"]}
            cost = Cost(components, values["cost"], self._price(row[0]), not values["unpriced_requests"])
            out.append(PricedEvent(current.event, cost))
        return out
