"""Who is asking: the admin, a read-only token, or a client link scoped to one tag value.

Bound to loopback without an admin token, the dashboard is open (to whoever can reach
127.0.0.1). Anywhere else it refuses to start without an admin token or a read-only
token in the ledger, and every page and API call checks the token. A client token sees
only events carrying its tag value, the budgets scoped to that value and its invoices.
Virtual keys (proxy) are another table and never open the dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from spendtag.errors import SpendtagError
from spendtag.ledger.access_tables import AccessToken, Role
from spendtag.ledger.store import Store
from spendtag.tags import Selector, check_key, check_value

TOKEN_PREFIX = "st_"


class AccessError(SpendtagError, ValueError):
    """A dashboard that would be reachable without a token, or a bad token request."""


@dataclass(frozen=True, slots=True)
class Viewer:
    role: Literal["admin", "read", "client"]
    name: str
    scope: tuple[str, str] | None = None    # (tag key, value) for a client viewer

    @property
    def scoped(self) -> bool:
        return self.scope is not None

    def selectors(self) -> tuple[Selector, ...]:
        return () if self.scope is None else (Selector(self.scope[0], "eq", self.scope[1]),)


LOCAL_ADMIN = Viewer("admin", "local")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_token(store: Store, name: str, role: Role, scope: tuple[str, str] | None = None) -> tuple[str, AccessToken]:
    """A new token (shown once) and what the ledger keeps of it."""
    if role == "client":
        if scope is None:
            raise AccessError("a client token needs a scope, e.g. --client acme or --scope project=apollo")
        scope = (check_key(scope[0]), check_value(scope[0], scope[1]))
    elif scope is not None:
        raise AccessError("a read-only token sees everything; give a scope only for a client token")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = AccessToken(f"at_{uuid.uuid4().hex[:12]}", name, hash_token(token), token[:10], role,
                         scope[0] if scope else None, scope[1] if scope else None, datetime.now(UTC))
    store.add_access_token(record)
    return token, record


def create_link(store: Store, name: str, scope: tuple[str, str], *,
                allow_new: bool = False) -> tuple[str, AccessToken, list[str]]:
    """A client link (a token scoped to one tag value), shown once; notes when no call carries that value yet.

    A value close to one the ledger has (a typo) is refused unless ``allow_new``.
    """
    from spendtag.ledger.query import Filters
    from spendtag.report.matching import check_scope

    wanted = Selector(check_key(scope[0]), "eq", check_value(scope[0], scope[1]))
    notes = check_scope(store, Filters(tags=(wanted,)), allow_new=allow_new,
                        fix="for a client with no calls yet, pass --allow-new")
    token, record = create_token(store, name, "client", scope)
    return token, record, notes


def revoke_token(store: Store, name_or_id: str) -> AccessToken:
    found = store.revoke_access_token(name_or_id, datetime.now(UTC))
    if found is None:
        raise AccessError(f"no active token {name_or_id!r} (see `spendtag tokens list`)")
    return found


class Gate:
    """Turns the token a request carries into a Viewer, or None (refused)."""

    def __init__(self, admin_token: str | None, *, open_without_token: bool) -> None:
        self._admin = admin_token.encode() if admin_token else None
        self.open = open_without_token and not admin_token

    def viewer(self, token: str | None, store: Store) -> Viewer | None:
        if token:
            if self._admin is not None and hmac.compare_digest(token.encode(), self._admin):
                return Viewer("admin", "admin")
            found = store.access_token_by_hash(hash_token(token)) if token.startswith(TOKEN_PREFIX) else None
            if found is not None and found.active:
                if found.role == "client" and found.scope_key is not None and found.scope_value is not None:
                    return Viewer("client", found.name, (found.scope_key, found.scope_value))
                if found.role == "read":
                    return Viewer("read", found.name)
            return None
        return LOCAL_ADMIN if self.open else None


def check_binding(host: str, admin_token: str | None, store: Store) -> None:
    """Refuse to serve beyond loopback with nothing to check requests against."""
    if is_loopback(host) or admin_token:
        return
    if any(t.role == "read" for t in store.access_tokens()):
        return
    raise AccessError(f"refusing to serve on {host} without a token: pass --token (or set SPENDTAG_SERVER_TOKEN), "
                      "or create a read-only token with `spendtag tokens add NAME --read-only`")
