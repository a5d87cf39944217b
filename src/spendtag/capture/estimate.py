"""Output estimates for streams cut before their usage arrived.

About four characters per token is the usual rule of thumb for English text; it is only
ever used for records marked ``estimated`` that are reconciled later against the
provider's usage reports.
"""

from __future__ import annotations

import json
import re

CHARS_PER_TOKEN = 4


def tokens_for_chars(chars: int, *, at_least: int = 0) -> int:
    return max(at_least, -(-chars // CHARS_PER_TOKEN))


def string_fields(*keys: str) -> re.Pattern[bytes]:
    """A pattern capturing the raw (still JSON-escaped) value of string fields named ``keys``.

    Matching raw event bytes lets the stream readers measure streamed text without
    decoding every delta event as JSON.
    """
    names = b"|".join(re.escape(k.encode()) for k in keys)
    return re.compile(rb'"(?:' + names + rb')"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')


def raw_chars(pattern: re.Pattern[bytes], data: bytes) -> int:
    """Characters of text in the fields ``pattern`` captures in one raw JSON event."""
    total = 0
    for raw in pattern.findall(data):
        if raw.isascii() and b"\\" not in raw:
            total += len(raw)
            continue
        try:
            total += len(json.loads(b'"' + raw + b'"'))
        except ValueError:
            total += len(raw)
    return total
