"""Store contract for virtual keys and budget holds (proxy), for every implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spendtag.errors import StoreError
from spendtag.ledger.store import Store, VirtualKey

T0 = datetime(2026, 3, 14, 10, tzinfo=UTC)


def _key(key_id: str, name: str, key_hash: str, **kw: object) -> VirtualKey:
    return VirtualKey(key_id, name, key_hash, "sk-spendtag-abcd", {"client": name}, created_at=T0, **kw)  # type: ignore[arg-type]


def test_keys_round_trip_and_lookup_by_hash(store: Store) -> None:
    store.add_key(_key("vk_1", "acme", "h1", budget="key-acme"))
    store.add_key(_key("vk_2", "globex", "h2"))
    assert store.key_by_hash("h1") == _key("vk_1", "acme", "h1", budget="key-acme")
    assert store.key_by_hash("nope") is None
    assert [k.key_id for k in store.keys()] == ["vk_1", "vk_2"]  # noqa: SIM118 - a Store, not a dict


def test_one_active_key_per_name_and_revocation(store: Store) -> None:
    store.add_key(_key("vk_1", "acme", "h1"))
    with pytest.raises(StoreError, match="an active key named 'acme' exists"):
        store.add_key(_key("vk_2", "acme", "h2"))
    revoked = store.revoke_key("acme", T0 + timedelta(days=1))
    assert revoked is not None and revoked.key_id == "vk_1" and revoked.revoked_at == T0 + timedelta(days=1)
    assert store.revoke_key("acme", T0) is None          # nothing active left under that name
    assert store.keys() == []
    found = store.key_by_hash("h1")
    assert found is not None and not found.active        # revoked keys stay, for reports
    store.add_key(_key("vk_3", "acme", "h3"))            # the name is free again
    assert [k.key_id for k in store.keys(include_revoked=True)] == ["vk_1", "vk_3"]
    assert store.revoke_key("vk_3", T0) is not None       # by id too


def test_holds_replace_per_holder_and_go_stale(store: Store) -> None:
    store.save_holds("p1", {"acme": 5, "team": 7}, T0)
    store.save_holds("p2", {"acme": 3}, T0 + timedelta(seconds=5))
    assert store.holds(T0) == {"acme": 8, "team": 7}
    assert store.holds(T0, exclude="p1") == {"acme": 3}
    assert store.holds(T0 + timedelta(seconds=1)) == {"acme": 3}      # p1's rows are older: stale
    store.save_holds("p1", {"acme": 1}, T0 + timedelta(seconds=6))   # replaces p1's rows
    assert store.holds(T0) == {"acme": 4}
    store.save_holds("p2", {}, T0 + timedelta(seconds=7))
    assert store.holds(T0) == {"acme": 1}
