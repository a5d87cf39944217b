"""Store contract for the audit log and dashboard-made attribution rules, for every implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spendtag.ledger import Store
from spendtag.ledger.audit_tables import AuditEntry
from spendtag.ledger.rule_tables import StoredRule

T0 = datetime(2026, 3, 14, 10, tzinfo=UTC)


def test_audit_entries_round_trip_newest_first(store: Store) -> None:
    first = AuditEntry("admin", "budget.save", "acme", {"limit": "5", "scope": ["client=acme"]}, T0, "au_1")
    second = AuditEntry("local", "key.revoke", "acme-key", {}, T0 + timedelta(seconds=1), "au_2")
    store.add_audit(first)
    store.add_audit(second)
    assert store.audit_log() == [second, first]
    assert store.audit_log(limit=1) == [second]
    assert store.audit_log(limit=1, offset=1) == [first]
    assert store.audit_log()[1].details == {"limit": "5", "scope": ["client=acme"]}
    assert store.audit_log()[0].at == T0 + timedelta(seconds=1)


def test_attribution_rules_in_order_and_removed(store: Store) -> None:
    a = StoredRule("~/clients/acme/**", {"client": "acme"}, "ar_1", T0)
    b = StoredRule("~/clients/*/internal-*", {"billable": "no", "client": "x"}, "ar_2", T0 + timedelta(hours=1))
    store.add_attribution_rule(b)
    store.add_attribution_rule(a)
    assert store.attribution_rules() == [a, b]                # oldest first: the order they apply in
    assert store.remove_attribution_rule("ar_1", T0 + timedelta(days=1)) == a
    assert store.remove_attribution_rule("ar_1") is None      # already removed
    assert store.remove_attribution_rule("nope") is None
    assert store.attribution_rules() == [b]
