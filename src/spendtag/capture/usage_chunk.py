"""Asking an OpenAI chat stream for its usage chunk, and hiding it from a caller that did not ask.

A Chat Completions stream carries usage only when the request sets
``stream_options.include_usage`` (FORMATS.md 1.2). The proxy and the SDK wrapper set it on a
request that streams without it, and give the caller the stream it would have had without
it: :class:`UsageChunkStripper` removes the one extra event, a ``data:`` event whose JSON has
an empty ``choices`` list and a ``usage`` object (sent before ``data: [DONE]``), and, with
``nulls=True``, the ``"usage":null`` member OpenAI then adds to every other chunk. Every
other byte passes unchanged; bytes are held back only until their event is complete (at
most one event).
"""

from __future__ import annotations

import json
import re

# The usage-only chunk: empty choices and a usage object, in either key order.
_EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
# A top-level "usage":null member, after another member or before one. In JSON text a quote
# inside a string is escaped, so these bytes can only be a member (chunks have no nested "usage").
_NULL_AFTER = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])')
_NULL_BEFORE = re.compile(rb'"usage"\s*:\s*null\s*,\s*')
_ASK = b'"stream_options":{"include_usage":true},'


def ask_for_usage(body: bytes) -> bytes | None:
    """``body`` asking for the usage chunk, when it is a request that streams without asking; else None.

    The member is inserted at the start of the object, so the rest of the request goes out
    byte for byte as the caller wrote it (re-encoded only when it had other stream_options).
    """
    if b'"stream"' not in body:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("stream") is not True:
        return None
    opts = obj.get("stream_options")
    if isinstance(opts, dict) and opts.get("include_usage"):
        return None
    if "stream_options" not in obj:
        start = body.index(b"{") + 1
        return body[:start] + _ASK + body[start:]
    obj["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def is_usage_only_event(event: bytes) -> bool:
    return _EMPTY_CHOICES.search(event) is not None and _USAGE_OBJECT.search(event) is not None


def drop_null_usage(event: bytes) -> bytes:
    """An event without its top-level ``"usage":null`` member (unchanged when it has none)."""
    if b'"usage"' not in event:
        return event
    dropped, n = _NULL_AFTER.subn(b"", event, count=1)
    return dropped if n else _NULL_BEFORE.sub(b"", event, count=1)


class UsageChunkStripper:
    __slots__ = ("_pending", "_nulls")

    def __init__(self, *, nulls: bool = False) -> None:
        self._pending = b""
        self._nulls = nulls

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk if self._pending else chunk
        end = _last_boundary(data)
        if end < 0:
            self._pending = data
            return b""
        complete, self._pending = data[:end], data[end:]
        if self._nulls:
            if b'"usage"' not in complete:
                return complete
            return b"".join(drop_null_usage(e) for e in _split_events(complete) if not is_usage_only_event(e))
        if b'"choices"' not in complete or not _EMPTY_CHOICES.search(complete):
            return complete
        return b"".join(e for e in _split_events(complete) if not is_usage_only_event(e))

    def close(self) -> bytes:
        rest, self._pending = self._pending, b""
        if rest and is_usage_only_event(rest):
            return b""
        return drop_null_usage(rest) if self._nulls else rest


def _last_boundary(data: bytes) -> int:
    """The index just past the last blank line (event end) in ``data``, or -1."""
    best = -1
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = data.rfind(sep)
        if i >= 0 and i + len(sep) > best:
            best = i + len(sep)
    return best


def _split_events(data: bytes) -> list[bytes]:
    """Events with their terminating blank line kept, so joining them gives ``data`` back."""
    return [p for p in re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", data) if p]
