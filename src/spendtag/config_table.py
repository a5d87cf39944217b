"""One table of the config file, read key by key into typed values.

Every section's parser reads its table through :class:`Table`, so that every wrong value,
whatever its section and type, is a :class:`~spendtag.errors.ConfigError` that names the
file, the line, the key and the fix: a boolean is ``true`` or ``false`` (never the string
``"false"``, which Python would read as true), money parses exactly or says why, a URL is
http(s) with a host, and an unknown key is answered with the closest known one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, DecimalException
from typing import Any
from urllib.parse import urlsplit

from spendtag.errors import ConfigError, did_you_mean
from spendtag.money import MAX_AMOUNT_USD, MoneyError, parse_amount

KeyPath = tuple[str | int, ...]
_MISSING: Any = object()
# C0 (tab included), DEL, C1 and the Unicode line separators: nothing a name, host or label holds.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Table:
    """``value`` read as the table at key path ``key`` of the config file at ``path``.

    ``label`` is how messages name the table, e.g. ``[proxy]`` or ``[[budgets]] #2 (acme)``.
    """

    def __init__(self, value: Any, *, path: str, key: KeyPath, label: str, example: str = "") -> None:
        self.path, self.key, self.label = path, key, label
        if not isinstance(value, Mapping):
            raise ConfigError(f"{label} must be a table, not {_kind(value)}", path=path, key=key,
                              fix=example or f"write it as {label} with key = value lines under it")
        self.data: Mapping[str, Any] = value

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def error(self, key: str | None, problem: str, fix: str) -> ConfigError:
        where = f"{self.label} {key}" if key is not None else self.label
        return ConfigError(f"{where}: {problem}", path=self.path,
                           key=self.key if key is None else (*self.key, key), fix=fix)

    def only(self, known: Iterable[str]) -> None:
        """Refuse keys other than ``known``, naming the closest known one."""
        names = list(known)
        for key in self.data:
            if key not in names:
                raise self.error(key, "unknown key", did_you_mean(key, names))

    # -- scalars ----------------------------------------------------------------------------

    def string(self, key: str, default: Any = None, *, required: bool = False, choices: Iterable[str] = (),
               example: str = "...", lines: bool = False) -> Any:
        """A string (stripped, not empty, one line unless ``lines``), or ``default`` when the key is absent."""
        value = self.data.get(key, _MISSING)
        options = list(choices)
        if value is _MISSING:
            if required:
                raise self.error(key, "missing", f'add {key} = "{options[0] if options else example}"')
            return default
        shown_example = f'"{options[0]}"' if options else f'"{example}"'
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {_shown(value)}", f"write {key} = {shown_example}")
        value = value.strip()
        if _CONTROL.search(value.replace("\n", "").replace("\t", "") if lines else value):
            raise self.error(key, f"{_shown(value)} holds a control character", f"write {key} = {shown_example}")
        if options and value not in options:
            raise self.error(key, f"{value!r} is not allowed", did_you_mean(value, options))
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            hint = str(value).strip().lower() if isinstance(value, str) else ""
            word = hint if hint in ("true", "false") else "true" if default is False else "false"
            raise self.error(key, f"must be true or false, not {_shown(value)}", f"write {key} = {word} (no quotes)")
        return value

    def integer(self, key: str, default: Any = None, *, least: int = 0, most: int = 10**12, example: int = 1) -> Any:
        """A whole number from ``least`` to ``most``, or ``default`` when the key is absent."""
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            value = int(value.strip())      # "1000": a number in quotes is still the number
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise self.error(key, f"must be a whole number from {least:,} to {most:,}, not {_shown(value)}",
                             f"write {key} = {example}")
        return value

    def seconds(self, key: str, default: float, *, most: float = 86400.0, zero: bool = False) -> float:
        """A duration in seconds above 0 (or 0 itself, when ``zero``): an int or a float, time and never money."""
        value = self.data.get(key, default)
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or not (value >= 0 if zero else value > 0) or value > most):
            least = "from 0" if zero else "above 0"
            raise self.error(key, f"must be a number of seconds {least} and at most {most:g}, not {_shown(value)}",
                             f"write {key} = {default:g}")
        return float(value)

    def decimal(self, key: str, value: Any = _MISSING, *, above: Decimal = Decimal(0),
                most: Decimal = Decimal(1000), unit: str = "", example: str = "80") -> Decimal:
        """An exact number in (``above``, ``most``]: an int, a string, or a TOML float read from its text.

        ``unit`` (``"%"``) may follow the number in a string. ``value`` reads an item of a list.
        """
        raw = self.data.get(key) if value is _MISSING else value
        number: Decimal | None = None
        if isinstance(raw, float):
            raw_text = repr(raw)      # the float's shortest decimal text, never binary arithmetic
        elif isinstance(raw, int | str) and not isinstance(raw, bool):
            raw_text = str(raw).strip()
            if unit:
                raw_text = raw_text.removesuffix(unit).strip()
        else:
            raw_text = None
        if raw_text is not None:
            try:
                number = Decimal(raw_text)
            except DecimalException:
                number = None
        if number is None or not number.is_finite() or not above < number <= most:
            raise self.error(key, f"{_shown(raw)} is not a number above {above} and at most {most}{unit}",
                             f"write {key} = {example}")
        return number

    def money(self, key: str, value: Any = _MISSING, *, required: bool = False, positive: bool = True,
              example: str = "300") -> int | None:
        """An exact USD amount in pico-USD (a string such as ``"300.50"``, or a whole number)."""
        raw = self.data.get(key, _MISSING) if value is _MISSING else value
        if raw is _MISSING:
            if required:
                raise self.error(key, "missing", f'add {key} = "{example}" (USD)')
            return None
        fix = f'write {key} = "{example}" (USD)'
        if isinstance(raw, float):
            raw = repr(raw)     # a TOML float's shortest decimal text (12.5 -> "12.5"), never float arithmetic
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise self.error(key, f"must be an amount in USD, not {_shown(raw)}", fix)
        try:
            pico = parse_amount(raw)
        except MoneyError as exc:
            raise self.error(key, str(exc), fix) from None
        if pico < 0 or (positive and pico == 0):
            raise self.error(key, f"{raw!s} must be more than $0" if positive else f"{raw!s} must not be negative",
                             fix)
        return pico

    def url(self, key: str, default: str | None = None, *, example: str = "https://api.example.com/v1") -> Any:
        """An http(s) URL with a host, without its trailing slash."""
        value = self.string(key, default, example=example)
        if value is None:
            return None
        if is_http_url(value):
            return str(value).rstrip("/")
        raise self.error(key, f"{value!r} is not an http(s) URL with a host", f'write {key} = "{example}"')

    def day(self, key: str) -> date | None:
        """A date: a TOML date (``2026-03-01``) or a string holding one."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            raise self.error(key, "must be a date, not a date and time", f"write {key} = {value.date().isoformat()}")
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.error(key, f"{_shown(value)} is not a date such as 2026-03-01", f"write {key} = 2026-03-01")

    # -- lists and tables -------------------------------------------------------------------

    def strings(self, key: str, *, example: str = "...") -> tuple[str, ...]:
        """A list of non-empty strings (one string is a list of one)."""
        value = self.data.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
            raise self.error(key, f"must be a list of strings, not {_shown(value)}", f'write {key} = ["{example}"]')
        return tuple(s.strip() for s in items)

    def items(self, key: str) -> list[Any]:
        """A list (one scalar is a list of one), for the caller to read item by item."""
        value = self.data.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def table(self, key: str, *, label: str | None = None, example: str = "") -> Table:
        """The sub-table at ``key`` (empty when absent)."""
        return Table(self.data.get(key, {}), path=self.path, key=(*self.key, key),
                     label=label or f"[{_dotted((*self.key, key))}]", example=example)


def is_host(text: str) -> bool:
    """A host name or IP address to listen on or connect to (``127.0.0.1``, ``::1``, ``smtp.example.com``)."""
    return bool(_HOST.fullmatch(text))


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]{2,45}\]?")


def is_http_url(text: str) -> bool:
    """An http(s) URL with a host (and a valid port, if any), without spaces or control characters."""
    try:
        parts = urlsplit(text)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:      # a port that is not a number, or above 65535
        return False
    return ok and not any(c.isspace() or ord(c) < 32 for c in text)


def _dotted(key: KeyPath) -> str:
    return ".".join(str(k) if isinstance(k, int) or _bare(str(k)) else f'"{k}"' for k in key)


def _bare(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "_-" for c in text) and text.isascii()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {_clip(value)!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    """A value as the message shows it: short, and its type plain when it is not a string."""
    if isinstance(value, str):
        return repr(_clip(value))
    if isinstance(value, Mapping):
        return "a table"
    return _kind(value)


def _clip(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[:most] + "…"


__all__ = ["MAX_AMOUNT_USD", "KeyPath", "Table", "is_host", "is_http_url"]
