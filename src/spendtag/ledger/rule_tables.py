"""Attribution rules made from the dashboard (path pattern -> tags), kept in the ledger.

The config file's ``[attribution]`` table stays the main place for rules; these come after
it (see :meth:`spendtag.attribution.Rules.load`), so on the same key a ledger rule wins, as a
later line of the file would. A removed rule keeps its row, with the time it was removed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us, to_us
from spendtag.tags import canonical

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0012_attribution_rules", (
        "CREATE TABLE attribution_rules (rule_id TEXT PRIMARY KEY, pattern TEXT NOT NULL, tags TEXT NOT NULL, "
        "created_at BIGINT NOT NULL, removed_at BIGINT)",
    )),
)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule as the ledger keeps it: ``pattern`` (``~/clients/acme/**``) gives ``tags``."""

    pattern: str
    tags: Mapping[str, str]
    rule_id: str = field(default_factory=lambda: "ar_" + secrets.token_hex(6))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class RuleTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def add_attribution_rule(self, rule: StoredRule) -> None:
        with self._transaction():
            self._run("INSERT INTO attribution_rules (rule_id, pattern, tags, created_at) VALUES (?, ?, ?, ?)",
                      (rule.rule_id, rule.pattern, canonical(rule.tags), to_us(rule.created_at)))

    def attribution_rules(self) -> list[StoredRule]:
        """Rules in effect, oldest first (the order they apply in)."""
        return [StoredRule(pattern, json.loads(tags), rule_id, from_us(int(created)))
                for rule_id, pattern, tags, created in self._run(
                    "SELECT rule_id, pattern, tags, created_at FROM attribution_rules WHERE removed_at IS NULL "
                    "ORDER BY created_at, rule_id")]

    def remove_attribution_rule(self, rule_id: str, at: datetime | None = None) -> StoredRule | None:
        """Stop using a rule; the rule it was, or None when no rule in effect has that id."""
        with self._transaction():
            row = self._run("SELECT rule_id, pattern, tags, created_at FROM attribution_rules "
                            f"WHERE rule_id = ? AND removed_at IS NULL{self._FOR_UPDATE}", (rule_id,)).fetchone()
            if row is None:
                return None
            self._run("UPDATE attribution_rules SET removed_at = ? WHERE rule_id = ?",
                      (to_us(at or datetime.now(UTC)), rule_id))
        return StoredRule(row[1], json.loads(row[2]), row[0], from_us(int(row[3])))
