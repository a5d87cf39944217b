"""Streaming pass-through: SSE bytes go to the client as they arrive while usage is read from them.

When the proxy added ``stream_options.include_usage`` to an OpenAI chat request that did
not ask for it, :class:`UsageChunkStripper` removes exactly one kind of event from what
the client receives: a ``data:`` event whose JSON has an empty ``choices`` list and a
non-null ``usage`` object (the extra chunk OpenAI sends before ``data: [DONE]``). Every
other byte passes unchanged, including the ``"usage":null`` field OpenAI then puts on the
other chunks (the SDKs model it as optional). Only while stripping, bytes are held back
until their event is complete (at most one event).
"""

from __future__ import annotations

import re

# The usage-only chunk: empty choices and a usage object, in either key order.
_EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


def is_usage_only_event(event: bytes) -> bool:
    return _EMPTY_CHOICES.search(event) is not None and _USAGE_OBJECT.search(event) is not None


class UsageChunkStripper:
    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk if self._pending else chunk
        end = _last_boundary(data)
        if end < 0:
            self._pending = data
            return b""
        complete, self._pending = data[:end], data[end:]
        if b'"choices"' not in complete or not _EMPTY_CHOICES.search(complete):
            return complete
        return b"".join(e for e in _split_events(complete) if not is_usage_only_event(e))

    def close(self) -> bytes:
        rest, self._pending = self._pending, b""
        return b"" if rest and is_usage_only_event(rest) else rest


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
