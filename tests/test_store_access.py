"""Store contract for dashboard access tokens, for every implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spendtag.errors import StoreError
from spendtag.ledger.access_tables import AccessToken
from spendtag.ledger.store import Store

T0 = datetime(2026, 3, 14, 10, tzinfo=UTC)


def test_tokens_round_trip_scoped_and_read_only(store: Store) -> None:
    acme = AccessToken("at_1", "acme-link", "h1", "st_abcd", "client", "client", "acme", T0)
    ops = AccessToken("at_2", "ops", "h2", "st_efgh", "read", created_at=T0 + timedelta(seconds=1))
    store.add_access_token(acme)
    store.add_access_token(ops)
    assert store.access_token_by_hash("h1") == acme
    assert store.access_token_by_hash("h2") == ops
    assert store.access_token_by_hash("nope") is None
    assert [t.token_id for t in store.access_tokens()] == ["at_1", "at_2"]


def test_one_active_token_per_name_and_revocation(store: Store) -> None:
    store.add_access_token(AccessToken("at_1", "acme", "h1", "p", "client", "client", "acme", T0))
    with pytest.raises(StoreError, match="an active access token named 'acme' exists"):
        store.add_access_token(AccessToken("at_2", "acme", "h2", "p", "read", created_at=T0))
    revoked = store.revoke_access_token("acme", T0 + timedelta(hours=1))
    assert revoked is not None and revoked.token_id == "at_1" and not revoked.active
    assert store.revoke_access_token("acme", T0) is None
    found = store.access_token_by_hash("h1")
    assert found is not None and found.revoked_at == T0 + timedelta(hours=1)
    assert store.access_tokens() == []
    assert [t.token_id for t in store.access_tokens(include_revoked=True)] == ["at_1"]
    store.add_access_token(AccessToken("at_3", "acme", "h3", "p", "read", created_at=T0))   # the name is free again
    assert [t.token_id for t in store.access_tokens()] == ["at_3"]
