"""Moving a whole ledger between stores (SQLite to PostgreSQL and back), without loss.

* Events go through ``Store.record`` on the target: it is idempotent on ``event_id`` and
  takes each store's bulk path, and the target builds its own ``dims``, ``prices`` and
  rollup rows (ids differ between stores; the content does not). Each event keeps its
  current cost, price, tags and usage; ``recorded_at`` becomes the time of the copy.
* Every other table is copied row by row: a table with a key (``budgets``, ``alerts``,
  ``virtual_keys``, ``issued_invoices``, ``credits``, ``session_titles``, ...) with ``ON CONFLICT DO NOTHING``; a table
  without one (deliveries, provider report rows, the retag log, price overrides) by
  adding the rows the target lacks, compared as whole rows. Earlier costs
  (``cost_revisions``) get their price row found or made on the target.
* Budget holds and reservations are not copied: they are the in-flight estimates of
  running proxies, stale within minutes.

Re-running a copy changes nothing. At the end both sides are compared: event counts,
exact totals of every summed field (from the rollups and straight from the events) and
the row count of every copied table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from spendtag.errors import StoreError
from spendtag.ledger.query import TOTAL_FIELDS, Filters, Totals
from spendtag.ledger.store import Store

# (table, how rows are matched): "key" tables have a primary or unique key and are inserted
# with ON CONFLICT DO NOTHING; "rows" tables have none and are compared as whole rows ("id"
# columns left out: the target numbers its own when the source's id is taken).
COPIED_TABLES: tuple[tuple[str, str], ...] = (
    ("budgets", "key"),
    ("alerts", "key"),
    ("alert_deliveries", "rows"),
    ("import_files", "key"),
    ("retag_log", "rows"),
    ("price_overrides", "rows"),
    ("virtual_keys", "key"),
    ("access_tokens", "key"),
    ("issued_invoices", "key"),
    ("credits", "key"),
    ("session_titles", "key"),
    ("billing_settings", "rows"),
    ("invoice_status", "rows"),
    ("provider_usage", "rows"),
    ("provider_costs", "rows"),
    ("provider_pull_days", "key"),
    ("provider_pulls", "key"),
    ("cost_revisions", "key"),
    ("audit_log", "key"),
    ("attribution_rules", "key"),
)
# Tables not copied row by row: events and what record() rebuilds from them, the migration
# log each store keeps for itself, and proxies' in-flight holds and reservations (they expire).
NOT_COPIED: frozenset[str] = frozenset({
    "events", "dims", "tagsets", "prices", "rollup_hour", "rollup_day", "rollup_session",
    "schema_migrations", "budget_holds", "budget_reservations",
})

Progress = Callable[[str, int, int], None]   # (stage, done, total)
_BATCH = 5_000


@dataclass
class CopyResult:
    events: int = 0                  # events in the source
    inserted: int = 0                # events new to the target
    rows: dict[str, int] = field(default_factory=dict)    # table -> rows added to the target
    differences: list[str] = field(default_factory=list)  # what does not match after the copy

    @property
    def ok(self) -> bool:
        return not self.differences


class _Side:
    """Plain SQL on one store's own connection (both stores keep ``_conn`` and ``_transaction``)."""

    def __init__(self, store: Store) -> None:
        from spendtag.ledger.sqlite import SQLiteStore

        self.store: Any = store
        if isinstance(store, SQLiteStore):
            self.mark, self.postgres = "?", False
        elif type(store).__name__ == "PostgresStore":
            self.mark, self.postgres = "%s", True
        else:
            raise StoreError(f"cannot copy a {type(store).__name__} ledger (SQLite and PostgreSQL only)")

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.store._conn.execute(sql, args)]

    def columns(self, table: str) -> list[str]:
        cursor = self.store._conn.execute(f"SELECT * FROM {table} LIMIT 0")
        return [d[0] for d in cursor.description]

    def tables(self) -> set[str]:
        if self.postgres:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        return {r[0] for r in self.rows(sql)}

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, ignore: bool) -> None:
        if not rows:
            return
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([self.mark] * len(columns))})"
               + (" ON CONFLICT DO NOTHING" if ignore else ""))
        with self.store._transaction() as conn:
            if self.postgres:
                with conn.cursor() as cur:
                    cur.executemany(sql, rows)
                    if "id" in columns:
                        # Rows came in with their ids: move the identity sequence past them.
                        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"GREATEST((SELECT MAX(id) FROM {table}), 1))")
            else:
                conn.executemany(sql, rows)

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT COUNT(*) FROM {table}")[0][0])


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


def copy_ledger(source: Store, target: Store, *, progress: Progress | None = None) -> CopyResult:
    """Copy every event and table of ``source`` into ``target``; compare the two at the end."""
    src, dst = _Side(source), _Side(target)
    tell = progress or (lambda stage, done, total: None)
    result = CopyResult(events=int(src.rows("SELECT COUNT(*) FROM events")[0][0]))
    missing = src.tables() - NOT_COPIED - {t for t, _ in COPIED_TABLES}
    if missing:
        raise StoreError(f"the copy does not know the table(s) {', '.join(sorted(missing))}; update spendtag")

    done = 0
    tell("events", 0, result.events)
    for batch in _batches(iter(source.events(Filters())), _BATCH):
        result.inserted += target.record(batch).inserted
        done += len(batch)
        tell("events", done, result.events)

    for i, (table, how) in enumerate(COPIED_TABLES):
        tell(table, i, len(COPIED_TABLES))
        result.rows[table] = _copy_table(src, dst, table, how)
    tell("verify", 0, 1)
    result.differences = compare(source, target)
    tell("verify", 1, 1)
    return result


def _copy_table(src: _Side, dst: _Side, table: str, how: str) -> int:
    columns = src.columns(table)
    rows = src.rows(f"SELECT {', '.join(columns)} FROM {table}")
    if table == "cost_revisions":
        rows = _remap_prices(src, dst, columns, rows)
    if how == "key":
        before = dst.count(table)
        dst.insert(table, columns, rows, ignore=True)
        return dst.count(table) - before
    # No key: add the rows the target lacks (as many times as the source has more of them).
    plain = [c for c in columns if c != "id"]
    pick = [columns.index(c) for c in plain]
    have = Counter(dst.rows(f"SELECT {', '.join(plain)} FROM {table}"))
    taken_ids = {r[0] for r in dst.rows(f"SELECT id FROM {table}")} if "id" in columns else set()
    with_id: list[tuple[Any, ...]] = []
    without_id: list[tuple[Any, ...]] = []
    for row in rows:
        key = tuple(row[i] for i in pick)
        if have[key] > 0:
            have[key] -= 1
            continue
        if "id" in columns and row[columns.index("id")] not in taken_ids:
            with_id.append(row)
        else:
            without_id.append(key)
    dst.insert(table, columns, with_id, ignore=False)
    dst.insert(table, plain, without_id, ignore=False)
    return len(with_id) + len(without_id)


def _remap_prices(src: _Side, dst: _Side, columns: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Revision rows with ``price_id`` pointing at the same price on the target."""
    at = columns.index("price_id")
    ids: dict[int, int | None] = {}
    out = []
    with dst.store._transaction():
        for row in rows:
            old = row[at]
            if old is not None and old not in ids:
                ids[old] = dst.store._price_id(src.store._price(old))
            out.append((*row[:at], None if old is None else ids[old], *row[at + 1:]))
    return out


def compare(source: Store, target: Store) -> list[str]:
    """What differs between two ledgers: event counts, exact totals, and copied tables' row counts."""
    src, dst = _Side(source), _Side(target)
    out = []
    raw = "SELECT COUNT(*), COALESCE(SUM(cost), 0) FROM events"
    for label, a, b in (
        ("events (count, cost)", tuple(int(v) for v in src.rows(raw)[0]), tuple(int(v) for v in dst.rows(raw)[0])),
        ("requests", source.count(), target.count()),
    ):
        if a != b:
            out.append(f"{label}: {a} in the source, {b} in the target")
    totals = [_totals(s) for s in (source, target)]
    for name, a, b in zip(TOTAL_FIELDS, totals[0].values, totals[1].values, strict=True):
        if a != b:
            out.append(f"total {name}: {a} in the source, {b} in the target")
    for table, _ in COPIED_TABLES:
        a, b = src.count(table), dst.count(table)
        if a != b:
            out.append(f"{table}: {a} rows in the source, {b} in the target")
    return out


def _totals(store: Store) -> Totals:
    total = Totals()
    for group in store.aggregate(Filters()):
        total.merge(group.totals)
    return total
