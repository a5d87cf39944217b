"""The PostgreSQL store's locks on its smaller tables (keys, tokens, holds, invoices, provider pulls).

The tables' code is shared with the SQLite store (``ledger_tables.py``, ``invoice_tables.py``,
``access_tables.py``, ``provider_tables.py``). Where SQLite is safe because it has one writer
at a time, these take a lock for the length of their transaction (the hooks below):

* ``issue_invoice`` locks ``issued_invoices`` against other issuers (readers carry on), so
  the next number is read and taken by one transaction at a time: no gap, no duplicate.
* ``add_key`` and ``add_access_token`` lock their table the same way, so two processes
  cannot both add an active key (or token) with one name.
* ``save_holds`` takes an advisory lock per holder and upserts, so replicas writing their
  own holds never block each other and a reader sees one holder's rows all old or all new.
* ``add_alert`` relies on the ``alert_id`` primary key: the second replica's insert waits
  for the first to commit, then does nothing, so an alert fires once.
* ``revoke_key`` and ``revoke_access_token`` read the row to revoke ``FOR UPDATE``, and
  ``save_provider_pull`` takes an advisory lock per provider, so pulls of one provider take turns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from spendtag.ledger.dialect import Dialect
from spendtag.periods import to_us

_HOLDS_LOCK = 0x486F6C6473   # "Holds": namespace of the per-holder advisory locks


class PostgresTables(Dialect):
    """Mixin for :class:`~spendtag.ledger.postgres.PostgresStore`: its locks, and ``save_holds``."""

    _FOR_UPDATE = " FOR UPDATE"

    def _lock_table(self, table: str) -> None:
        # Readers carry on; other writers of the table wait for this transaction to end.
        self._run(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def _lock_name(self, name: str) -> None:
        self._run("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))

    def save_holds(self, holder: str, holds: Mapping[str, int], at: datetime) -> None:
        kept = {b: int(a) for b, a in holds.items() if a}
        with self._transaction():
            self._run("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_HOLDS_LOCK & 0x7FFFFFFF, holder))
            self._run("DELETE FROM budget_holds WHERE holder = ? AND NOT (budget = ANY(?))", (holder, list(kept)))
            self._run_many(
                "INSERT INTO budget_holds (holder, budget, amount, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (holder, budget) DO UPDATE SET amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at",
                [(holder, b, a, to_us(at)) for b, a in kept.items()])
