"""Reading provider JSON leniently but never silently wrong.

Providers omit zero fields (Gemini), send ``null`` details (OpenAI), and some exporters
stringify integers (OTLP). All of that reads as a count. A negative number, a float with a
fraction or a string that is not a whole number is an error: guessing would mis-bill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from spendtag.bounds import MAX_COUNT
from spendtag.errors import UsageFormatError

JSON = Mapping[str, Any]
EMPTY: JSON = MappingProxyType({})
# What reading one untrusted line or record can raise however it is broken (its bytes, depth,
# numbers or shape). Readers catch these per line: the line is counted as malformed with its
# file and line number (or refused with a message), and the rest is read.
DECODE_FAILURES: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, AttributeError,
                                                ArithmeticError, RecursionError)


def sub(obj: JSON, key: str) -> JSON:
    """A nested object, or an empty one when it is missing or null."""
    value = obj.get(key)
    return value if type(value) is dict or isinstance(value, Mapping) else EMPTY


def count(obj: JSON, key: str, where: str = "") -> int:
    """A token count; missing or null is 0. ``where`` prefixes the key in error messages."""
    value = obj.get(key)
    if type(value) is int and 0 <= value <= MAX_COUNT:   # the usual case, without building the error's name
        return value
    if value is None:
        return 0
    return to_count(value, f"{where}{key}")


def to_count(value: object, name: str) -> int:
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if value is None:
        return 0
    if isinstance(value, bool):
        raise UsageFormatError(f"usage field {name} must be a whole number of tokens, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 30:
        number = int(value.strip())
    else:
        raise UsageFormatError(f"usage field {name} must be a whole number of tokens, got {_shown(value)}")
    if number < 0:
        raise UsageFormatError(f"usage field {name} must not be negative, got {number}")
    if number > MAX_COUNT:
        raise UsageFormatError(f"usage field {name} is {number}, above the bound of {MAX_COUNT:.0e} per call")
    return number


def _shown(value: object) -> str:
    """A value for an error message, cut short (a line may hold a huge one)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."



def text(obj: JSON, key: str) -> str | None:
    """A string field, or None when it is missing, null or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def require_mapping(value: object, what: str) -> JSON:
    if not isinstance(value, Mapping):
        raise UsageFormatError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def subtract(total: int, total_name: str, parts: Mapping[str, int]) -> int:
    """``total`` minus the ``parts`` it is documented to include (e.g. cached inside prompt)."""
    taken = sum(parts.values())
    if taken > total:
        named = " + ".join(f"{name} ({value})" for name, value in parts.items() if value)
        raise UsageFormatError(f"{named} exceed {total_name} ({total}), which is supposed to include them")
    return total - taken


_decode = msgspec.json.Decoder().decode


def loads(data: bytes | str) -> Any:
    """``json.loads``, a third of the time for what msgspec reads. Whatever msgspec refuses
    (NaN, a lone surrogate, a byte-order mark, a float out of range, a malformed body) goes to
    ``json.loads``, so the result (or the error) is always the one ``json.loads`` gives; JSON
    nested too deep for either is a ValueError too, not a RecursionError."""
    try:
        try:
            return _decode(data)
        except ValueError:       # msgspec.DecodeError and ValidationError are ValueErrors
            return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def loads_line(line: bytes | str) -> Any:
    """One JSON line; bytes that are not UTF-8 are replaced (U+FFFD), not fatal.

    Raises ValueError for what is not JSON, nested too deep included (a RecursionError).
    """
    try:
        try:
            return json.loads(line)
        except UnicodeDecodeError:
            assert isinstance(line, bytes)
            return json.loads(line.decode("utf-8", errors="replace"))
    except RecursionError:
        raise ValueError("nested too deep") from None


def load_event(data: bytes) -> JSON | None:
    """One SSE event's JSON object, or None for anything else: a bad line is skipped, not fatal."""
    try:
        obj = loads(data)
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        return None
    return obj if isinstance(obj, Mapping) else None
