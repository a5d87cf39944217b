"""The embedded ledger: SQLite in WAL mode, one writer at a time, durable commits.

Layout (see migrations.py): events hold counts and pico-USD costs per call and point to a
``dims`` row (provider, model, project, agent, key, user, source, status, tag set) and a
``prices`` row (the price used). ``rollup_hour``/``rollup_day`` hold exact per-bucket
sums per dims row, maintained in the same transaction as the events they sum, so reports
over months read thousands of rows, not millions (plan.py decides which parts come from
where).
"""

from __future__ import annotations

import gc
import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import AccessTables
from spendtag.ledger.invoice_tables import InvoiceTables
from spendtag.ledger.migrations import MIGRATIONS
from spendtag.ledger.plan import DAY_US, HOUR_US, QUARTER_US, plan
from spendtag.ledger.provider_tables import ProviderTables
from spendtag.ledger.query import (
    DIMENSIONS,
    TOTAL_FIELDS,
    Aggregate,
    Filters,
    QueryError,
    Totals,
    check_group,
)
from spendtag.ledger.reservation_tables import SQLiteReservations
from spendtag.ledger.store import (
    EVENT_ORDERS,
    AlertRecord,
    Delivery,
    EventPage,
    ImportState,
    ModelUse,
    RecordResult,
    SessionSummary,
    TagChange,
    VirtualKey,
)
from spendtag.periods import TIME_GROUPS, from_us, label_function, to_us
from spendtag.pricing import PriceOverride
from spendtag.tags import Selector, check_tags
from spendtag.tags import canonical as canonical_tags
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, Cost, PricedEvent, PriceRef, Usage, UsageEvent

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
_INSERT_SQL = (
    f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
)
_ROLLUP_SUM_SQL = ", ".join(f"SUM({f})" for f in TOTAL_FIELDS)
_RAW_SUM_SQL = "COUNT(*), " + ", ".join(f"SUM({f})" for f in _EVENT_SUMS)
_ROLLUP_COLS = ", ".join(TOTAL_FIELDS)
_ROLLUP_SUM_SQL_R = ", ".join(f"SUM(r.{f})" for f in TOTAL_FIELDS)
# The dims column each non-time group key depends on.
_GROUP_COLUMN = {"tag": "tagset_id", **{d: c for d, c in zip(DIMENSIONS, _DIM_COLUMNS, strict=True)}}
_IN_CHUNK = 900


def _upsert_sql(table: str) -> str:
    updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in TOTAL_FIELDS)
    marks = ", ".join("?" * (2 + len(TOTAL_FIELDS)))
    return (
        f"INSERT INTO {table} (bucket, dim_id, {_ROLLUP_COLS}) VALUES ({marks}) "
        f"ON CONFLICT (bucket, dim_id) DO UPDATE SET {updates}"
    )


_UPSERT_HOUR = _upsert_sql("rollup_hour")
_UPSERT_DAY = _upsert_sql("rollup_day")
_UPSERT_SESSION = (
    f"INSERT INTO rollup_session (session, bucket, dim_id, {_ROLLUP_COLS}) "
    f"VALUES ({', '.join('?' * (3 + len(TOTAL_FIELDS)))}) "
    f"ON CONFLICT (session, bucket, dim_id) DO UPDATE SET "
    + ", ".join(f"{f} = {f} + excluded.{f}" for f in TOTAL_FIELDS)
)
_BUCKETS = attrgetter(*TOKEN_BUCKETS)
_ZEROS = (0,) * len(COST_COMPONENTS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _sum_rows(rows: list[tuple[int, ...]]) -> list[int]:
    """Totals (TOTAL_FIELDS order) of event rows in _EVENT_SUMS order: the count, then column sums."""
    return [len(rows), *map(sum, zip(*rows, strict=True))]


def path_from_url(url: str) -> Path:
    """``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a plain path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite://"):])
    if url.startswith("sqlite:"):
        return Path(url[len("sqlite:"):])
    return Path(url).expanduser()


class SQLiteStore(ProviderTables, InvoiceTables, AccessTables, SQLiteReservations):
    """A :class:`~spendtag.ledger.store.Store` on one SQLite file."""

    def __init__(self, url: str | Path, *, migrate: bool = True) -> None:
        self.path = path_from_url(str(url))
        self.url = f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA cache_size=-65536")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the ledger at {self.path}: {exc}") from None
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

    def _forget_caches(self) -> None:
        self._dims_loaded_to = self._tagsets_loaded_to = 0
        self._dims.clear()
        self._dim_rows.clear()
        self._tagsets.clear()
        self._tagset_rows.clear()
        self._prices.clear()
        self._price_rows.clear()
        self._price_objects.clear()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    def _tagset_id(self, tags: dict[str, str]) -> int:
        text = canonical_tags(tags)
        found = self._tagsets.get(text)
        if found is None:
            conn = self._conn
            conn.execute("INSERT OR IGNORE INTO tagsets (tags) VALUES (?)", (text,))
            found = conn.execute("SELECT id FROM tagsets WHERE tags = ?", (text,)).fetchone()[0]
            self._tagsets[text] = found
            self._tagset_rows[found] = dict(tags)
        return found

    def _dim_id(self, event: UsageEvent, cache_key: tuple[Any, ...]) -> int:
        """The dims row of an event, created if new; ``cache_key`` is the caller's key for it."""
        found = self._dims.get(cache_key)
        if found is None:
            values = (event.provider, event.model, event.project or "", event.agent or "", event.key or "",
                      event.user or "", event.source, event.status)
            found = self._dims[cache_key] = self._dim_row(values, event.tags)
        return found

    def _dim_row(self, values: tuple[str, ...], tags: Mapping[str, str]) -> int:
        """The id of the dims row with these dimension values (DIMENSIONS order) and tags, made if new."""
        row = (*values, self._tagset_id(dict(tags)))
        conn = self._conn
        conn.execute(
            f"INSERT OR IGNORE INTO dims ({', '.join(_DIM_COLUMNS)}, tagset_id) VALUES (?,?,?,?,?,?,?,?,?)", row
        )
        where = " AND ".join(f"{c} = ?" for c in (*_DIM_COLUMNS, "tagset_id"))
        found: int = conn.execute(f"SELECT id FROM dims WHERE {where}", row).fetchone()[0]
        self._dim_rows[found] = tuple(str(v) for v in row)
        return found

    def _price_id(self, price: PriceRef | None) -> int | None:
        if price is None:
            return None
        # Pricers hand out one PriceRef object per resolved rate set: key on the object first.
        hit = self._price_objects.get(id(price))
        if hit is not None and hit[0] is price:
            return hit[1]
        rates = json.dumps(dict(sorted(price.rates.items())), separators=(",", ":"))
        fingerprint = json.dumps([price.provider, price.model, rates, price.price_date, price.source, price.note])
        found = self._prices.get(fingerprint)
        if found is None:
            conn = self._conn
            conn.execute(
                "INSERT OR IGNORE INTO prices (fingerprint, provider, model, rates, price_date, source, note) "
                "VALUES (?,?,?,?,?,?,?)",
                (fingerprint, price.provider, price.model, rates, price.price_date, price.source, price.note),
            )
            found = conn.execute("SELECT id FROM prices WHERE fingerprint = ?", (fingerprint,)).fetchone()[0]
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
        # Every row below is a fresh tuple: pause the cycle collector, which would otherwise
        # walk the whole batch again and again while it grows (no cycles are made here).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._record(batch, total, now)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _record(self, batch: dict[str, PricedEvent], total: int, now: int) -> RecordResult:
        with self._transaction() as conn:
            ids = list(batch)
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i:i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for (found,) in conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk):
                    del batch[found]
            rows = []
            hours: dict[tuple[int, int], list[tuple[int, ...]]] = defaultdict(list)
            sessions: dict[tuple[str, int, int], list[tuple[int, ...]]] = defaultdict(list)
            buckets, dims, dim_id_of = _BUCKETS, self._dims, self._dim_id
            price_objects, price_id_of = self._price_objects, self._price_id
            for priced in batch.values():
                event, cost = priced.event, priced.cost
                usage = event.usage
                ts = (event.ts - _EPOCH) // _ONE_US
                tags = event.tags
                dim_key = (event.provider, event.model, event.project, event.agent, event.key, event.user,
                           event.source, event.status, tuple(tags.items()) if tags else ())
                dim_id = dims.get(dim_key) or dim_id_of(event, dim_key)
                price = cost.price
                hit = price_objects.get(id(price))
                price_id = hit[1] if hit is not None and hit[0] is price else price_id_of(price)
                # Everything summed, in _EVENT_SUMS order (the request count is added per group).
                sums = (
                    0 if cost.priced else 1,
                    1 if usage.estimated else 0,
                    0 if event.status == "ok" else 1,
                    *buckets(usage),
                    *map(cost.components.get, COST_COMPONENTS, _ZEROS),
                    cost.total,
                )
                session = event.session or ""
                rows.append((event.event_id, ts, dim_id, session, event.response_id, price_id, usage.service_tier,
                             usage.inference_geo, usage.speed, usage.reported_cost, now) + sums)
                hour = ts - ts % HOUR_US
                hours[(hour, dim_id)].append(sums)
                sessions[(session, hour, dim_id)].append(sums)
            conn.executemany(_INSERT_SQL, rows)
            hour_sums = {key: _sum_rows(group) for key, group in hours.items()}
            days: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
            for (hour, dim_id), acc in hour_sums.items():
                days[(hour - hour % DAY_US, dim_id)].append(acc)
            conn.executemany(_UPSERT_HOUR, [(b, d, *acc) for (b, d), acc in hour_sums.items()])
            conn.executemany(_UPSERT_DAY, [(b, d, *map(sum, zip(*group, strict=True)))
                                           for (b, d), group in days.items()])
            conn.executemany(_UPSERT_SESSION, [(s, b, d, *_sum_rows(group)) for (s, b, d), group in sessions.items()])
        return RecordResult(len(batch), total - len(batch))

    # -- reading: dimensions --------------------------------------------------------------

    def _load_dims(self) -> None:
        """Bring the dims and tag-set caches up to date with rows other writers added."""
        conn = self._conn
        for tid, text in conn.execute("SELECT id, tags FROM tagsets WHERE id > ? ORDER BY id",
                                      (self._tagsets_loaded_to,)):
            self._tagset_rows[tid] = json.loads(text)
            self._tagsets[text] = tid
            self._tagsets_loaded_to = tid
        cols = ", ".join((*_DIM_COLUMNS, "tagset_id"))
        for row in conn.execute(f"SELECT id, {cols} FROM dims WHERE id > ? ORDER BY id", (self._dims_loaded_to,)):
            self._dim_rows[row[0]] = tuple(str(v) for v in row[1:])
            self._dims_loaded_to = row[0]

    def _dim_of(self, dim_id: int) -> tuple[str, ...]:
        """One dims row, read on its own when not cached (queries about one session touch few)."""
        row = self._dim_rows.get(dim_id)
        if row is None:
            cols = ", ".join((*_DIM_COLUMNS, "tagset_id"))
            found = self._conn.execute(f"SELECT {cols} FROM dims WHERE id = ?", (dim_id,)).fetchone()
            row = self._dim_rows[dim_id] = tuple(str(v) for v in found)
            tagset = int(row[-1])
            if tagset not in self._tagset_rows:
                text = self._conn.execute("SELECT tags FROM tagsets WHERE id = ?", (tagset,)).fetchone()[0]
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
        allowed = set()
        for dim_id, row in self._dim_rows.items():
            if filters.matches_dims(self._dim_dict(dim_id), self._tagset_rows[int(row[-1])]):
                allowed.add(dim_id)
        return allowed

    # -- reading: aggregates --------------------------------------------------------------

    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None) -> list[Aggregate]:
        by = [check_group(k) for k in by]
        tz = tz or ZoneInfo("UTC")
        if "session" not in filters.dims:
            self._load_dims()     # most dims rows will be met: read them in one go
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

        # Per dims row: the part of the group key that does not depend on time or session.
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
                        found.append(None)   # time and session: filled per row
                static_parts[dim_id] = found
            return found

        groups: dict[tuple[str | None, ...], Totals] = {}
        session_pos = by.index("session") if by_session else -1
        time_pos = [(by.index(k), label_fns[k]) for k in time_keys]

        def take(bucket: int, dim_id: int, session: str | None, sums: Sequence[int]) -> None:
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
            totals.add(sums)

        allowed_sql = self._allowed_sql(allowed)
        # Rollup rows are grouped in SQL by the dims columns the key depends on; MIN(dim_id)
        # stands for its group (every member has the same values in those columns).
        group_cols = sorted({_GROUP_COLUMN["tag" if k.startswith("tag:") else k] for k in by
                             if k.startswith("tag:") or k in _GROUP_COLUMN})
        use_sessions = by_session or sessions is not None
        for piece in plan(start, end, list(label_fns.values())):
            if piece.level == "raw":
                self._take_raw(piece.start, piece.end, allowed_sql, sessions, bool(time_keys), by_session, take)
                continue
            table = "rollup_session" if use_sessions else ("rollup_day" if piece.level == "day" else "rollup_hour")
            cols = [f"d.{c}" for c in group_cols]
            if time_keys:
                cols.insert(0, "r.bucket")
            if by_session:
                cols.append("r.session")
            where = "r.bucket >= ? AND r.bucket < ?" + allowed_sql
            args: list[Any] = [piece.start, piece.end]
            if sessions is not None:
                where += f" AND r.session IN ({','.join('?' * len(sessions))})"
                args.extend(sessions)
            select = ["r.bucket" if time_keys else "0", "MIN(r.dim_id)", "r.session" if by_session else "''"]
            sql = (f"SELECT {', '.join(select)}, {_ROLLUP_SUM_SQL_R} FROM {table} r JOIN dims d ON d.id = r.dim_id "
                   f"WHERE {where}" + (f" GROUP BY {', '.join(cols)}" if cols else ""))
            for row in self._conn.execute(sql, args):
                if row[1] is not None:
                    take(row[0], row[1], row[2], row[3:])
        return [Aggregate(key, totals) for key, totals in groups.items()]

    def _take_raw(self, a: int, b: int, allowed_sql: str, sessions: tuple[str, ...] | None, by_time: bool,
                  by_session: bool, take: Callable[[int, int, str | None, Sequence[int]], None]) -> None:
        """Sum events in [a, b) per quarter hour (when grouping by time), dims row and session."""
        select = [f"(ts / {QUARTER_US}) * {QUARTER_US}" if by_time else "0", "dim_id",
                  "session" if by_session else "''"]
        group = [g for g, on in ((f"ts / {QUARTER_US}", by_time), ("dim_id", True), ("session", by_session)) if on]
        where = "ts >= ? AND ts < ?" + allowed_sql.replace("r.dim_id", "dim_id")
        args: list[Any] = [a, b]
        if sessions is not None:
            where += f" AND session IN ({','.join('?' * len(sessions))})"
            args.extend(sessions)
        sql = f"SELECT {', '.join(select)}, {_RAW_SUM_SQL} FROM events WHERE {where} GROUP BY {', '.join(group)}"
        for row in self._conn.execute(sql, args):
            take(row[0], row[1], row[2], row[3:])

    def _allowed_sql(self, allowed: set[int] | None) -> str:
        """A condition on r.dim_id for the dims rows that pass the filters ('' for all)."""
        if allowed is None:
            return ""
        if len(allowed) <= 64:
            return f" AND r.dim_id IN ({','.join(str(int(d)) for d in sorted(allowed))})"
        conn = self._conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS allowed_dims (dim_id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.allowed_dims")
        conn.executemany("INSERT INTO temp.allowed_dims VALUES (?)", [(d,) for d in allowed])
        return " AND r.dim_id IN (SELECT dim_id FROM temp.allowed_dims)"

    def _span_us(self) -> tuple[int, int] | None:
        row = self._conn.execute("SELECT MIN(bucket), MAX(bucket) FROM rollup_day").fetchone()
        if row[0] is None:
            return None
        return row[0], row[1] + DAY_US

    # -- reading: events ------------------------------------------------------------------

    def _event_where(self, filters: Filters, *,
                     dims_inline: bool) -> tuple[list[str], list[Any], set[int] | None] | None:
        """SQL conditions on events for ``filters`` (None: nothing can match).

        The allowed dimension rows go into the SQL when ``dims_inline`` or when few; otherwise
        they come back for the caller to check row by row.
        """
        self._load_dims()
        allowed = self._allowed_dims(filters)
        if allowed is not None and not allowed:
            return None
        where, args = self._time_conditions(filters)
        sessions = filters.dims.get("session")
        if sessions is not None:
            # No index on events.session: narrow the scan to the hours the sessions ran.
            marks = ",".join("?" * len(sessions))
            lo, hi = self._conn.execute(
                f"SELECT MIN(bucket), MAX(bucket) FROM rollup_session WHERE session IN ({marks})", sessions
            ).fetchone()
            if lo is None:
                return None
            where.append("ts >= ? AND ts < ?")
            args.extend([lo, hi + HOUR_US])
            where.append(f"session IN ({marks})")
            args.extend(sessions)
        # A literal list, not the temp table: a generator over the result may outlive other queries.
        if allowed is not None and (dims_inline or len(allowed) <= _IN_CHUNK):
            where.append(f"dim_id IN ({','.join(str(int(d)) for d in sorted(allowed))})")
            allowed = None
        return where, args, allowed

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]:
        found = self._event_where(filters, dims_inline=False)
        if found is None:
            return
        where, args, check = found
        sql = (f"SELECT {_EVENT_SELECT} FROM events WHERE {' AND '.join(where)} ORDER BY ts, event_id")
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

    def event_page(self, filters: Filters, *, order: str = "-ts", offset: int = 0, limit: int = 50,
                   min_cost: int | None = None, max_cost: int | None = None) -> EventPage:
        column = _PAGE_ORDERS.get(order)
        if column is None:
            raise QueryError(f"cannot order events by {order!r}; use one of {', '.join(EVENT_ORDERS)}")
        found = self._event_where(filters, dims_inline=True)
        if found is None:
            return EventPage([], 0)
        where, args, _ = found
        if min_cost is not None:
            where.append("cost >= ?")
            args.append(min_cost)
        if max_cost is not None:
            where.append("cost <= ?")
            args.append(max_cost)
        condition = " AND ".join(where)
        (total,) = self._conn.execute(f"SELECT COUNT(*) FROM events WHERE {condition}", args).fetchone()
        rows = self._conn.execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE {condition} ORDER BY {column} LIMIT ? OFFSET ?",
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
        for i in range(0, len(chosen), _IN_CHUNK):
            part = chosen[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(part))
            for session, lo, hi in self._conn.execute(
                    f"SELECT session, MIN(bucket), MAX(bucket) FROM rollup_session WHERE session IN ({marks}) "
                    "GROUP BY session", part):
                spans[session] = (lo, hi)
            for session, dim_id in self._conn.execute(
                    f"SELECT DISTINCT session, dim_id FROM rollup_session WHERE session IN ({marks})", part):
                dims.setdefault(session, []).append(dim_id)
        if by_cost:
            chosen.sort(key=lambda s: (-totals[s].cost, s))
        else:
            chosen.sort(key=lambda s: (-spans[s][1], s))
        chosen = chosen[max(0, offset):None if limit is None else max(0, offset) + limit]
        where, args = self._event_conditions(filters)
        out = []
        for session in chosen:
            lo, hi = spans[session]
            first, last = self._conn.execute(
                f"SELECT MIN(ts), MAX(ts) FROM events WHERE ts >= ? AND ts < ? AND session = ? AND {where}",
                [lo, hi + HOUR_US, session, *(args or [])]).fetchone()
            rows = [(self._dim_dict(d), self._dim_tags(d)) for d in sorted(dims[session])]
            out.append(SessionSummary(session, from_us(first if first is not None else lo),
                                      from_us(last if last is not None else hi), totals[session], rows))
        return out

    def get_event(self, event_id: str) -> PricedEvent | None:
        self._load_dims()
        row = self._conn.execute(
            f"SELECT {_EVENT_SELECT} FROM events WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        return None if row is None else self._event_from_row(row)

    def _price(self, price_id: int | None) -> PriceRef | None:
        if price_id is None:
            return None
        found = self._price_rows.get(price_id)
        if found is None:
            provider, model, rates, price_date, source, note = self._conn.execute(
                "SELECT provider, model, rates, price_date, source, note FROM prices WHERE id = ?", (price_id,)
            ).fetchone()
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
        priced = not values["unpriced_requests"]
        cost = Cost(components, values["cost"], self._price(price_id), priced)
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
        return int(self._conn.execute("SELECT COALESCE(SUM(requests), 0) FROM rollup_day").fetchone()[0])

    def time_span(self) -> tuple[datetime, datetime] | None:
        row = self._conn.execute("SELECT MIN(ts), MAX(ts) FROM events").fetchone()
        if row[0] is None:
            return None
        return from_us(row[0]), from_us(row[1])

    def models(self) -> list[ModelUse]:
        self._load_dims()
        sql = ("SELECT d.provider, d.model, SUM(r.requests), SUM(r.unpriced_requests), MIN(r.bucket), MAX(r.bucket) "
               "FROM rollup_hour r JOIN dims d ON d.id = r.dim_id GROUP BY d.provider, d.model "
               "ORDER BY d.provider, d.model")
        return [ModelUse(p, m, n, u, from_us(a), from_us(b + HOUR_US - 1))
                for p, m, n, u, a, b in self._conn.execute(sql)]

    # -- price overrides ------------------------------------------------------------------

    def add_price_override(self, override: PriceOverride) -> int:
        rates = None if override.rates is None else json.dumps({k: str(v) for k, v in override.rates.items()})
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO price_overrides (model, provider, rates, multiplier, valid_from, valid_until, scope, "
                "note, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (override.model, override.provider, rates,
                 None if override.multiplier is None else str(override.multiplier),
                 override.valid_from.isoformat() if override.valid_from else None,
                 override.valid_until.isoformat() if override.valid_until else None,
                 json.dumps([str(s) for s in override.scope]), override.note, int(time.time())),
            )
            return int(cursor.lastrowid or 0)

    def price_overrides(self) -> list[PriceOverride]:
        rows = self._conn.execute(
            "SELECT id, model, provider, rates, multiplier, valid_from, valid_until, scope, note "
            "FROM price_overrides WHERE removed_at IS NULL ORDER BY id"
        )
        out = []
        for oid, model, provider, rates, multiplier, valid_from, valid_until, scope, note in rows:
            out.append(PriceOverride(
                id=oid, model=model, provider=provider,
                rates=None if rates is None else {k: Decimal(v) for k, v in json.loads(rates).items()},
                multiplier=None if multiplier is None else Decimal(multiplier),
                valid_from=date.fromisoformat(valid_from) if valid_from else None,
                valid_until=date.fromisoformat(valid_until) if valid_until else None,
                scope=tuple(Selector.parse(s) for s in json.loads(scope)), note=note,
            ))
        return out

    def remove_price_override(self, override_id: int) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE price_overrides SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (int(time.time()), override_id),
            )
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
                cursor = conn.execute(f"UPDATE events SET dim_id = ? WHERE dim_id = ? AND {where}",
                                      [new_id, dim_id, *args])
                if cursor.rowcount:
                    moved += cursor.rowcount
                    touched.update((dim_id, new_id))
            if touched:
                self._rebuild_rollups(sorted(touched), filters)
            conn.execute("INSERT INTO retag_log (at, what, events) VALUES (?, ?, ?)",
                         (int(time.time()), what, moved))
        self._dims.clear()   # write-side cache keys may now point at rows whose events moved; ids stay valid
        return moved

    @staticmethod
    def _time_conditions(filters: Filters) -> tuple[list[str], list[Any]]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if filters.since:
            where.append("ts >= ?")
            args.append(to_us(filters.since))
        if filters.until:
            where.append("ts < ?")
            args.append(to_us(filters.until))
        return where, args

    def _event_conditions(self, filters: Filters) -> tuple[str | None, list[Any]]:
        """SQL conditions on events for the time range and sessions of ``filters`` (None: matches nothing)."""
        where, args = self._time_conditions(filters)
        sessions = filters.dims.get("session")
        if sessions is not None:
            if not sessions:
                return None, []
            where.append(f"session IN ({','.join('?' * len(sessions))})")
            args.extend(sessions)
        return " AND ".join(where), args

    def _rebuild_rollups(self, dim_ids: list[int], filters: Filters) -> None:
        """Recompute every rollup row of these dims rows over whole UTC days around the filter's range."""
        conn = self._conn
        span = self._conn.execute(
            f"SELECT MIN(ts), MAX(ts) FROM events WHERE dim_id IN ({','.join('?' * len(dim_ids))})", dim_ids
        ).fetchone()
        if span[0] is None:
            lo, hi = 0, 0
        else:
            lo, hi = span[0], span[1] + 1
        if filters.since:
            lo = max(lo, to_us(filters.since))
        if filters.until:
            hi = min(hi, to_us(filters.until))
        lo -= lo % DAY_US
        hi += (-hi) % DAY_US
        marks = ",".join("?" * len(dim_ids))
        sums = _RAW_SUM_SQL
        for table, width in (("rollup_hour", HOUR_US), ("rollup_day", DAY_US)):
            conn.execute(f"DELETE FROM {table} WHERE dim_id IN ({marks}) AND bucket >= ? AND bucket < ?",
                         [*dim_ids, lo, hi])
            conn.execute(
                f"INSERT INTO {table} (bucket, dim_id, {_ROLLUP_COLS}) SELECT (ts / {width}) * {width}, dim_id, "
                f"{sums} FROM events WHERE dim_id IN ({marks}) AND ts >= ? AND ts < ? GROUP BY ts / {width}, dim_id",
                [*dim_ids, lo, hi])
        conn.execute(f"DELETE FROM rollup_session WHERE dim_id IN ({marks}) AND bucket >= ? AND bucket < ?",
                     [*dim_ids, lo, hi])
        conn.execute(
            f"INSERT INTO rollup_session (session, bucket, dim_id, {_ROLLUP_COLS}) SELECT session, "
            f"(ts / {HOUR_US}) * {HOUR_US}, dim_id, {sums} FROM events WHERE dim_id IN ({marks}) AND ts >= ? "
            f"AND ts < ? GROUP BY session, ts / {HOUR_US}, dim_id",
            [*dim_ids, lo, hi])

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
            lo, hi = None, None
            ids = list(wanted)
            for i in range(0, len(ids), _IN_CHUNK):
                part = ids[i:i + _IN_CHUNK]
                rows = conn.execute(
                    f"SELECT event_id, ts, dim_id, price_id, {', '.join(_EVENT_SUMS)} FROM events "
                    f"WHERE event_id IN ({','.join('?' * len(part))})", part).fetchall()
                for event_id, ts, dim_id, price_id, *sums in rows:
                    new = wanted[event_id].cost
                    current = dict(zip(_EVENT_SUMS, sums, strict=True))
                    values = {"unpriced_requests": 0 if new.priced else 1, "cost": new.total,
                              **{f"cost_{c}": new.components.get(c, 0) for c in COST_COMPONENTS}}
                    new_price = self._price_id(new.price)
                    if all(current[c] == values[c] for c in cost_cols) and new_price == price_id:
                        continue
                    revision = conn.execute("SELECT COALESCE(MAX(revision), 0) + 1 FROM cost_revisions "
                                            "WHERE event_id = ?", (event_id,)).fetchone()[0]
                    conn.execute(
                        f"INSERT INTO cost_revisions (event_id, revision, price_id, {', '.join(_EVENT_SUMS)}, reason, "
                        f"revised_at) VALUES ({','.join('?' * (len(_EVENT_SUMS) + 5))})",
                        (event_id, revision, price_id, *sums, reason, now))
                    conn.execute(
                        f"UPDATE events SET price_id = ?, {', '.join(f'{c} = ?' for c in cost_cols)} "
                        "WHERE ts = ? AND event_id = ?",
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
        self._load_dims()
        current = self.get_event(event_id)
        if current is None:
            return []
        out = []
        for row in self._conn.execute(
                f"SELECT price_id, {', '.join(_EVENT_SUMS)} FROM cost_revisions WHERE event_id = ? "
                "ORDER BY revision", (event_id,)):
            values = dict(zip(_EVENT_SUMS, row[1:], strict=True))
            components = {c: values[f"cost_{c}"] for c in COST_COMPONENTS if values[f"cost_{c}"]}
            cost = Cost(components, values["cost"], self._price(row[0]), not values["unpriced_requests"])
            out.append(PricedEvent(current.event, cost))
        return out

    # -- budgets and alerts ---------------------------------------------------------------

    def save_budget(self, name: str, definition: Mapping[str, Any]) -> None:
        now = int(time.time())
        text = json.dumps(dict(definition), sort_keys=True)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO budgets (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
                (name, text, now, now))

    def budgets(self) -> dict[str, dict[str, Any]]:
        return {name: json.loads(text) for name, text in
                self._conn.execute("SELECT name, definition FROM budgets ORDER BY name")}

    def remove_budget(self, name: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM budgets WHERE name = ?", (name,)).rowcount > 0

    def add_alert(self, alert: AlertRecord) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, kind, budget, period, threshold, spent, limit_amount, "
                "fired_at, payload) VALUES (?,?,?,?,?,?,?,?,?)",
                (alert.alert_id, alert.kind, alert.budget, alert.period, alert.threshold, alert.spent, alert.limit,
                 to_us(alert.fired_at), json.dumps(dict(alert.payload), sort_keys=True)))
            return cursor.rowcount > 0

    def alerts(self, *, since: datetime | None = None, limit: int | None = None) -> list[AlertRecord]:
        sql = ("SELECT alert_id, kind, budget, period, threshold, spent, limit_amount, fired_at, payload "
               "FROM alerts WHERE fired_at >= ? ORDER BY fired_at DESC, alert_id")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AlertRecord(a, k, b, p, t, s, lim, from_us(f), json.loads(pl)) for a, k, b, p, t, s, lim, f, pl in
                self._conn.execute(sql, (to_us(since) if since else 0,))]

    def add_delivery(self, delivery: Delivery) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO alert_deliveries (alert_id, channel, ok, attempts, error, at) "
                         "VALUES (?,?,?,?,?,?)", (delivery.alert_id, delivery.channel, int(delivery.ok),
                                                 delivery.attempts, delivery.error, to_us(delivery.at)))

    def deliveries(self, alert_id: str) -> list[Delivery]:
        return [Delivery(a, c, bool(ok), n, e, from_us(at)) for a, c, ok, n, e, at in self._conn.execute(
            "SELECT alert_id, channel, ok, attempts, error, at FROM alert_deliveries WHERE alert_id = ? "
            "ORDER BY at, channel", (alert_id,))]

    # -- agent log imports ----------------------------------------------------------------

    def import_state(self, path: str) -> ImportState | None:
        row = self._conn.execute("SELECT path, agent, offset_bytes, size, mtime_ns, head_hash, state "
                                 "FROM import_files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        path_, agent, offset, size, mtime_ns, head_hash, state = row
        return ImportState(path_, agent, offset, size, mtime_ns, head_hash, json.loads(state))

    def import_summaries(self) -> dict[str, tuple[int, int, int]]:
        return {path: (size, mtime_ns, offset) for path, size, mtime_ns, offset in self._conn.execute(
            "SELECT path, size, mtime_ns, offset_bytes FROM import_files")}

    def save_import_state(self, state: ImportState) -> None:
        self.save_import_states([state])

    def save_import_states(self, states: Sequence[ImportState]) -> None:
        """Several files' states in one transaction (one commit for a whole batch of files)."""
        now = int(time.time())
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO import_files (path, agent, offset_bytes, size, mtime_ns, head_hash, state, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (path) DO UPDATE SET agent = excluded.agent, "
                "offset_bytes = excluded.offset_bytes, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "head_hash = excluded.head_hash, state = excluded.state, updated_at = excluded.updated_at",
                [(st.path, st.agent, st.offset, st.size, st.mtime_ns, st.head_hash,
                  json.dumps(dict(st.state), sort_keys=True), now) for st in states])

    # -- virtual keys and budget holds (proxy) --------------------------------------------

    def add_key(self, key: VirtualKey) -> None:
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM virtual_keys WHERE name = ? AND revoked_at IS NULL",
                            (key.name,)).fetchone():
                raise StoreError(f"an active key named {key.name!r} exists; revoke it first "
                                 f"(`spendtag keys revoke {key.name}`) or pick another name")
            conn.execute(
                "INSERT INTO virtual_keys (key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (key.key_id, key.name, key.key_hash, key.prefix, canonical_tags(key.tags), key.budget,
                 to_us(key.created_at or datetime.now(UTC)), to_us(key.revoked_at) if key.revoked_at else None))

    _KEY_COLUMNS = "key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at"

    @staticmethod
    def _key(row: Sequence[Any]) -> VirtualKey:
        key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at = row
        return VirtualKey(key_id, name, key_hash, prefix, json.loads(tags), budget, from_us(created_at),
                          from_us(revoked_at) if revoked_at is not None else None)

    def key_by_hash(self, key_hash: str) -> VirtualKey | None:
        row = self._conn.execute(f"SELECT {self._KEY_COLUMNS} FROM virtual_keys WHERE key_hash = ?",
                                 (key_hash,)).fetchone()
        return None if row is None else self._key(row)

    def keys(self, *, include_revoked: bool = False) -> list[VirtualKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [self._key(r) for r in self._conn.execute(
            f"SELECT {self._KEY_COLUMNS} FROM virtual_keys{where} ORDER BY created_at, key_id")]

    def revoke_key(self, id_or_name: str, at: datetime) -> VirtualKey | None:
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {self._KEY_COLUMNS} FROM virtual_keys WHERE (key_id = ? OR name = ?) AND revoked_at IS NULL "
                "ORDER BY key_id = ? DESC LIMIT 1", (id_or_name, id_or_name, id_or_name)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE virtual_keys SET revoked_at = ? WHERE key_id = ?", (to_us(at), row[0]))
        return self._key((*row[:-1], to_us(at)))

    def save_holds(self, holder: str, holds: Mapping[str, int], at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_holds WHERE holder = ?", (holder,))
            conn.executemany("INSERT INTO budget_holds (holder, budget, amount, updated_at) VALUES (?,?,?,?)",
                             [(holder, b, a, to_us(at)) for b, a in holds.items() if a])

    def holds(self, since: datetime, *, exclude: str | None = None) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT budget, SUM(amount) FROM budget_holds WHERE updated_at >= ? AND holder != ? GROUP BY budget",
            (to_us(since), exclude or ""))
        return {b: int(a) for b, a in rows}
