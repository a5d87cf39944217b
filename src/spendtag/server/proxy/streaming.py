"""Streaming pass-through: SSE bytes go to the client as they arrive while usage is read from them.

When the proxy added ``stream_options.include_usage`` to an OpenAI chat request that did
not ask for it, :class:`UsageChunkStripper` removes the usage-only chunk from what the
client receives (shared with the SDK wrapper: see :mod:`spendtag.capture.usage_chunk`).
"""

from __future__ import annotations

from spendtag.capture.usage_chunk import UsageChunkStripper, is_usage_only_event

__all__ = ["UsageChunkStripper", "is_usage_only_event"]
