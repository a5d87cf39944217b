"""The ledger logic SQLite and PostgreSQL share: dims caches, rollups, queries, retag, revisions.

``RollupStore`` is the body of both stores; each subclass keeps only its database: the
connection and transactions, migrations, the bulk insert of a batch, locks, and the hooks
of :class:`~spendtag.ledger.dialect.Dialect`.
"""

from __future__ import annotations

import gc
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, Self
from zoneinfo import ZoneInfo

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.plan import DAY_US, HOUR_US, QUARTER_US, plan
from spendtag.ledger.query import DIMENSIONS, TOTAL_FIELDS, Aggregate, Filters, QueryError, Totals, check_group
from spendtag.ledger.store import (
    DEMO_ID_PREFIX,
    DEMO_SOURCE,
    ESTIMATED_FLAG,
    EVENT_ORDERS,
    EXTRA_SUMS,
    ROW_COSTS,
    ROW_TOKENS,
    UNPRICED_FLAG,
    CompactEvent,
    CostRevision,
    EventPage,
    ImportHead,
    ImportPart,
    ImportState,
    ModelUse,
    RecordResult,
    SessionSummary,
    TagChange,
    UnpricedUse,
    Vocabulary,
)
from spendtag.ledger.unusual_tables import UNUSUAL_SQL
from spendtag.periods import TIME_GROUPS, from_us, label_function, to_us
from spendtag.tags import Selector, check_tags
from spendtag.tags import canonical as canonical_tags
from spendtag.usage import (
    BILLED_TOKEN_BUCKETS,
    COST_COMPONENTS,
    TOKEN_BUCKETS,
    Cost,
    PricedEvent,
    PriceRef,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from spendtag.pricing import PriceOverride

DIM_COLUMNS = ("provider", "model", "project", "agent", "key_id", "user_id", "source", "status")
EVENT_SUMS = TOTAL_FIELDS[1:]   # every total but "requests", which is COUNT(*) on events
EVENT_SELECT = (f"event_id, ts, dim_id, session, response_id, price_id, {', '.join(EVENT_SUMS)}, "
                "service_tier, inference_geo, speed, reported_cost")
INSERT_COLUMNS = (
    "event_id", "ts", "dim_id", "session", "response_id", "price_id",
    "service_tier", "inference_geo", "speed", "reported_cost", "recorded_at", *EVENT_SUMS,
)
ROLLUP_COLS = ", ".join(TOTAL_FIELDS)
RAW_SUM_SQL = "COUNT(*), " + ", ".join(f"SUM({f})" for f in EVENT_SUMS)
_PAGE_ORDERS = {"ts": "ts, event_id", "-ts": "ts DESC, event_id DESC",
                "cost": "cost, event_id", "-cost": "cost DESC, event_id DESC"}
_COST_COLUMNS = tuple(f"cost_{c}" for c in COST_COMPONENTS)
_ROLLUP_SUM_SQL_R = ", ".join(f"SUM(r.{f})" for f in TOTAL_FIELDS)
_TOTAL_INDEX = {f: i for i, f in enumerate(TOTAL_FIELDS)}
# The dims column each non-time group key depends on.
_GROUP_COLUMN = {"tag": "tagset_id", **{d: c for d, c in zip(DIMENSIONS, DIM_COLUMNS, strict=True)}}
_BUCKETS = attrgetter(*TOKEN_BUCKETS)
_ZEROS = (0,) * len(COST_COMPONENTS)
_REMAP_CHUNK = 400   # dims rows moved by one UPDATE of a retag (each UPDATE scans the events in range once)
_NO_TOKENS = (0,) * (len(TOKEN_BUCKETS) - 6)   # the token buckets after the five text ones and reasoning
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

# An event row for INSERT_COLUMNS; per rollup key, the summed columns (EVENT_SUMS order) of its events.
Rows = list[tuple[Any, ...]]
HourGroups = dict[tuple[int, int], list[tuple[int, ...]]]
SessionGroups = dict[tuple[str, int, int], list[tuple[int, ...]]]
# Builds a batch's rows and rollup groups (the stores' write path takes either kind of batch).
RowMaker = Callable[[dict[str, Any], int], tuple[Rows, HourGroups, SessionGroups]]
# The columns of an import row: a head's (recorded_at, dim_id, price_id), then an event's body.
IMPORT_COLUMNS = ("recorded_at", "dim_id", "price_id", "event_id", "ts", "session", "response_id", "service_tier",
                  "inference_geo", "speed", "reported_cost", *EVENT_SUMS)
_IMPORT_TS, _IMPORT_DIM, _IMPORT_SESSION, _IMPORT_SUMS = (IMPORT_COLUMNS.index(c)
                                                          for c in ("ts", "dim_id", "session", EVENT_SUMS[0]))
# An import row in INSERT_COLUMNS order.
import_to_insert = itemgetter(*(IMPORT_COLUMNS.index(c) for c in INSERT_COLUMNS))
_INSERT_ONE = f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
# What a revised copy replaces (an event keeps its id and when it was first recorded).
_REVISED_COLUMNS = tuple(c for c in INSERT_COLUMNS if c not in ("event_id", "recorded_at"))
_REVISE_ONE = f"UPDATE events SET {', '.join(f'{c} = ?' for c in _REVISED_COLUMNS)} WHERE event_id = ?"
_revised_values = itemgetter(*(IMPORT_COLUMNS.index(c) for c in _REVISED_COLUMNS))
_GREW = "a later copy of a call that was still being written"
# The billed token buckets' places among EVENT_SUMS (a revised copy must carry more of them).
_BILLED = tuple(EVENT_SUMS.index(b) for b in BILLED_TOKEN_BUCKETS)


def _copy_order(row: Sequence[Any]) -> tuple[int, int]:
    """How copies of one event (import rows) rank: by billed tokens, then by time."""
    return sum(row[_IMPORT_SUMS + i] for i in _BILLED), row[_IMPORT_TS]


def group_import_rows(rows: Sequence[Sequence[Any]]) -> tuple[HourGroups, SessionGroups]:
    """Import rows' (IMPORT_COLUMNS order) summed columns per (hour, dims) and per (session, hour, dims).

    When every row has the same session (a log file's part, usually), each session group is
    the very list of its hour group.
    """
    hours: HourGroups = defaultdict(list)
    for row in rows:
        ts = row[_IMPORT_TS]
        hours[(ts - ts % HOUR_US, row[_IMPORT_DIM])].append(tuple(row[_IMPORT_SUMS:]))
    if not rows:
        return hours, {}
    session = rows[0][_IMPORT_SESSION]
    if all(row[_IMPORT_SESSION] == session for row in rows):
        return hours, {(session, *key): group for key, group in hours.items()}
    sessions: SessionGroups = defaultdict(list)
    for row in rows:
        ts = row[_IMPORT_TS]
        sessions[(row[_IMPORT_SESSION], ts - ts % HOUR_US, row[_IMPORT_DIM])].append(tuple(row[_IMPORT_SUMS:]))
    return hours, sessions


class ImportPartBuilder:
    """Turns priced events into an :data:`~spendtag.ledger.store.ImportPart` (in an import worker)."""

    def __init__(self) -> None:
        self.heads: list[ImportHead] = []
        self.events: list[CompactEvent] = []
        self.revised: list[CompactEvent] = []
        self._index: dict[tuple[Any, ...], int] = {}

    def add(self, priced: PricedEvent, *, revised: bool = False) -> None:
        """A new event; ``revised``: a later copy of one recorded earlier (see ``Store.record_import``)."""
        event, cost = priced.event, priced.cost
        usage = event.usage
        tags = event.tags
        dims = (event.provider, event.model, event.project, event.agent, event.key, event.user, event.source,
                event.status, tuple(tags.items()) if tags else ())
        # Pricers hand out one PriceRef object per resolved rate set: its id tells prices apart.
        key = (dims, id(cost.price))
        head = self._index.get(key)
        if head is None:
            head = self._index[key] = len(self.heads)
            self.heads.append((dims, cost.price))
        (self.revised if revised else self.events).append((head, (
            event.event_id, (event.ts - _EPOCH) // _ONE_US, event.session or "", event.response_id,
            usage.service_tier, usage.inference_geo, usage.speed, usage.reported_cost,
            0 if cost.priced else 1, 1 if usage.estimated else 0, 0 if event.status == "ok" else 1, *_BUCKETS(usage),
            *map(cost.components.get, COST_COMPONENTS, _ZEROS), cost.total)))

    def add_text(self, dims: tuple[Any, ...], price: PriceRef, event_id: str, ts_us: int, session: str | None,
                 response_id: str | None, service_tier: str | None, counts: tuple[int, int, int, int, int],
                 cost: tuple[int, ...], *, reasoning: int = 0, revised: bool = False) -> None:
        """What ``add`` makes of a priced, status-ok event with only text tokens, from plain values.

        ``dims`` as in ``add`` (tags already applied); ``counts`` in ``Pricer.text_cost``'s
        order (the first five token buckets), ``reasoning`` the reasoning tokens inside their
        output; ``cost`` the components then the total.
        """
        key = (dims, id(price))
        head = self._index.get(key)
        if head is None:
            head = self._index[key] = len(self.heads)
            self.heads.append((dims, price))
        (self.revised if revised else self.events).append((head, (
            event_id, ts_us, session or "", response_id, service_tier, None, None, None,
            0, 0, 0, *counts, reasoning, *_NO_TOKENS, *cost)))

    def part(self) -> ImportPart:
        return self.heads, self.events, self.revised


def _sum_rows(rows: Sequence[Sequence[int]]) -> list[int]:
    """Totals (TOTAL_FIELDS order) of event rows in EVENT_SUMS order: the count, then column sums."""
    return [len(rows), *map(sum, zip(*rows, strict=True))]


def _ints(row: Sequence[Any]) -> list[int]:
    """Sums as Python ints (PostgreSQL's SUM of BIGINT is NUMERIC, read as an integral Decimal)."""
    return [int(v) if v is not None else 0 for v in row]


class RollupStore(Dialect):
    """The shared body of :class:`~spendtag.ledger.sqlite.SQLiteStore` and ``PostgresStore``."""

    url: str
    # True where SUM comes back as something other than int (PostgreSQL's NUMERIC).
    _NUMERIC_SUMS = False

    def _init_caches(self) -> None:
        self._dims: dict[tuple[Any, ...], int] = {}
        self._dim_rows: dict[int, tuple[str, ...]] = {}
        self._tagsets: dict[str, int] = {}
        self._tagset_rows: dict[int, dict[str, str]] = {}
        self._prices: dict[str, int] = {}
        self._price_rows: dict[int, PriceRef] = {}
        self._price_objects: dict[int, tuple[PriceRef, int]] = {}
        self._dims_loaded_to = 0
        self._tagsets_loaded_to = 0
        self._allowed_cache: dict[tuple[Any, ...], tuple[int, set[int]]] = {}

    def _forget_caches(self) -> None:
        self._dims_loaded_to = self._tagsets_loaded_to = 0
        self._dims.clear()
        self._dim_rows.clear()
        self._tagsets.clear()
        self._tagset_rows.clear()
        self._prices.clear()
        self._price_rows.clear()
        self._price_objects.clear()
        self._allowed_cache.clear()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks for the subclasses ---------------------------------------------------------

    def _made(self, table: str, columns: Sequence[str], row: Sequence[Any], key: Sequence[str]) -> int:
        """The id of the row of ``table`` with these values, inserted if new (``key``: its unique columns)."""
        raise NotImplementedError

    def _record_batch(self, batch: dict[str, Any], now: int, rows: RowMaker,
                      states: Sequence[ImportState] = (), after: Callable[[], None] | None = None) -> int:
        """Record the events of ``batch`` (keyed by event id; ``rows`` makes their rows) not yet in
        the ledger, and save ``states``, in one transaction; how many events were new. ``after``
        runs last in that transaction (once the rollups are written)."""
        raise NotImplementedError

    def _bucket_sql(self, width: int) -> tuple[str, str]:
        """SQL for ``ts`` rounded down to a multiple of ``width``, and the expression to group by."""
        raise NotImplementedError

    def _allowed_sql(self, allowed: set[int] | None) -> tuple[str, list[Any]]:
        """A condition on r.dim_id for the dims rows that pass the filters ('' for all), and its arguments."""
        raise NotImplementedError

    def _event_dims(self, allowed: set[int], inline: bool) -> tuple[str | None, list[Any], set[int] | None]:
        """A condition on events.dim_id for ``allowed`` and its arguments, or the ids to check row by row."""
        raise NotImplementedError

    def _session_spans(self, sessions: list[str]) -> tuple[dict[str, tuple[int, int]], dict[str, list[int]]]:
        """Per session: its first and last rollup hour, and the dims rows it used."""
        raise NotImplementedError

    def _insert_id(self, sql: str, args: Sequence[Any]) -> int:
        """Run an INSERT into a table with an ``id`` column; the new row's id."""
        raise NotImplementedError

    # -- writing --------------------------------------------------------------------------

    def _tagset_id(self, tags: dict[str, str]) -> int:
        text = canonical_tags(tags)
        found = self._tagsets.get(text)
        if found is None:
            found = self._made("tagsets", ("tags",), (text,), ("tags",))
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

    def _dim_id_of_key(self, key: tuple[Any, ...]) -> int:
        """The dims row of a compact event's dims key (``_event_rows``' cache key), created if new."""
        found = self._dims.get(key)
        if found is None:
            provider, model, project, agent, vkey, user, source, status, tags = key
            values = (provider, model, project or "", agent or "", vkey or "", user or "", source, status)
            found = self._dims[key] = self._dim_row(values, dict(tags))
        return found

    def _dim_row(self, values: tuple[str, ...], tags: Mapping[str, str]) -> int:
        """The id of the dims row with these dimension values (DIMENSIONS order) and tags, made if new."""
        row = (*values, self._tagset_id(dict(tags)))
        columns = (*DIM_COLUMNS, "tagset_id")
        found = self._made("dims", columns, row, columns)
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
            found = self._made(
                "prices", ("fingerprint", "provider", "model", "rates", "price_date", "source", "note"),
                (fingerprint, price.provider, price.model, rates, price.price_date, price.source, price.note),
                ("fingerprint",))
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
            inserted = self._record_batch(batch, now, self._event_rows)
            return RecordResult(inserted, total - inserted)
        finally:
            if gc_was_enabled:
                gc.enable()

    def record_import(self, files: Iterable[tuple[ImportPart, ImportState]]) -> RecordResult:
        """Record files' compact events and save their import states, in one transaction.

        The same contract as ``record`` (idempotent on event_id, the first copy in the batch
        wins), for events priced elsewhere (import workers); committing the files' offsets
        with their events means a killed import leaves neither without the other. ``files``
        is consumed as it comes, so a large batch need not be held in memory.
        """
        now = int(time.time() * 1_000_000)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            inserted, total, updated = self._record_import(files, now)
            return RecordResult(inserted, total - inserted - updated, updated)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _record_import(self, files: Iterable[tuple[ImportPart, ImportState]],
                       now: int) -> tuple[int, int, int]:
        """(events inserted, events given, events updated), through ``_record_batch``; SQLite streams instead."""
        parts: list[ImportPart] = []
        states: list[ImportState] = []
        for part, state in files:
            parts.append(part)
            states.append(state)
        batch: dict[str, tuple[int, int, tuple[Any, ...]]] = {}
        total = 0
        for n, (_heads, events, revised) in enumerate(parts):
            total += len(events) + len(revised)
            for head, body in events:
                if body[0] not in batch:
                    batch[body[0]] = (n, head, body)

        def rows(found: dict[str, tuple[int, int, tuple[Any, ...]]], now: int) -> tuple[Rows, HourGroups,
                                                                                     SessionGroups]:
            prefixes = [[self._import_head(now, dims, price) for dims, price in part[0]] for part in parts]
            imported = [prefixes[n][head] + body for n, head, body in found.values()]
            hours, sessions = group_import_rows(imported)
            return [import_to_insert(row) for row in imported], hours, sessions

        revised_counts = [0, 0]

        def revise() -> None:
            heads = [[self._import_head(now, dims, price) for dims, price in part[0]] for part in parts]
            revised_counts[:] = self._apply_revised([heads[n][head] + body for n, part in enumerate(parts)
                                                     for head, body in part[2]])

        has_revised = any(part[2] for part in parts)
        inserted = self._record_batch(batch, now, rows, states, after=revise if has_revised else None)
        return inserted + revised_counts[0], total, revised_counts[1]

    def _import_head(self, now: int, dims: tuple[Any, ...], price: PriceRef | None) -> tuple[int, int, int | None]:
        """The first columns of an import row (IMPORT_COLUMNS): recorded_at, dim_id, price_id."""
        return now, self._dim_id_of_key(dims), self._price_id(price)

    def _event_rows(self, batch: dict[str, PricedEvent], now: int) -> tuple[Rows, HourGroups, SessionGroups]:
        """The events' rows (INSERT_COLUMNS order), and their sums per (hour, dims) and (session, hour, dims)."""
        rows = []
        hours: HourGroups = defaultdict(list)
        sessions: SessionGroups = defaultdict(list)
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
            # Everything summed, in EVENT_SUMS order (the request count is added per group).
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
        return rows, hours, sessions

    @staticmethod
    def _rollup_rows(hours: HourGroups, sessions: SessionGroups, *, ordered: bool) -> tuple[Rows, Rows, Rows]:
        """The rows to add to rollup_hour, rollup_day and rollup_session (in key order if ``ordered``)."""
        hour_items = sorted(hours.items()) if ordered else hours.items()
        hour_sums = {key: _sum_rows(group) for key, group in hour_items}
        days: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
        for (hour, dim_id), acc in hour_sums.items():
            days[(hour - hour % DAY_US, dim_id)].append(acc)
        day_items = sorted(days.items()) if ordered else days.items()
        session_items = sorted(sessions.items()) if ordered else sessions.items()
        return ([(b, d, *acc) for (b, d), acc in hour_sums.items()],
                [(b, d, *map(sum, zip(*group, strict=True))) for (b, d), group in day_items],
                [(s, b, d, *_sum_rows(group)) for (s, b, d), group in session_items])

    # -- reading: dimensions --------------------------------------------------------------

    def _load_dims(self) -> None:
        """Bring the dims and tag-set caches up to date with rows other writers added."""
        for tid, text in self._run("SELECT id, tags FROM tagsets WHERE id > ? ORDER BY id",
                                   (self._tagsets_loaded_to,)):
            self._tagset_rows[tid] = json.loads(text)
            self._tagsets[text] = tid
            self._tagsets_loaded_to = tid
        cols = ", ".join((*DIM_COLUMNS, "tagset_id"))
        for row in self._run(f"SELECT id, {cols} FROM dims WHERE id > ? ORDER BY id", (self._dims_loaded_to,)):
            self._dim_rows[row[0]] = tuple(str(v) for v in row[1:])
            self._dims_loaded_to = row[0]

    def _dim_of(self, dim_id: int) -> tuple[str, ...]:
        """One dims row, read on its own when not cached (queries about one session touch few)."""
        row = self._dim_rows.get(dim_id)
        if row is None:
            cols = ", ".join((*DIM_COLUMNS, "tagset_id"))
            found = self._one(f"SELECT {cols} FROM dims WHERE id = ?", (dim_id,))
            row = self._dim_rows[dim_id] = tuple(str(v) for v in found)
            tagset = int(row[-1])
            if tagset not in self._tagset_rows:
                text = self._one("SELECT tags FROM tagsets WHERE id = ?", (tagset,))[0]
                self._tagset_rows[tagset] = json.loads(text)
                self._tagsets[text] = tagset
        return row

    def _dim_dict(self, dim_id: int) -> dict[str, str]:
        return dict(zip(DIMENSIONS, self._dim_of(dim_id)[:-1], strict=True))

    def _dim_tags(self, dim_id: int) -> dict[str, str]:
        return self._tagset_rows[int(self._dim_of(dim_id)[-1])]

    def _allowed_dims(self, filters: Filters) -> set[int] | None:
        """The dims ids that pass the filters, or None when every one does (a set not to be changed).

        A page asks this of the same filters several times: the answer is kept for as long as
        no dims row is added (a dims row's values never change)."""
        if not (filters.tags or filters.project or any(k != "session" for k in filters.dims)):
            return None
        self._load_dims()
        key = (filters.tags, filters.project, tuple(sorted((k, v) for k, v in filters.dims.items() if k != "session")))
        kept = self._allowed_cache.get(key)
        if kept is not None and kept[0] == len(self._dim_rows):
            return kept[1]
        found = {dim_id for dim_id, row in self._dim_rows.items()
                 if filters.matches_dims(self._dim_dict(dim_id), self._tagset_rows[int(row[-1])])}
        if len(self._allowed_cache) >= 64:
            self._allowed_cache.clear()
        self._allowed_cache[key] = (len(self._dim_rows), found)
        return found

    # -- reading: aggregates --------------------------------------------------------------

    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None, *,
                  fields: Sequence[str] | None = None) -> list[Aggregate]:
        by = [check_group(k) for k in by]
        # Reading a rollup row costs the database about as much per summed column as the row itself.
        places = None if fields is None else [_TOTAL_INDEX[f] for f in fields]
        rollup_sums = _ROLLUP_SUM_SQL_R if places is None else ", ".join(f"SUM(r.{TOTAL_FIELDS[i]})" for i in places)
        raw_sums = RAW_SUM_SQL if places is None else ", ".join(
            "COUNT(*)" if i == 0 else f"SUM({TOTAL_FIELDS[i]})" for i in places)
        tz = tz or ZoneInfo("UTC")
        # Grouped by time and session only, no row's dims are looked at (a report by day).
        by_dims = any(k not in TIME_GROUPS and k != "session" for k in by)
        if "session" not in filters.dims and by_dims:
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

        no_dims: list[str | None] = [None] * len(by)

        def static_part(dim_id: int) -> list[str | None]:
            if not by_dims:
                return no_dims
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
        numeric = self._NUMERIC_SUMS

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
            if numeric:
                sums = _ints(sums)
            if places is not None:
                full = [0] * len(TOTAL_FIELDS)
                for i, v in zip(places, sums, strict=True):
                    full[i] = v or 0
                sums = full
            totals.add(sums)

        allowed_sql, allowed_args = self._allowed_sql(allowed)
        session_sql, session_args = self._in("r.session", sessions) if sessions is not None else ("", [])
        # Rollup rows are grouped in SQL by the dims columns the key depends on; MIN(dim_id)
        # stands for its group (every member has the same values in those columns).
        group_cols = sorted({_GROUP_COLUMN["tag" if k.startswith("tag:") else k] for k in by
                             if k.startswith("tag:") or k in _GROUP_COLUMN})
        use_sessions = by_session or sessions is not None
        for piece in plan(start, end, list(label_fns.values())):
            if piece.level == "raw":
                self._take_raw(piece.start, piece.end, (allowed_sql, allowed_args), sessions, bool(time_keys),
                               by_session, take, raw_sums)
                continue
            table = "rollup_session" if use_sessions else ("rollup_day" if piece.level == "day" else "rollup_hour")
            cols = [f"d.{c}" for c in group_cols]
            if time_keys:
                cols.insert(0, "r.bucket")
            if by_session:
                cols.append("r.session")
            where = "r.bucket >= ? AND r.bucket < ?" + allowed_sql
            args: list[Any] = [piece.start, piece.end, *allowed_args]
            if sessions is not None:
                where += f" AND {session_sql}"
                args.extend(session_args)
            select = ["r.bucket" if time_keys else "0", "MIN(r.dim_id)", "r.session" if by_session else "''"]
            sql = (f"SELECT {', '.join(select)}, {rollup_sums} FROM {table} r JOIN dims d ON d.id = r.dim_id "
                   f"WHERE {where}" + (f" GROUP BY {', '.join(cols)}" if cols else ""))
            for row in self._run(sql, args):
                if row[1] is not None:
                    take(row[0], row[1], row[2], row[3:])
        return [Aggregate(key, totals) for key, totals in groups.items()]

    def recorded(self, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in self._chunks(event_ids):
            cond, args = self._in("event_id", part)
            found.update(row[0] for row in self._run(f"SELECT event_id FROM events WHERE {cond}", args))
        return found

    def spend_by_dims(self, since: datetime | None, until: datetime | None) -> dict[int, int]:
        span = self._span_us()
        if span is None:
            return {}
        start = max(span[0], to_us(since)) if since else span[0]
        end = min(span[1], to_us(until)) if until else span[1]
        out: dict[int, int] = {}
        if start >= end:
            return out
        for piece in plan(start, end):
            if piece.level == "raw":
                sql = "SELECT dim_id, SUM(cost) FROM events WHERE ts >= ? AND ts < ? GROUP BY dim_id"
            else:
                table = "rollup_day" if piece.level == "day" else "rollup_hour"
                sql = f"SELECT dim_id, SUM(cost) FROM {table} WHERE bucket >= ? AND bucket < ? GROUP BY dim_id"
            for dim_id, cost in self._run(sql, [piece.start, piece.end]):
                out[int(dim_id)] = out.get(int(dim_id), 0) + int(cost)
        return out

    def _take_raw(self, a: int, b: int, allowed: tuple[str, list[Any]], sessions: tuple[str, ...] | None,
                  by_time: bool, by_session: bool, take: Callable[[int, int, str | None, Sequence[Any]], None],
                  sums: str = RAW_SUM_SQL) -> None:
        """Sum events in [a, b) per quarter hour (when grouping by time), dims row and session."""
        quarter, quarter_group = self._bucket_sql(QUARTER_US)
        select = [quarter if by_time else "0", "dim_id", "session" if by_session else "''"]
        group = [g for g, on in ((quarter_group, by_time), ("dim_id", True), ("session", by_session)) if on]
        where = "ts >= ? AND ts < ?" + allowed[0].replace("r.dim_id", "dim_id")
        args: list[Any] = [a, b, *allowed[1]]
        if sessions is not None:
            session_sql, session_args = self._in("session", sessions)
            where += f" AND {session_sql}"
            args.extend(session_args)
        sql = f"SELECT {', '.join(select)}, {sums} FROM events WHERE {where} GROUP BY {', '.join(group)}"
        for row in self._run(sql, args):
            take(row[0], row[1], row[2], row[3:])

    def _span_us(self) -> tuple[int, int] | None:
        lo, hi = self._one("SELECT MIN(bucket), MAX(bucket) FROM rollup_day")
        if lo is None:
            return None
        return int(lo), int(hi) + DAY_US

    # -- reading: events ------------------------------------------------------------------

    def _event_where(self, filters: Filters, *,
                     dims_inline: bool) -> tuple[list[str], list[Any], set[int] | None] | None:
        """SQL conditions on events for ``filters`` (None: nothing can match).

        The allowed dimension rows go into the SQL when ``dims_inline`` or when the database
        takes them all; otherwise they come back for the caller to check row by row.
        """
        self._load_dims()
        allowed = self._allowed_dims(filters)
        if allowed is not None and not allowed:
            return None
        where, args = self._time_conditions(filters)
        sessions = filters.dims.get("session")
        if sessions is not None:
            # No index on events.session: narrow the scan to the hours the sessions ran.
            session_sql, session_args = self._in("session", sessions)
            lo, hi = self._one(f"SELECT MIN(bucket), MAX(bucket) FROM rollup_session WHERE {session_sql}",
                               session_args)
            if lo is None:
                return None
            where.append("ts >= ? AND ts < ?")
            args.extend([lo, hi + HOUR_US])
            where.append(session_sql)
            args.extend(session_args)
        check = None
        if allowed is not None:
            condition, dim_args, check = self._event_dims(allowed, dims_inline)
            if condition is not None:
                where.append(condition)
                args.extend(dim_args)
        return where, args, check

    def event_page(self, filters: Filters, *, order: str = "-ts", offset: int = 0, limit: int = 50,
                   min_cost: int | None = None, max_cost: int | None = None) -> EventPage:
        column = _PAGE_ORDERS.get(order)
        if column is None:
            raise QueryError(f"cannot order events by {order!r}; use one of {', '.join(EVENT_ORDERS)}")
        found = self._event_where(filters, dims_inline=True)
        if found is None:
            return EventPage([], 0)
        where, args, _ = found
        _cost_bounds(where, args, min_cost, max_cost)
        condition = " AND ".join(where)
        if min_cost is None and max_cost is None and "session" not in filters.dims:
            # The rollups count the same events as the table, without reading a row of it.
            total = sum(a.totals.requests for a in self.aggregate(filters))
        else:
            total = int(self._one(f"SELECT COUNT(*) FROM events WHERE {condition}", args)[0])
        rows = self._run(
            f"SELECT {EVENT_SELECT} FROM events WHERE {condition} ORDER BY {column} LIMIT ? OFFSET ?",
            [*args, max(0, int(limit)), max(0, int(offset))]).fetchall()
        return EventPage([self._event_from_row(r) for r in rows], total)

    def unusual_events(self, filters: Filters) -> list[PricedEvent]:
        found = self._event_where(filters, dims_inline=True)
        if found is None:
            return []
        where, args, _ = found
        # The index's own condition, written as it is, so the database knows the index covers it.
        rows = self._run(f"SELECT {EVENT_SELECT} FROM events WHERE {UNUSUAL_SQL} AND {' AND '.join(where)} "
                         "ORDER BY ts, event_id", args).fetchall()
        return [self._event_from_row(r) for r in rows]

    def _event_rows_query(self, filters: Filters, min_cost: int | None,
                          max_cost: int | None) -> tuple[str, list[Any], set[int] | None] | None:
        """The SELECT of ``event_rows``, its arguments, and the dims ids to check row by row (or None)."""
        found = self._event_where(filters, dims_inline=False)
        if found is None:
            return None
        where, args, check = found
        _cost_bounds(where, args, min_cost, max_cost)
        return (f"SELECT {self._event_row_select()} FROM events WHERE {' AND '.join(where)} ORDER BY ts, event_id",
                args, check)

    def _event_row_select(self) -> str:
        """Store.event_rows' columns (EVENT_ROW_COLUMNS), computed by the database: the rare sums in one
        column, NULL when all are 0 (a bitwise OR is 0 only then), and the counts as one text, so a
        row carries 15 values rather than 30 (each value read costs a reader as much as formatting it)."""
        return (f"event_id, ts, dim_id, session, COALESCE(price_id, 0) * 4 + "
                f"CASE WHEN unpriced_requests = 0 THEN 0 ELSE {UNPRICED_FLAG} END + "
                f"CASE WHEN estimated_requests = 0 THEN 0 ELSE {ESTIMATED_FLAG} END, service_tier, "
                f"CASE WHEN ({' | '.join(EXTRA_SUMS)}) = 0 THEN NULL ELSE {self._ints_text(EXTRA_SUMS)} END, "
                f"{self._ints_text(ROW_TOKENS)}, {', '.join(f'cost_{c}' for c in ROW_COSTS)}, cost")

    def event_dims(self, dim_id: int) -> tuple[Mapping[str, str], Mapping[str, str]]:
        return self._dim_dict(dim_id), self._dim_tags(dim_id)

    def price_ref(self, price_id: int | None) -> PriceRef | None:
        return self._price(price_id)

    def sessions(self, filters: Filters, *, limit: int | None = None, offset: int = 0, min_cost: int = 0,
                 max_cost: int | None = None, by_cost: bool = False,
                 totals: Mapping[str, Totals] | None = None) -> list[SessionSummary]:
        if totals is None and not by_cost and min_cost <= 0 and max_cost is None and limit is not None:
            # The most recent page is found from the session rollup alone; only its sessions are summed.
            page = self._recent_sessions(filters, max(0, offset), limit)
            if page is not None:
                if not page:
                    return []
                filters = replace(filters, dims={**filters.dims, "session": tuple(page)})
                offset = 0
        if totals is None:
            totals = {a.key[0]: a.totals for a in self.aggregate(filters, ["session"]) if a.key[0]}
        chosen = [s for s, t in totals.items() if t.cost >= min_cost and (max_cost is None or t.cost <= max_cost)]
        if not chosen:
            return []
        start = max(0, offset)
        if by_cost:
            chosen.sort(key=lambda s: (-totals[s].cost, s))
            chosen = chosen[start:None if limit is None else start + limit]
            spans, dims = self._session_spans(chosen)       # only the page's: the order needs none
        else:
            spans, dims = self._session_spans(chosen)
            chosen.sort(key=lambda s: (-spans[s][1], s))
            chosen = chosen[start:None if limit is None else start + limit]
        where, args = self._event_conditions(filters)
        out = []
        for session in chosen:
            lo, hi = spans[session]
            first, last = self._one(
                f"SELECT MIN(ts), MAX(ts) FROM events WHERE ts >= ? AND ts < ? AND session = ? AND {where}",
                [lo, hi + HOUR_US, session, *args])
            rows = [(self._dim_dict(d), self._dim_tags(d)) for d in sorted(dims[session])]
            out.append(SessionSummary(session, from_us(first if first is not None else lo),
                                      from_us(last if last is not None else hi), totals[session], rows))
        return out

    def _session_set(self, filters: Filters) -> tuple[str, list[Any]] | None:
        """SQL for the distinct sessions (not '') with events passing ``filters``, and its arguments;
        None when no session can match. Not for filters on sessions (the caller knows those)."""
        allowed = self._allowed_dims(filters)
        span = self._span_us()
        if (allowed is not None and not allowed) or span is None:
            return None
        start = max(span[0], to_us(filters.since)) if filters.since else span[0]
        end = min(span[1], to_us(filters.until)) if filters.until else span[1]
        if start >= end:
            return None
        allowed_sql, allowed_args = self._allowed_sql(allowed)
        parts, args = [], []
        for piece in plan(start, end):
            if piece.level == "raw":
                parts.append("SELECT DISTINCT r.session FROM events r WHERE r.ts >= ? AND r.ts < ? AND r.session <> ''"
                             + allowed_sql)
            else:
                parts.append("SELECT DISTINCT r.session FROM rollup_session r WHERE r.bucket >= ? AND r.bucket < ? "
                             "AND r.session <> ''" + allowed_sql)
            args.extend([piece.start, piece.end, *allowed_args])
        return " UNION ".join(parts), args

    def _recent_sessions(self, filters: Filters, offset: int, limit: int) -> list[str] | None:
        """A page of ``sessions()``' recency order (last active hour, then id): None to take the long way."""
        if "session" in filters.dims:
            return None
        found = self._session_set(filters)
        if found is None:
            return []
        chosen, args = found
        rows = self._run(f"SELECT s.session, MAX(a.bucket) AS last FROM ({chosen}) s "
                         "JOIN rollup_session a ON a.session = s.session GROUP BY s.session "
                         f"ORDER BY last DESC, s.session LIMIT {int(limit)} OFFSET {int(offset)}", args)
        return [str(r[0]) for r in rows]

    def session_count(self, filters: Filters) -> int:
        if "session" in filters.dims:
            return len([a for a in self.aggregate(filters, ["session"]) if a.key[0]])
        found = self._session_set(filters)
        if found is None:
            return 0
        chosen, args = found
        return int(self._one(f"SELECT COUNT(*) FROM ({chosen}) s", args)[0])

    def session_costs(self, filters: Filters) -> dict[str, int]:
        if "session" in filters.dims:
            return {str(a.key[0]): a.totals.cost for a in self.aggregate(filters, ["session"]) if a.key[0]}
        allowed = self._allowed_dims(filters)
        span = self._span_us()
        out: dict[str, int] = {}
        if (allowed is not None and not allowed) or span is None:
            return out
        start = max(span[0], to_us(filters.since)) if filters.since else span[0]
        end = min(span[1], to_us(filters.until)) if filters.until else span[1]
        allowed_sql, allowed_args = self._allowed_sql(allowed)
        for piece in plan(start, end) if start < end else ():
            table, column = ("events", "ts") if piece.level == "raw" else ("rollup_session", "bucket")
            for session, cost in self._run(f"SELECT r.session, SUM(r.cost) FROM {table} r WHERE r.{column} >= ? "
                                           f"AND r.{column} < ? AND r.session <> ''{allowed_sql} GROUP BY r.session",
                                           [piece.start, piece.end, *allowed_args]):
                out[session] = out.get(session, 0) + int(cost)
        return out

    def event_times(self, filters: Filters) -> list[int]:
        found = self._event_where(filters, dims_inline=True)
        if found is None:
            return []
        where, args, _ = found
        return [int(ts) for (ts,) in self._run(f"SELECT ts FROM events WHERE {' AND '.join(where)} ORDER BY ts", args)]

    def session_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        # substr, not LIKE (no wildcards to escape) nor a range (PostgreSQL's collation may not be bytewise).
        rows = self._run("SELECT DISTINCT session FROM rollup_session WHERE substr(session, 1, ?) = ? "
                         f"ORDER BY session LIMIT {int(limit)}", (len(prefix), prefix))
        return [str(r[0]) for r in rows]

    def get_event(self, event_id: str) -> PricedEvent | None:
        row = self._run(f"SELECT {EVENT_SELECT} FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else self._event_from_row(row)

    def _price(self, price_id: int | None) -> PriceRef | None:
        if price_id is None:
            return None
        found = self._price_rows.get(price_id)
        if found is None:
            provider, model, rates, price_date, source, note = self._one(
                "SELECT provider, model, rates, price_date, source, note FROM prices WHERE id = ?", (price_id,))
            found = PriceRef(provider, model, json.loads(rates), price_date, source, note)
            self._price_rows[price_id] = found
        return found

    def _event_from_row(self, row: Sequence[Any]) -> PricedEvent:
        event_id, ts, dim_id, session, response_id, price_id = row[:6]
        sums = row[6:6 + len(EVENT_SUMS)]
        service_tier, inference_geo, speed, reported_cost = row[6 + len(EVENT_SUMS):]
        values = dict(zip(EVENT_SUMS, sums, strict=True))
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
        """Every tag key on events whose dimensions and tags pass ``filters`` (time is not checked).

        Only dims rows that still have events count (the rollups say which): a retag or the
        demo's removal leaves rows without any."""
        self._load_dims()
        allowed = self._allowed_dims(filters)
        in_use = {int(d) for (d,) in self._run("SELECT DISTINCT dim_id FROM rollup_day")}
        keys: set[str] = set()
        for dim_id, row in self._dim_rows.items():
            if dim_id in in_use and (allowed is None or dim_id in allowed):
                keys.update(self._tagset_rows[int(row[-1])])
        return sorted(keys)

    def vocabulary(self) -> Vocabulary:
        self._load_dims()
        dims: dict[str, set[str]] = {name: set() for name in DIMENSIONS}
        tags: dict[str, set[str]] = {}
        # A dims row is made for the calls recorded with it, so each has calls, unless a retag
        # moved them away: then only the rows the day rollups still name count (a scan of them).
        if self._run("SELECT 1 FROM retag_log WHERE events > 0 LIMIT 1").fetchone() is None:
            ids = list(self._dim_rows)
        else:
            ids = [int(d) for (d,) in self._run("SELECT DISTINCT dim_id FROM rollup_day WHERE requests > 0")]
        for dim_id in ids:
            row = self._dim_of(dim_id)
            for name, value in zip(DIMENSIONS, row[:-1], strict=True):
                if value:
                    dims[name].add(value)
            for key, value in self._tagset_rows[int(row[-1])].items():
                tags.setdefault(key, set()).add(value)
        return Vocabulary({k: frozenset(v) for k, v in dims.items()}, {k: frozenset(v) for k, v in tags.items()})

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
                for p, m, n, u, a, b in self._run(sql)]

    def unpriced(self) -> list[UnpricedUse]:
        # Only the hours the rollups say hold unpriced calls are scanned.
        lo, hi = self._one("SELECT MIN(bucket), MAX(bucket) FROM rollup_hour WHERE unpriced_requests > 0")
        if lo is None:
            return []
        sums = ", ".join(f"SUM(e.{b})" for b in TOKEN_BUCKETS)
        modifiers = "e.service_tier, e.speed, e.inference_geo, p.note"
        sql = (f"SELECT d.provider, d.model, {modifiers}, COUNT(*), MIN(e.ts), MAX(e.ts), {sums} "
               "FROM events e JOIN dims d ON d.id = e.dim_id LEFT JOIN prices p ON p.id = e.price_id "
               "WHERE e.ts >= ? AND e.ts < ? AND e.unpriced_requests > 0 "
               f"GROUP BY d.provider, d.model, {modifiers}")
        found = [UnpricedUse(provider, model, tier, speed, geo, note, int(n), dict(zip(TOKEN_BUCKETS, map(int, sums),
                                                                                        strict=True)),
                             from_us(first), from_us(last))
                 for provider, model, tier, speed, geo, note, n, first, last, *sums
                 in self._run(sql, (int(lo), int(hi) + HOUR_US))]
        return sorted(found, key=lambda u: (u.provider, u.model, -u.requests, u.reason or ""))

    # -- price overrides ------------------------------------------------------------------

    def add_price_override(self, override: PriceOverride) -> int:
        rates = None if override.rates is None else json.dumps({k: str(v) for k, v in override.rates.items()})
        with self._transaction():
            return self._insert_id(
                "INSERT INTO price_overrides (model, provider, rates, multiplier, valid_from, valid_until, scope, "
                "note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (override.model, override.provider, rates,
                 None if override.multiplier is None else str(override.multiplier),
                 override.valid_from.isoformat() if override.valid_from else None,
                 override.valid_until.isoformat() if override.valid_until else None,
                 json.dumps([str(s) for s in override.scope]), override.note, int(time.time())))

    def price_overrides(self) -> list[PriceOverride]:
        from spendtag.pricing import PriceOverride  # the price book is for recording, not reports

        rows = self._run(
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
        with self._transaction():
            cursor = self._run("UPDATE price_overrides SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                               (int(time.time()), override_id))
            return cursor.rowcount > 0

    # -- attribution after the fact -------------------------------------------------------

    def retag(self, filters: Filters, change: TagChange, what: str) -> int:
        """Move the events that pass ``filters`` to the tags ``change`` gives their dims row.

        Only dims rows that have events in the filters' sessions and time range (the rollups
        say which) are offered to ``change``, so no dims row is made for nothing; their events
        move in a few scans of that range rather than one scan of the ledger per dims row.
        """
        self._load_dims()
        where, args = self._event_conditions(filters)
        if where is None:
            return 0
        allowed = self._allowed_dims(filters)
        moved = 0
        with self._transaction():
            present, span = self._dims_with_events(filters)
            remap: dict[int, int] = {}
            for dim_id in sorted(present if allowed is None else present & allowed):
                row = self._dim_of(dim_id)
                tags = self._tagset_rows[int(row[-1])]
                new_tags = change(self._dim_dict(dim_id), tags)
                if new_tags is None or dict(new_tags) == tags:
                    continue
                new_id = self._dim_row(row[:-1], check_tags(dict(new_tags)))
                if new_id != dim_id:
                    remap[dim_id] = new_id
            if remap:
                if span is not None:
                    where += " AND ts >= ? AND ts < ?"
                    args = [*args, *span]
                pairs = sorted(remap.items())
                for i in range(0, len(pairs), _REMAP_CHUNK):
                    part = pairs[i:i + _REMAP_CHUNK]
                    in_sql, in_args = self._in("dim_id", [old for old, _ in part])
                    cursor = self._run(
                        f"UPDATE events SET dim_id = CASE dim_id {' '.join('WHEN ? THEN ?' for _ in part)} END "
                        f"WHERE {in_sql} AND {where}", [*(v for pair in part for v in pair), *in_args, *args])
                    moved += cursor.rowcount
                if moved:
                    rebuild = filters
                    if span is not None:   # the moved events all lie in the sessions' hours
                        lo = max(span[0], to_us(filters.since)) if filters.since else span[0]
                        hi = min(span[1], to_us(filters.until)) if filters.until else span[1]
                        rebuild = Filters(since=from_us(lo), until=from_us(hi))
                    self._rebuild_rollups(sorted({*remap, *remap.values()}), rebuild)
            self._run("INSERT INTO retag_log (at, what, events) VALUES (?, ?, ?)", (int(time.time()), what, moved))
        self._dims.clear()   # write-side cache keys may now point at rows whose events moved; ids stay valid
        return moved

    def _dims_with_events(self, filters: Filters) -> tuple[set[int], tuple[int, int] | None]:
        """The dims ids with events in the filters' time range and sessions, and the sessions' span in µs."""
        conditions, args = [], []
        if filters.since:
            since = to_us(filters.since)
            conditions.append("bucket >= ?")
            args.append(since - since % HOUR_US)
        if filters.until:
            conditions.append("bucket < ?")
            args.append(to_us(filters.until))
        sessions = filters.dims.get("session")
        if sessions is None:
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            return {int(d) for (d,) in self._run(f"SELECT DISTINCT dim_id FROM rollup_hour{where}", args)}, None
        session_sql, session_args = self._in("session", sessions)
        rows = self._run(f"SELECT dim_id, MIN(bucket), MAX(bucket) FROM rollup_session "
                         f"WHERE {' AND '.join([session_sql, *conditions])} GROUP BY dim_id",
                         [*session_args, *args]).fetchall()
        if not rows:
            return set(), None
        return {int(d) for d, _, _ in rows}, (min(int(lo) for _, lo, _ in rows),
                                              max(int(hi) for _, _, hi in rows) + HOUR_US)

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
            session_sql, session_args = self._in("session", sessions)
            where.append(session_sql)
            args.extend(session_args)
        return " AND ".join(where), args

    def _rebuild_rollups(self, dim_ids: list[int], filters: Filters) -> None:
        """Recompute every rollup row of these dims rows over whole UTC days around the filter's range.

        The range is the span of all their events in the filter's range (those moved away from
        some of them are now in others'), taken once for all, so that every piece of ``dim_ids``
        is rebuilt over it: a dims row left without events must lose its old rollups too.
        """
        time_where, time_args = self._time_conditions(filters)
        lo = hi = None
        for part in self._chunks(dim_ids):
            dims_sql, dims_args = self._in("dim_id", part)
            first, last = self._one(f"SELECT MIN(ts), MAX(ts) FROM events WHERE {dims_sql} AND "
                                    f"{' AND '.join(time_where)}", [*dims_args, *time_args])
            if first is not None:
                lo = int(first) if lo is None else min(lo, int(first))
                hi = int(last) + 1 if hi is None else max(hi, int(last) + 1)
        if lo is None or hi is None:
            return   # no events in range: none moved, so no rollup changed
        if filters.since:
            lo = max(lo, to_us(filters.since))
        if filters.until:
            hi = min(hi, to_us(filters.until))
        self._rebuild_days(dim_ids, lo, hi)

    def _rebuild_days(self, dim_ids: Sequence[int], lo: int, hi: int) -> None:
        """Recompute every rollup row of these dims rows over the whole UTC days from ``lo`` to ``hi`` (µs)."""
        lo -= lo % DAY_US
        hi += (-hi) % DAY_US
        for part in self._chunks(dim_ids):
            dims_sql, dims_args = self._in("dim_id", part)
            for table, width, session in (("rollup_hour", HOUR_US, ""), ("rollup_day", DAY_US, ""),
                                          ("rollup_session", HOUR_US, "session, ")):
                bucket, group = self._bucket_sql(width)
                self._run(f"DELETE FROM {table} WHERE {dims_sql} AND bucket >= ? AND bucket < ?",
                          [*dims_args, lo, hi])
                self._run(
                    f"INSERT INTO {table} ({session}bucket, dim_id, {ROLLUP_COLS}) SELECT {session}{bucket}, "
                    f"dim_id, {RAW_SUM_SQL} FROM events WHERE {dims_sql} AND ts >= ? AND ts < ? "
                    f"GROUP BY {session}{group}, dim_id", [*dims_args, lo, hi])

    # -- removing the demo's sample calls -------------------------------------------------

    def remove_demo_events(self, *, dry_run: bool = False) -> int:
        """Delete the calls ``spendtag demo`` recorded, their cost revisions and their rollup sums.

        Only events whose dims row has source ``demo`` *and* whose id starts with ``demo:``
        (the demo's own ids) go; the rollups of those dims rows are summed again from what is
        left over the days the removed calls spanned, so a call someone else recorded with
        source=demo stays counted. Dims rows stay (ids are cached by running processes and must
        never be reused). Other writers wait until it is done (PostgreSQL: a lock on events;
        SQLite: the write transaction), so no call lands between the delete and the re-summing.
        ``dry_run``: only count them.
        """
        removed = 0
        with self._transaction():
            if not dry_run:
                self._lock_table("events")
            dim_ids = [int(d) for (d,) in self._run("SELECT id FROM dims WHERE source = ? ORDER BY id",
                                                     (DEMO_SOURCE,))]
            lo: int | None = None
            hi: int | None = None
            for part in self._chunks(dim_ids):
                dims_sql, dims_args = self._in("dim_id", part)
                first_day, last_day = self._one(f"SELECT MIN(bucket), MAX(bucket) FROM rollup_day WHERE {dims_sql}",
                                                dims_args)
                if first_day is None:
                    continue
                # The days the rollups place these dims rows in bound the scan (events are keyed by time).
                where = f"ts >= ? AND ts < ? AND {dims_sql} AND substr(event_id, 1, ?) = ?"
                args = [int(first_day), int(last_day) + DAY_US, *dims_args, len(DEMO_ID_PREFIX), DEMO_ID_PREFIX]
                n, first, last = self._one(f"SELECT COUNT(*), MIN(ts), MAX(ts) FROM events WHERE {where}", args)
                if not n or dry_run:
                    removed += int(n)
                    continue
                lo = int(first) if lo is None else min(lo, int(first))
                hi = int(last) + 1 if hi is None else max(hi, int(last) + 1)
                self._run(f"DELETE FROM cost_revisions WHERE event_id IN (SELECT event_id FROM events WHERE {where})",
                          args)
                removed += self._run(f"DELETE FROM events WHERE {where}", args).rowcount
            if lo is not None and hi is not None:
                self._rebuild_days(dim_ids, lo, hi)
                self._run("INSERT INTO retag_log (at, what, events) VALUES (?, ?, ?)",
                          (int(time.time()), f"removed the demo's sample calls (source={DEMO_SOURCE})", removed))
        return removed

    # -- cost revisions -------------------------------------------------------------------

    def revise(self, priced: Iterable[PricedEvent], reason: str) -> int:
        """Give recorded events new costs; keep each one's previous cost as a revision."""
        wanted = {p.event.event_id: p for p in priced}
        if not wanted:
            return 0
        now = int(time.time() * 1_000_000)
        cost_cols = ("unpriced_requests", *_COST_COLUMNS, "cost")
        changed = 0
        with self._transaction():
            dims: set[int] = set()
            lo: int | None = None
            hi: int | None = None
            for part in self._chunks(list(wanted)):
                ids_sql, ids_args = self._in("event_id", part)
                # Locked in id order (where rows lock), so two revisions of the same events take
                # turns and number in sequence.
                rows = self._run(
                    f"SELECT event_id, ts, dim_id, price_id, {', '.join(EVENT_SUMS)} FROM events "
                    f"WHERE {ids_sql} ORDER BY event_id{self._FOR_UPDATE}", ids_args).fetchall()
                for event_id, ts, dim_id, price_id, *sums in rows:
                    new = wanted[event_id].cost
                    current = dict(zip(EVENT_SUMS, sums, strict=True))
                    values = {"unpriced_requests": 0 if new.priced else 1, "cost": new.total,
                              **{f"cost_{c}": new.components.get(c, 0) for c in COST_COMPONENTS}}
                    new_price = self._price_id(new.price)
                    if all(current[c] == values[c] for c in cost_cols) and new_price == price_id:
                        continue
                    revision = self._one("SELECT COALESCE(MAX(revision), 0) + 1 FROM cost_revisions "
                                         "WHERE event_id = ?", (event_id,))[0]
                    self._run(
                        f"INSERT INTO cost_revisions (event_id, revision, price_id, {', '.join(EVENT_SUMS)}, reason, "
                        f"revised_at) VALUES ({', '.join('?' * (len(EVENT_SUMS) + 5))})",
                        (event_id, revision, price_id, *sums, reason, now))
                    self._run(
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

    def _apply_revised(self, rows: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """Apply revised copies (import rows, IMPORT_COLUMNS order) in the current transaction: (inserted, updated).

        A copy replaces the recorded event when it has more billed tokens, or as many and a
        later time: the order in which a streamed call's copies are chosen (the largest, the
        later on ties), so the ledger ends with the copy one read of the finished log gives,
        whichever copies came first and however often. The previous usage and cost are kept in
        ``cost_revisions`` when they change; an id not recorded yet is inserted. The rollups
        of the days the events left or joined are rebuilt from the events.
        """
        inserted = updated = 0
        dims: set[int] = set()
        times: list[int] = []
        select = (f"SELECT ts, dim_id, price_id, {', '.join(EVENT_SUMS)} FROM events WHERE event_id = ?"
                  f"{self._FOR_UPDATE}")
        now = int(time.time() * 1_000_000)
        largest: dict[str, tuple[Any, ...]] = {}     # a batch with several copies of an id: the largest
        for row in rows:
            have = largest.get(row[3])
            if have is None or _copy_order(row) > _copy_order(have):
                largest[row[3]] = row
        for row in largest.values():
            dim_id, price_id, event_id, ts = row[1:5]
            sums = tuple(row[_IMPORT_SUMS:])
            found = self._run(select, (event_id,)).fetchone()
            if found is None:
                self._run(_INSERT_ONE, import_to_insert(row))
                inserted += 1
            else:
                old_ts, old_dim, old_price, *old = found
                if (sum(sums[i] for i in _BILLED), ts) <= (sum(old[i] for i in _BILLED), old_ts):
                    continue
                if tuple(old) != sums or old_price != price_id:
                    revision = self._one("SELECT COALESCE(MAX(revision), 0) + 1 FROM cost_revisions "
                                         "WHERE event_id = ?", (event_id,))[0]
                    self._run(f"INSERT INTO cost_revisions (event_id, revision, price_id, {', '.join(EVENT_SUMS)}, "
                              f"reason, revised_at) VALUES ({', '.join('?' * (len(EVENT_SUMS) + 5))})",
                              (event_id, revision, old_price, *old, _GREW, now))
                    updated += 1
                self._run(_REVISE_ONE, (*_revised_values(row), event_id))
                dims.add(old_dim)
                times.append(old_ts)
            dims.add(dim_id)
            times.append(ts)
        if dims:
            # Over the days the events left too (which may hold none of these dims' events now).
            self._rebuild_days(sorted(dims), min(times), max(times) + 1)
        return inserted, updated

    def revisions(self, event_id: str) -> list[PricedEvent]:
        """The costs an event had before its current one, oldest first."""
        current = self.get_event(event_id)
        if current is None:
            return []
        return [PricedEvent(current.event, r.cost) for r in self.cost_revisions(event_id)]

    def cost_revisions(self, event_id: str) -> list[CostRevision]:
        """The costs an event had before its current one, oldest first, with why and when each was replaced."""
        out = []
        for row in self._run(f"SELECT revision, price_id, reason, revised_at, {', '.join(EVENT_SUMS)} "
                             "FROM cost_revisions WHERE event_id = ? ORDER BY revision", (event_id,)):
            values = dict(zip(EVENT_SUMS, row[4:], strict=True))
            components = {c: values[f"cost_{c}"] for c in COST_COMPONENTS if values[f"cost_{c}"]}
            cost = Cost(components, values["cost"], self._price(row[1]), not values["unpriced_requests"])
            out.append(CostRevision(int(row[0]), cost, row[2], from_us(int(row[3]))))
        return out


def _cost_bounds(where: list[str], args: list[Any], min_cost: int | None, max_cost: int | None) -> None:
    """Add the conditions for an event's cost within [min_cost, max_cost] (pico-USD, either may be None)."""
    if min_cost is not None:
        where.append("cost >= ?")
        args.append(min_cost)
    if max_cost is not None:
        where.append("cost <= ?")
        args.append(max_cost)
