"""The PostgreSQL store's smaller tables: budgets, alerts, imports, keys, holds, invoices, provider reports.

Same behaviour as the SQLite store and its mixins (``sqlite.py``, ``invoice_tables.py``,
``provider_tables.py``). Where SQLite is safe because it has one writer at a time, these
take a lock for the length of their transaction:

* ``issue_invoice`` locks ``issued_invoices`` against other issuers (readers carry on), so
  the next number is read and taken by one transaction at a time: no gap, no duplicate.
* ``add_key`` and ``add_access_token`` lock their table the same way, so two processes
  cannot both add an active key (or token) with one name.
* ``save_holds`` takes an advisory lock per holder and upserts, so replicas writing their
  own holds never block each other and a reader sees one holder's rows all old or all new.
* ``add_alert`` relies on the ``alert_id`` primary key: the second replica's insert waits
  for the first to commit, then does nothing, so an alert fires once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import _COLUMNS as _TOKEN_COLUMNS
from spendtag.ledger.access_tables import AccessToken, duplicate_name, token_from_row
from spendtag.ledger.invoice_tables import IssuedInvoice, Render
from spendtag.ledger.provider_tables import _COST_COLUMNS, _USAGE_COLUMNS, _USAGE_DIMS, _row, _value
from spendtag.ledger.store import AlertRecord, Delivery, ImportState, VirtualKey
from spendtag.periods import from_us, to_us
from spendtag.providers_api.model import CostRow, DayStatus, Fetched, PullLog, UsageRow
from spendtag.tags import canonical as canonical_tags
from spendtag.usage import new_event_id

if TYPE_CHECKING:
    from psycopg import Connection

_KEY_COLUMNS = "key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at"
_HOLDS_LOCK = 0x486F6C6473   # "Holds": namespace of the per-holder advisory locks


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _range_sql(since: date | None, until: date | None) -> tuple[str, list[Any]]:
    sql, args = "", []
    if since is not None:
        sql += " AND day >= %s"
        args.append(since.isoformat())
    if until is not None:
        sql += " AND day < %s"
        args.append(until.isoformat())
    return sql, args


def _key(row: Sequence[Any]) -> VirtualKey:
    key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at = row
    return VirtualKey(key_id, name, key_hash, prefix, json.loads(tags), budget, from_us(created_at),
                      from_us(revoked_at) if revoked_at is not None else None)


class PostgresTables:
    """Mixin for :class:`~spendtag.ledger.postgres.PostgresStore`: needs ``_conn`` and ``_transaction()``."""

    _conn: Connection[Any]

    if TYPE_CHECKING:
        def _transaction(self) -> AbstractContextManager[Connection[Any]]: ...

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self._conn.execute(sql, args)

    # -- budgets and alerts ---------------------------------------------------------------

    def save_budget(self, name: str, definition: Mapping[str, Any]) -> None:
        now = int(time.time())
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO budgets (name, definition, created_at, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, updated_at = EXCLUDED.updated_at",
                (name, json.dumps(dict(definition), sort_keys=True), now, now))

    def budgets(self) -> dict[str, dict[str, Any]]:
        return {name: json.loads(text)
                for name, text in self._rows("SELECT name, definition FROM budgets ORDER BY name")}

    def remove_budget(self, name: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM budgets WHERE name = %s", (name,)).rowcount > 0

    def add_alert(self, alert: AlertRecord) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO alerts (alert_id, kind, budget, period, threshold, spent, limit_amount, fired_at, "
                f"payload) VALUES ({_marks(9)}) ON CONFLICT (alert_id) DO NOTHING",
                (alert.alert_id, alert.kind, alert.budget, alert.period, alert.threshold, alert.spent, alert.limit,
                 to_us(alert.fired_at), json.dumps(dict(alert.payload), sort_keys=True)))
            return cursor.rowcount > 0

    def alerts(self, *, since: datetime | None = None, limit: int | None = None) -> list[AlertRecord]:
        sql = ("SELECT alert_id, kind, budget, period, threshold, spent, limit_amount, fired_at, payload "
               "FROM alerts WHERE fired_at >= %s ORDER BY fired_at DESC, alert_id")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AlertRecord(a, k, b, p, t, s, lim, from_us(f), json.loads(pl)) for a, k, b, p, t, s, lim, f, pl in
                self._rows(sql, (to_us(since) if since else 0,))]

    def add_delivery(self, delivery: Delivery) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO alert_deliveries (alert_id, channel, ok, attempts, error, at) "
                         f"VALUES ({_marks(6)})", (delivery.alert_id, delivery.channel, int(delivery.ok),
                                                  delivery.attempts, delivery.error, to_us(delivery.at)))

    def deliveries(self, alert_id: str) -> list[Delivery]:
        return [Delivery(a, c, bool(ok), n, e, from_us(at)) for a, c, ok, n, e, at in self._rows(
            "SELECT alert_id, channel, ok, attempts, error, at FROM alert_deliveries WHERE alert_id = %s "
            "ORDER BY at, channel", (alert_id,))]

    # -- agent log imports ----------------------------------------------------------------

    def import_state(self, path: str) -> ImportState | None:
        for path_, agent, offset, size, mtime_ns, head_hash, state in self._rows(
                "SELECT path, agent, offset_bytes, size, mtime_ns, head_hash, state FROM import_files "
                "WHERE path = %s", (path,)):
            return ImportState(path_, agent, offset, size, mtime_ns, head_hash, json.loads(state))
        return None

    def import_summaries(self) -> dict[str, tuple[int, int, int]]:
        return {path: (size, mtime_ns, offset) for path, size, mtime_ns, offset in self._rows(
            "SELECT path, size, mtime_ns, offset_bytes FROM import_files")}

    def save_import_state(self, state: ImportState) -> None:
        self.save_import_states([state])

    def save_import_states(self, states: Sequence[ImportState]) -> None:
        now = int(time.time())
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO import_files (path, agent, offset_bytes, size, mtime_ns, head_hash, state, updated_at) "
                f"VALUES ({_marks(8)}) ON CONFLICT (path) DO UPDATE SET agent = EXCLUDED.agent, "
                "offset_bytes = EXCLUDED.offset_bytes, size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns, "
                "head_hash = EXCLUDED.head_hash, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
                [(st.path, st.agent, st.offset, st.size, st.mtime_ns, st.head_hash,
                  json.dumps(dict(st.state), sort_keys=True), now) for st in states])

    # -- virtual keys and budget holds (proxy) --------------------------------------------

    def add_key(self, key: VirtualKey) -> None:
        with self._transaction() as conn:
            conn.execute("LOCK TABLE virtual_keys IN SHARE ROW EXCLUSIVE MODE")
            if conn.execute("SELECT 1 FROM virtual_keys WHERE name = %s AND revoked_at IS NULL",
                            (key.name,)).fetchone():
                raise StoreError(f"an active key named {key.name!r} exists; revoke it first "
                                 f"(`spendtag keys revoke {key.name}`) or pick another name")
            conn.execute(
                f"INSERT INTO virtual_keys ({_KEY_COLUMNS}) VALUES ({_marks(8)})",
                (key.key_id, key.name, key.key_hash, key.prefix, canonical_tags(key.tags), key.budget,
                 to_us(key.created_at or datetime.now(UTC)), to_us(key.revoked_at) if key.revoked_at else None))

    def key_by_hash(self, key_hash: str) -> VirtualKey | None:
        for row in self._rows(f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE key_hash = %s", (key_hash,)):
            return _key(row)
        return None

    def keys(self, *, include_revoked: bool = False) -> list[VirtualKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [_key(r) for r in
                self._rows(f"SELECT {_KEY_COLUMNS} FROM virtual_keys{where} ORDER BY created_at, key_id")]

    def revoke_key(self, id_or_name: str, at: datetime) -> VirtualKey | None:
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE (key_id = %s OR name = %s) AND revoked_at IS NULL "
                "ORDER BY key_id = %s DESC LIMIT 1 FOR UPDATE", (id_or_name, id_or_name, id_or_name)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE virtual_keys SET revoked_at = %s WHERE key_id = %s", (to_us(at), row[0]))
        return _key((*row[:-1], to_us(at)))

    def save_holds(self, holder: str, holds: Mapping[str, int], at: datetime) -> None:
        kept = {b: int(a) for b, a in holds.items() if a}
        with self._transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_HOLDS_LOCK & 0x7FFFFFFF, holder))
            cur.execute("DELETE FROM budget_holds WHERE holder = %s AND NOT (budget = ANY(%s))", (holder, list(kept)))
            cur.executemany(
                "INSERT INTO budget_holds (holder, budget, amount, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (holder, budget) DO UPDATE SET amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at",
                [(holder, b, a, to_us(at)) for b, a in kept.items()])

    def holds(self, since: datetime, *, exclude: str | None = None) -> dict[str, int]:
        return {b: int(a) for b, a in self._rows(
            "SELECT budget, SUM(amount) FROM budget_holds WHERE updated_at >= %s AND holder <> %s GROUP BY budget",
            (to_us(since), exclude or ""))}

    # -- dashboard access tokens ----------------------------------------------------------

    def add_access_token(self, token: AccessToken) -> None:
        with self._transaction() as conn:
            conn.execute("LOCK TABLE access_tokens IN SHARE ROW EXCLUSIVE MODE")
            if conn.execute("SELECT 1 FROM access_tokens WHERE name = %s AND revoked_at IS NULL",
                            (token.name,)).fetchone():
                raise duplicate_name(token.name)
            conn.execute(f"INSERT INTO access_tokens ({_TOKEN_COLUMNS}) VALUES ({_marks(9)})",
                         (token.token_id, token.name, token.token_hash, token.prefix, token.role, token.scope_key,
                          token.scope_value, to_us(token.created_at or datetime.now().astimezone()),
                          None if token.revoked_at is None else to_us(token.revoked_at)))

    def access_token_by_hash(self, token_hash: str) -> AccessToken | None:
        for row in self._rows(f"SELECT {_TOKEN_COLUMNS} FROM access_tokens WHERE token_hash = %s", (token_hash,)):
            return token_from_row(row)
        return None

    def access_tokens(self, *, include_revoked: bool = False) -> list[AccessToken]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [token_from_row(r) for r in self._rows(
            f"SELECT {_TOKEN_COLUMNS} FROM access_tokens{where} ORDER BY created_at, token_id")]

    def revoke_access_token(self, id_or_name: str, at: datetime) -> AccessToken | None:
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM access_tokens WHERE (token_id = %s OR name = %s) "
                "AND revoked_at IS NULL ORDER BY token_id = %s DESC LIMIT 1 FOR UPDATE",
                (id_or_name, id_or_name, id_or_name)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE access_tokens SET revoked_at = %s WHERE token_id = %s", (to_us(at), row[0]))
        return token_from_row((*row[:-1], to_us(at)))

    # -- issued invoices ------------------------------------------------------------------

    def issue_invoice(self, prefix: str, year: int, client: str, period: str, issued_at: str,
                      render: Render) -> IssuedInvoice:
        """Take the next number for ``year``, render the invoice with it, and store it, in one transaction."""
        with self._transaction() as conn:
            conn.execute("LOCK TABLE issued_invoices IN SHARE ROW EXCLUSIVE MODE")
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued_invoices WHERE year = %s",
                               (year,)).fetchone()
            seq = int(row[0]) if row else 1
            number = f"{prefix}-{year}-{seq:04d}"
            document, text, total = render(number)
            conn.execute(f"INSERT INTO issued_invoices VALUES ({_marks(10)})",
                         (number, client, period, issued_at, year, seq, total, document, text, int(time.time())))
        return IssuedInvoice(number, client, period, issued_at, total, document, text)

    def issued_invoice(self, number: str) -> IssuedInvoice | None:
        for row in self._rows("SELECT number, client, period, issued_at, total_due, document, rendered_text "
                              "FROM issued_invoices WHERE number = %s", (number.strip(),)):
            return IssuedInvoice(*row)
        return None

    def issued_invoices(self, client: str | None = None) -> list[IssuedInvoice]:
        sql = ("SELECT number, client, period, issued_at, total_due, '', '' FROM issued_invoices "
               + ("WHERE client = %s " if client is not None else "") + "ORDER BY year, seq")
        return [IssuedInvoice(*r) for r in self._rows(sql, (client,) if client is not None else ())]

    def issued_numbers(self, client: str, period: str) -> list[str]:
        return [r[0] for r in self._rows(
            "SELECT number FROM issued_invoices WHERE client = %s AND period = %s ORDER BY year, seq",
            (client, period))]

    # -- provider reports -----------------------------------------------------------------

    def save_provider_pull(self, provider: str, since: date, until: date, fetched: Fetched, at: datetime) -> None:
        """Replace the complete days of one report with ``fetched.rows``, log the pull; one transaction."""
        days = [d.isoformat() for d in fetched.days]
        table, columns = ("provider_usage", _USAGE_COLUMNS) if fetched.report == "usage" else (
            "provider_costs", _COST_COLUMNS)
        stamp = to_us(at)
        rows = [(*(_value(r, c) for c in columns), stamp) for r in fetched.rows]
        with self._transaction() as conn, conn.cursor() as cur:
            # Pulls of one provider take turns, so a replaced day is never half of two pulls.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"spendtag.pull.{provider}",))
            cur.execute(f"DELETE FROM {table} WHERE provider = %s AND day = ANY(%s)", (provider, days))
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}, pulled_at) VALUES ({_marks(len(columns) + 1)})", rows)
            cur.executemany(
                "INSERT INTO provider_pull_days (provider, report, day, complete, pulled_at, error) "
                "VALUES (%s, %s, %s, 1, %s, '') ON CONFLICT (provider, report, day) DO UPDATE SET "
                "complete = 1, pulled_at = EXCLUDED.pulled_at, error = ''",
                [(provider, fetched.report, d, stamp) for d in days])
            cur.executemany(
                "INSERT INTO provider_pull_days (provider, report, day, complete, pulled_at, error) "
                "VALUES (%s, %s, %s, 0, %s, %s) ON CONFLICT (provider, report, day) DO UPDATE SET "
                "error = EXCLUDED.error",
                [(provider, fetched.report, d.isoformat(), stamp, fetched.error) for d in fetched.missing])
            cur.execute(
                "INSERT INTO provider_pulls (pull_id, provider, report, since, until, at, pages, days_complete, "
                f"days_missing, error) VALUES ({_marks(10)})",
                (new_event_id(), provider, fetched.report, since.isoformat(), until.isoformat(), stamp,
                 fetched.pages, len(fetched.days), len(fetched.missing), fetched.error))

    def provider_usage(self, provider: str, since: date | None = None, until: date | None = None) -> list[UsageRow]:
        where, args = _range_sql(since, until)
        return [UsageRow(**_row(_USAGE_COLUMNS, r)) for r in self._rows(
            f"SELECT {', '.join(_USAGE_COLUMNS)} FROM provider_usage WHERE provider = %s{where} "
            f"ORDER BY day, {', '.join(_USAGE_DIMS)}", (provider, *args))]

    def provider_costs(self, provider: str, since: date | None = None, until: date | None = None) -> list[CostRow]:
        where, args = _range_sql(since, until)
        return [CostRow(**_row(_COST_COLUMNS, r)) for r in self._rows(
            f"SELECT {', '.join(_COST_COLUMNS)} FROM provider_costs WHERE provider = %s{where} "
            "ORDER BY day, workspace, model, description, amount", (provider, *args))]

    def provider_days(self, provider: str, since: date | None = None, until: date | None = None) -> list[DayStatus]:
        where, args = _range_sql(since, until)
        return [DayStatus(p, rep, date.fromisoformat(d), bool(c), from_us(at), err) for p, rep, d, c, at, err in
                self._rows(f"SELECT provider, report, day, complete, pulled_at, error FROM provider_pull_days "
                           f"WHERE provider = %s{where} ORDER BY day, report", (provider, *args))]

    def provider_pulls(self, provider: str | None = None, *, limit: int = 20) -> list[PullLog]:
        sql = ("SELECT pull_id, provider, report, since, until, at, pages, days_complete, days_missing, error "
               "FROM provider_pulls")
        args: list[Any] = []
        if provider:
            sql += " WHERE provider = %s"
            args.append(provider)
        return [PullLog(pid, p, rep, date.fromisoformat(s), date.fromisoformat(u), from_us(at), pages, ok, missing, err)
                for pid, p, rep, s, u, at, pages, ok, missing, err in self._rows(
                    sql + " ORDER BY at DESC, pull_id DESC LIMIT %s", (*args, limit))]
