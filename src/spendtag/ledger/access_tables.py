"""Dashboard access tokens in the ledger: read-only tokens and links scoped to one tag value.

Only a SHA-256 of each token is stored, with a short prefix to recognise it in a list. The
admin token is never stored (it comes from ``--token`` or the environment); virtual keys
(proxy) are a separate table and never open the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from spendtag.errors import StoreError
from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.periods import from_us, to_us

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0008_access_tokens", (
        "CREATE TABLE access_tokens (token_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "token_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, role TEXT NOT NULL, "
        "scope_key TEXT, scope_value TEXT, created_at BIGINT NOT NULL, revoked_at BIGINT)",
        "CREATE INDEX access_tokens_name ON access_tokens (name)",
    )),
)

Role = Literal["read", "client"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A dashboard token: ``read`` sees everything (read-only); ``client`` sees one tag value's own data."""

    token_id: str
    name: str
    token_hash: str
    prefix: str
    role: Role
    scope_key: str | None = None      # for role "client": the tag key and value it is limited to
    scope_value: str | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_COLUMNS = "token_id, name, token_hash, prefix, role, scope_key, scope_value, created_at, revoked_at"


def token_from_row(row: Sequence[Any]) -> AccessToken:
    token_id, name, token_hash, prefix, role, scope_key, scope_value, created_at, revoked_at = row
    return AccessToken(token_id, name, token_hash, prefix, role, scope_key, scope_value, from_us(created_at),
                       None if revoked_at is None else from_us(revoked_at))


def duplicate_name(name: str) -> StoreError:
    return StoreError(f"an active access token named {name!r} exists; revoke it first "
                      f"(`spendtag tokens revoke {name}`) or pick another name")


class AccessTables(Dialect):
    """Mixin for both stores (through the hooks of :class:`~spendtag.ledger.dialect.Dialect`)."""

    def add_access_token(self, token: AccessToken) -> None:
        with self._transaction():
            self._lock_table("access_tokens")
            if self._run("SELECT 1 FROM access_tokens WHERE name = ? AND revoked_at IS NULL",
                         (token.name,)).fetchone():
                raise duplicate_name(token.name)
            self._run(f"INSERT INTO access_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (token.token_id, token.name, token.token_hash, token.prefix, token.role, token.scope_key,
                       token.scope_value, to_us(token.created_at or datetime.now().astimezone()),
                       None if token.revoked_at is None else to_us(token.revoked_at)))

    def access_token_by_hash(self, token_hash: str) -> AccessToken | None:
        row = self._run(f"SELECT {_COLUMNS} FROM access_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if row is None else token_from_row(row)

    def access_tokens(self, *, include_revoked: bool = False) -> list[AccessToken]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [token_from_row(r) for r in self._run(
            f"SELECT {_COLUMNS} FROM access_tokens{where} ORDER BY created_at, token_id")]

    def revoke_access_token(self, id_or_name: str, at: datetime) -> AccessToken | None:
        with self._transaction():
            row = self._run(
                f"SELECT {_COLUMNS} FROM access_tokens WHERE (token_id = ? OR name = ?) AND revoked_at IS NULL "
                f"ORDER BY token_id = ? DESC LIMIT 1{self._FOR_UPDATE}",
                (id_or_name, id_or_name, id_or_name)).fetchone()
            if row is None:
                return None
            self._run("UPDATE access_tokens SET revoked_at = ? WHERE token_id = ?", (to_us(at), row[0]))
        return token_from_row((*row[:-1], to_us(at)))
