"""Virtual keys: ``sk-spendtag-...`` keys handed to clients instead of a provider key.

A key is shown once, when made; the ledger keeps only its SHA-256 and a short prefix. The
proxy resolves a key to its id and tags through a small cache, so a revocation takes
effect within ``key_cache_seconds``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from spendtag.errors import SpendtagError
from spendtag.guard.budgets import Budget
from spendtag.ledger.store import Store, VirtualKey
from spendtag.tags import check_tags

PREFIX = "sk-spendtag-"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}\Z")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key: str            # the secret: shown once
    record: VirtualKey
    budget: Budget | None


def create(store: Store, name: str, tags: Mapping[str, str], *, budget_monthly: int | None = None,
           now: datetime | None = None) -> NewKey:
    """Make a key (and its blocking monthly budget, scoped to the key, when ``budget_monthly`` is given)."""
    if not _NAME_RE.match(name):
        raise SpendtagError(f"key name {name!r}: use letters, digits, '-', '_' or '.' (up to 48)")
    secret = PREFIX + secrets.token_urlsafe(32)
    key_id = "vk_" + secrets.token_hex(8)
    budget = None
    if budget_monthly is not None:
        budget = Budget(name=f"key-{name}", limit=budget_monthly, period="monthly", key=key_id,
                        stop_percent=Decimal(100), enforce="block")
    record = VirtualKey(key_id, name, key_hash(secret), secret[:len(PREFIX) + 4], check_tags(dict(tags)),
                        budget.name if budget else None, now or datetime.now(UTC))
    store.add_key(record)
    if budget is not None:
        store.save_budget(budget.name, budget.to_dict())
    return NewKey(secret, record, budget)


def revoke(store: Store, id_or_name: str, *, now: datetime | None = None) -> VirtualKey:
    found = store.revoke_key(id_or_name, now or datetime.now(UTC))
    if found is None:
        raise SpendtagError(f"no active key with id or name {id_or_name!r} (see `spendtag keys list`)")
    return found


class KeyCache:
    """Key look-ups by the presented secret, cached for ``ttl`` seconds (unknown keys too)."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._found: dict[str, tuple[VirtualKey | None, float]] = {}

    def forget(self) -> None:
        """Drop every cached look-up (from any thread: the next look-up reads the ledger)."""
        self._found = {}

    def lookup(self, secret: str) -> VirtualKey | None:
        """The active key, or None for an unknown or revoked one."""
        now = time.monotonic()
        hit = self._found.get(secret)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = self.store.key_by_hash(key_hash(secret))
        if found is not None and not found.active:
            found = None
        cache = self._found
        if len(cache) > 10_000:
            cache.clear()
        cache[secret] = (found, now + self.ttl)
        return found
