"""The ledger's smaller tables: budgets, alerts, agent-log imports, virtual keys and budget holds.

``LedgerTables`` is a mixin for both stores, written once through the hooks of
:class:`~spendtag.ledger.dialect.Dialect`; ``save_holds`` differs by database and is
each store's own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from spendtag.errors import StoreError
from spendtag.ledger.plan import HOUR_US
from spendtag.ledger.session_tables import SessionTables
from spendtag.ledger.store import AgentImports, AlertRecord, Delivery, ImportState, VirtualKey
from spendtag.periods import from_us, to_us
from spendtag.tags import canonical as canonical_tags

_KEY_COLUMNS = "key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at"
_ALERT_COLUMNS = ("alert_id", "kind", "budget", "period", "threshold", "spent", "limit_amount", "fired_at", "payload")


def _key(row: Sequence[Any]) -> VirtualKey:
    key_id, name, key_hash, prefix, tags, budget, created_at, revoked_at = row
    return VirtualKey(key_id, name, key_hash, prefix, json.loads(tags), budget, from_us(created_at),
                      from_us(revoked_at) if revoked_at is not None else None)


class LedgerTables(SessionTables):
    """Budgets, alerts, imports, keys and holds (a mixin for both stores)."""

    # -- budgets and alerts ---------------------------------------------------------------

    def save_budget(self, name: str, definition: Mapping[str, Any]) -> None:
        now = int(time.time())
        with self._transaction():
            self._run(
                "INSERT INTO budgets (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
                (name, json.dumps(dict(definition), sort_keys=True), now, now))

    def budgets(self) -> dict[str, dict[str, Any]]:
        rows = self._run("SELECT name, definition FROM budgets ORDER BY name")
        return {name: json.loads(text) for name, text in rows}

    def remove_budget(self, name: str) -> bool:
        with self._transaction():
            return self._run("DELETE FROM budgets WHERE name = ?", (name,)).rowcount > 0

    def add_alert(self, alert: AlertRecord) -> bool:
        # The alert_id key makes an alert fire once: a second insert (another replica's) does nothing.
        with self._transaction():
            cursor = self._run(
                self._insert_new("alerts", _ALERT_COLUMNS, conflict="alert_id"),
                (alert.alert_id, alert.kind, alert.budget, alert.period, alert.threshold, alert.spent, alert.limit,
                 to_us(alert.fired_at), json.dumps(dict(alert.payload), sort_keys=True)))
            return cursor.rowcount > 0

    def alerts(self, *, since: datetime | None = None, limit: int | None = None) -> list[AlertRecord]:
        sql = f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts WHERE fired_at >= ? ORDER BY fired_at DESC, alert_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AlertRecord(a, k, b, p, t, s, lim, from_us(f), json.loads(pl)) for a, k, b, p, t, s, lim, f, pl in
                self._run(sql, (to_us(since) if since else 0,))]

    def add_delivery(self, delivery: Delivery) -> None:
        with self._transaction():
            self._run("INSERT INTO alert_deliveries (alert_id, channel, ok, attempts, error, at) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (delivery.alert_id, delivery.channel, int(delivery.ok),
                                                    delivery.attempts, delivery.error, to_us(delivery.at)))

    def deliveries(self, alert_id: str) -> list[Delivery]:
        return [Delivery(a, c, bool(ok), n, e, from_us(at)) for a, c, ok, n, e, at in self._run(
            "SELECT alert_id, channel, ok, attempts, error, at FROM alert_deliveries WHERE alert_id = ? "
            "ORDER BY at, channel", (alert_id,))]

    # -- agent log imports ----------------------------------------------------------------

    def import_state(self, path: str) -> ImportState | None:
        row = self._run("SELECT path, agent, offset_bytes, size, mtime_ns, head_hash, state "
                        "FROM import_files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        path_, agent, offset, size, mtime_ns, head_hash, state = row
        return ImportState(path_, agent, offset, size, mtime_ns, head_hash, json.loads(state))

    def import_summaries(self) -> dict[str, tuple[int, int, int]]:
        return {path: (size, mtime_ns, offset) for path, size, mtime_ns, offset in self._run(
            "SELECT path, size, mtime_ns, offset_bytes FROM import_files")}

    def agent_imports(self, agents: Sequence[str]) -> dict[str, AgentImports]:
        found = {name: AgentImports(name) for name in agents}
        if not found:
            return found
        in_agents, args = self._in("agent", list(found))
        files = {agent: (int(n), int(at)) for agent, n, at in self._run(
            f"SELECT agent, COUNT(*), MAX(updated_at) FROM import_files WHERE {in_agents} GROUP BY agent", args)}
        in_sources, args = self._in("d.source", list(found))
        # The hourly rollups give the count and the last hour; the last call is then read within that hour.
        calls = {source: (int(n), int(hour)) for source, n, hour in self._run(
            "SELECT d.source, SUM(r.requests), MAX(r.bucket) FROM rollup_hour r JOIN dims d ON d.id = r.dim_id "
            f"WHERE {in_sources} GROUP BY d.source", args) if n}
        for name in found:
            n_files, read_at = files.get(name, (0, None))
            n_calls, hour = calls.get(name, (0, None))
            last = None
            if hour is not None:
                last = self._one("SELECT MAX(e.ts) FROM events e JOIN dims d ON d.id = e.dim_id "
                                 "WHERE e.ts >= ? AND e.ts < ? AND d.source = ?", (hour, hour + HOUR_US, name))[0]
            found[name] = AgentImports(name, n_files, None if read_at is None else datetime.fromtimestamp(read_at, UTC),
                                       n_calls, None if last is None else from_us(int(last)))
        return found

    def save_import_state(self, state: ImportState) -> None:
        self.save_import_states([state])

    def save_import_states(self, states: Sequence[ImportState]) -> None:
        """Several files' states in one transaction (one commit for a whole batch of files)."""
        with self._transaction():
            self._put_import_states(states)

    def _put_import_states(self, states: Sequence[ImportState]) -> None:
        """Save files' states inside the caller's transaction."""
        now = int(time.time())
        self._run_many(
            "INSERT INTO import_files (path, agent, offset_bytes, size, mtime_ns, head_hash, state, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET agent = excluded.agent, "
            "offset_bytes = excluded.offset_bytes, size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "head_hash = excluded.head_hash, state = excluded.state, updated_at = excluded.updated_at",
            [(st.path, st.agent, st.offset, st.size, st.mtime_ns, st.head_hash,
              json.dumps(dict(st.state), sort_keys=True) if st.state else "{}", now) for st in states])
        for st in states:   # file by file: a later file's summary replaces an earlier one's title, a prompt never does
            if st.titles:
                self._put_session_titles(st.titles)

    # -- virtual keys and budget holds (proxy) --------------------------------------------

    def add_key(self, key: VirtualKey) -> None:
        with self._transaction():
            self._lock_table("virtual_keys")
            if self._run("SELECT 1 FROM virtual_keys WHERE name = ? AND revoked_at IS NULL", (key.name,)).fetchone():
                raise StoreError(f"an active key named {key.name!r} exists; revoke it first "
                                 f"(`spendtag keys revoke {key.name}`) or pick another name")
            self._run(
                f"INSERT INTO virtual_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.key_id, key.name, key.key_hash, key.prefix, canonical_tags(key.tags), key.budget,
                 to_us(key.created_at or datetime.now(UTC)), to_us(key.revoked_at) if key.revoked_at else None))

    def key_by_hash(self, key_hash: str) -> VirtualKey | None:
        row = self._run(f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else _key(row)

    def keys(self, *, include_revoked: bool = False) -> list[VirtualKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._run(f"SELECT {_KEY_COLUMNS} FROM virtual_keys{where} ORDER BY created_at, key_id")
        return [_key(r) for r in rows]

    def revoke_key(self, id_or_name: str, at: datetime) -> VirtualKey | None:
        with self._transaction():
            row = self._run(
                f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE (key_id = ? OR name = ?) AND revoked_at IS NULL "
                f"ORDER BY key_id = ? DESC LIMIT 1{self._FOR_UPDATE}", (id_or_name, id_or_name, id_or_name)).fetchone()
            if row is None:
                return None
            self._run("UPDATE virtual_keys SET revoked_at = ? WHERE key_id = ?", (to_us(at), row[0]))
        return _key((*row[:-1], to_us(at)))

    def holds(self, since: datetime, *, exclude: str | None = None) -> dict[str, int]:
        rows = self._run(
            "SELECT budget, SUM(amount) FROM budget_holds WHERE updated_at >= ? AND holder <> ? GROUP BY budget",
            (to_us(since), exclude or ""))
        return {b: int(a) for b, a in rows}
