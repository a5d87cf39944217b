"""Anthropic Messages: non-streaming bodies, streams and their usage.

Anthropic counts are *exclusive*: ``input_tokens`` holds no cache reads or writes, so the
buckets are nearly disjoint as sent. Streams give the input side on ``message_start`` and a
cumulative usage on ``message_delta`` (FORMATS.md 2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spendtag.capture._fields import JSON, count, load_event, sub, text
from spendtag.capture.estimate import raw_chars, string_fields, tokens_for_chars
from spendtag.capture.parsed import Parsed
from spendtag.usage import Status, Usage


def messages_usage(u: JSON) -> Usage:
    tier, geo, speed = text(u, "service_tier"), text(u, "inference_geo"), text(u, "speed")
    usage = _tokens(u, "usage.", tier, geo, speed)
    iterations = u.get("iterations")
    if not isinstance(iterations, list):
        return usage   # the common case: built once, modifiers included (importers call this per call)
    for index, entry in enumerate(iterations):
        if not isinstance(entry, Mapping):
            continue
        if entry.get("type") == "compaction":
            # Compaction runs are not in the top-level usage (FORMATS.md 2.1): add them.
            inner = entry.get("usage")
            source = inner if isinstance(inner, Mapping) else entry
            usage = usage + _tokens(source, f"usage.iterations[{index}].")
        # TODO: advisor_message / fallback_message entries are calls to another model, with
        # their own "model"; they need pricing per iteration, so Usage alone cannot carry
        # them. Ignored for now ("message" entries are the top-level usage itself).
    return usage.replace(service_tier=tier, inference_geo=geo, speed=speed)


def _tokens(u: JSON, where: str, service_tier: str | None = None, inference_geo: str | None = None,
            speed: str | None = None) -> Usage:
    cache_read = count(u, "cache_read_input_tokens", where)
    flat_writes = count(u, "cache_creation_input_tokens", where)
    split = u.get("cache_creation")
    if isinstance(split, Mapping):
        # The TTL split is authoritative. A cumulative message_delta can raise the flat count
        # after message_start gave the split; the excess has no TTL, and no TTL means 5m.
        writes_5m = count(split, "ephemeral_5m_input_tokens", where + "cache_creation.")
        writes_1h = count(split, "ephemeral_1h_input_tokens", where + "cache_creation.")
        writes_5m += max(0, flat_writes - writes_5m - writes_1h)
    else:
        writes_5m, writes_1h = flat_writes, 0
    tools = sub(u, "server_tool_use")
    return Usage(
        input_tokens=count(u, "input_tokens", where),
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=writes_5m,
        cache_write_1h_tokens=writes_1h,
        output_tokens=count(u, "output_tokens", where),
        reasoning_tokens=count(sub(u, "output_tokens_details"), "thinking_tokens",
                               where + "output_tokens_details."),
        web_search_requests=count(tools, "web_search_requests", where + "server_tool_use."),
        web_fetch_requests=count(tools, "web_fetch_requests", where + "server_tool_use."),
        service_tier=service_tier,
        inference_geo=inference_geo,
        speed=speed,
    )


def parse_message(body: JSON, provider: str) -> Parsed:
    raw = body.get("usage")
    usage = messages_usage(raw) if isinstance(raw, Mapping) else None
    return Parsed(provider, text(body, "model"), usage, text(body, "id"), "ok")


_TEXT = string_fields("text", "partial_json", "thinking")
_SKIP = frozenset({"ping", "content_block_start", "content_block_stop"})


class MessagesStream:
    __slots__ = ("_model", "_id", "_start", "_merged", "_chars", "_error")

    def __init__(self) -> None:
        self._model: str | None = None
        self._id: str | None = None
        self._start: JSON | None = None            # message_start usage: the input side
        self._merged: dict[str, Any] | None = None  # message_start overlaid with every delta
        self._chars = 0
        self._error = False

    def on_event(self, event: str | None, data: bytes) -> None:
        if event == "content_block_delta":
            self._chars += raw_chars(_TEXT, data)
            return
        if event in _SKIP:
            return
        obj = load_event(data)
        if obj is None:
            return
        kind = text(obj, "type") or event
        if kind == "content_block_delta":  # a stream without event: lines
            self._chars += raw_chars(_TEXT, data)
        elif kind == "message_start":
            message = sub(obj, "message")
            self._model = text(message, "model") or self._model
            self._id = text(message, "id") or self._id
            self._start = sub(message, "usage")
        elif kind == "message_delta":
            delta = obj.get("usage")
            if isinstance(delta, Mapping):
                # Cumulative: overwrite, never add; fields the delta lacks (the cache TTL split,
                # service_tier, inference_geo) keep their message_start values.
                merged = self._merged if self._merged is not None else dict(self._start or {})
                merged.update((k, v) for k, v in delta.items() if v is not None)
                self._merged = merged
        elif kind == "error":
            self._error = True

    def finish(self, provider: str) -> Parsed:
        if self._merged is not None:
            usage = messages_usage(self._merged)
            status: Status = "error" if self._error else "ok"
        else:
            # Cut before message_delta: input and cache are exact from message_start; output
            # is estimated from the streamed text, never below message_start's placeholder.
            known = messages_usage(self._start or {})
            output = tokens_for_chars(self._chars, provider, at_least=known.output_tokens)
            usage = known.replace(output_tokens=output, estimated=True)
            status = "error" if self._error else "aborted"
        return Parsed(provider, self._model, usage, self._id, status)
