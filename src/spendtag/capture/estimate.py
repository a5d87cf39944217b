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


# Request fields whose strings are not prompt text: binary payloads (base64) and links to them.
_NOT_TEXT = frozenset({"data", "file_data", "image_url", "url", "input_audio", "b64_json", "file_id"})
MESSAGE_TOKENS = 4     # each message's role and framing, as OpenAI's counting guide has it


def prompt_tokens(body: bytes) -> int:
    """An estimate of the input tokens of a request body: its text at ~4 characters a token.

    For a cut stream's record (marked estimated), so never 0 for a request that sent
    anything. JSON strings count, except images, audio and files (base64 or links), which
    are billed by other rules and would swamp the estimate; each message adds its framing.
    """
    if not body:
        return 0
    try:
        obj = json.loads(body)
    except ValueError:
        return tokens_for_chars(len(body), at_least=1)
    chars, messages = _text_chars(obj)
    return max(1, tokens_for_chars(chars) + MESSAGE_TOKENS * messages)


def _text_chars(obj: object) -> tuple[int, int]:
    """(characters of text, messages) in a decoded request."""
    chars = messages = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, dict):
            if "role" in item:
                messages += 1
            stack.extend(v for k, v in item.items() if k not in _NOT_TEXT)
        elif isinstance(item, list):
            stack.extend(item)
    return chars, messages
