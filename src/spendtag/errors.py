"""Errors a user may see. Each says what is wrong and, where there is one, the fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


class SpendtagError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class TagError(SpendtagError, ValueError):
    """A tag key or value that breaks the tag rules (shape, count, length)."""


class UsageFormatError(SpendtagError, ValueError):
    """Usage that cannot be read: not JSON, the wrong shape, or a negative count."""


class ConfigError(SpendtagError):
    """A bad config file: the message names the file, the line, the key and the fix.

    A section's parser knows the key path it was reading (``("budgets", 1, "limit")`` for
    the second ``[[budgets]]`` table's limit) but not the line: given ``key`` and no
    ``line``, the line is looked up in the file at ``path`` (see :mod:`spendtag.toml_lines`).
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | Sequence[str | int] | None = None, fix: str | None = None) -> None:
        self.key: tuple[str | int, ...] | None = None if key is None else (key,) if isinstance(key, str) else tuple(key)
        if line is None and path and self.key:
            line = _line_in_file(path, self.key)
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


def _line_in_file(path: str, key: tuple[str | int, ...]) -> int | None:
    from spendtag.toml_lines import line_of

    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return None
    return line_of(text, key)


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """A fix for an unknown name: ``did you mean 'limit'?`` when one is close, else the names to use."""
    import difflib

    names = list(choices)
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6) if isinstance(word, str) else []
    if close:
        return f"did you mean {close[0]!r}? use one of: {', '.join(names)}"
    return f"use one of: {', '.join(names)}"


class StoreError(SpendtagError):
    """The ledger cannot be opened, migrated or written."""


class PricingError(SpendtagError):
    """A price override or rate card that cannot be used."""
