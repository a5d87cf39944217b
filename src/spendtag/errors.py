"""Errors a user may see. Each says what is wrong and, where there is one, the fix."""

from __future__ import annotations


class SpendtagError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class TagError(SpendtagError, ValueError):
    """A tag key or value that breaks the tag rules (shape, count, length)."""


class UsageFormatError(SpendtagError, ValueError):
    """Usage that cannot be read: not JSON, the wrong shape, or a negative count."""


class ConfigError(SpendtagError):
    """A bad config file: the message names the file, the line and the fix."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 fix: str | None = None) -> None:
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        text = f"{where}{message}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)
        self.path = path
        self.line = line
        self.fix = fix


class StoreError(SpendtagError):
    """The ledger cannot be opened, migrated or written."""


class PricingError(SpendtagError):
    """A price override or rate card that cannot be used."""
