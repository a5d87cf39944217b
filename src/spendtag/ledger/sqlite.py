"""The embedded ledger: SQLite in WAL mode, one writer at a time, durable commits.

Layout (see migrations.py): events hold counts and pico-USD costs per call and point to a
``dims`` row (provider, model, project, agent, key, user, source, status, tag set) and a
``prices`` row (the price used). ``rollup_hour``/``rollup_day`` hold exact per-bucket
sums per dims row, maintained in the same transaction as the events they sum, so reports
over months read thousands of rows, not millions (plan.py decides which parts come from
where).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import AccessTables
from spendtag.ledger.dialect import Cursor
from spendtag.ledger.invoice_tables import InvoiceTables
from spendtag.ledger.migrations import MIGRATIONS
from spendtag.ledger.provider_tables import ProviderTables
from spendtag.ledger.query import TOTAL_FIELDS, Filters
from spendtag.ledger.reservation_tables import SQLiteReservations
from spendtag.ledger.rollup_store import EVENT_SELECT, INSERT_COLUMNS, ROLLUP_COLS, RollupStore
from spendtag.ledger.store import AlertRecord, Delivery, ImportState, VirtualKey
from spendtag.periods import from_us, to_us
from spendtag.tags import canonical as canonical_tags
from spendtag.usage import PricedEvent

_INSERT_SQL = f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
_IN_CHUNK = 900


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


def path_from_url(url: str) -> Path:
    """``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a plain path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite://"):])
    if url.startswith("sqlite:"):
        return Path(url[len("sqlite:"):])
    return Path(url).expanduser()


class SQLiteStore(RollupStore, ProviderTables, InvoiceTables, AccessTables, SQLiteReservations):
    """A :class:`~spendtag.ledger.store.Store` on one SQLite file."""

    _IN_CHUNK = _IN_CHUNK

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
        self._init_caches()
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

    def close(self) -> None:
        self._conn.close()

    # -- the dialect ----------------------------------------------------------------------

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, args)

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _insert_new(self, table: str, columns: Sequence[str], conflict: str = "") -> str:
        return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"

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

    def _record_batch(self, batch: dict[str, PricedEvent], now: int) -> int:
        with self._transaction() as conn:
            ids = list(batch)
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i:i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for (found,) in conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk):
                    del batch[found]
            rows, hours, sessions = self._event_rows(batch, now)
            conn.executemany(_INSERT_SQL, rows)
            hour_rows, day_rows, session_rows = self._rollup_rows(hours, sessions, ordered=False)
            conn.executemany(_UPSERT_HOUR, hour_rows)
            conn.executemany(_UPSERT_DAY, day_rows)
            conn.executemany(_UPSERT_SESSION, session_rows)
        return len(batch)

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
