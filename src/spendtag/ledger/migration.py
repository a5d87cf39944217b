"""What a migration is (kept apart from the list, which feature modules extend)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """A named schema step. Released migrations are never edited; new ones only add."""

    name: str
    statements: tuple[str, ...]
