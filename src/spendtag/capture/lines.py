"""Lines of a JSONL file (``spendtag ingest``) into usage events.

Each line is one of:

* a **normalised event**: ``{"provider": "anthropic", "model": "claude-sonnet-4-5",
  "usage": {...}, "ts": "2026-03-14T10:00:00Z", "tags": {"client": "acme"}, "project": ...,
  "session": ..., "agent": ..., "event_id": ...}``. ``usage`` is either spendtag's own
  bucket names (``input_tokens``, ``cache_read_tokens``...) when ``"normalised": true``, or
  the provider's own usage object;
* a **wrapped response**: the same, with ``"response": {<the provider's response body>}``
  instead of ``usage`` (model and usage are read from the response);
* a **bare provider response** (an OpenAI ``chat.completion``, an Anthropic ``message``,
  a Gemini ``generateContent`` body) or a batch output/results line.

The event id is the line's own ``event_id`` if it has one, else a hash of the line, so
ingesting the same file twice records nothing new (DESIGN: a file line's identity is its
hash). When the line gives its time, the id starts with it (``line:<time>:<hash>``): the
same line still gives the same id, and time-ordered ids keep the ledger's id index
appending instead of scattering (about 2.5x faster on large files). A line without a time
gets the time of ingestion and an id of its hash alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spendtag.bounds import check_time
from spendtag.capture._fields import DECODE_FAILURES
from spendtag.capture.parsers import detect_provider, parse_batch_line, parse_response, parse_usage
from spendtag.errors import SpendtagError, UsageFormatError
from spendtag.periods import to_us
from spendtag.tags import check_tags
from spendtag.usage import Usage, UsageEvent

_DIM_FIELDS = ("project", "session", "agent", "key", "user")


def line_id(text: str, ts: datetime | None = None) -> str:
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:32]
    if ts is None:
        return f"line:{digest}"
    return f"line:{to_us(ts):016x}:{digest}"


def parse_ts(value: Any) -> datetime:
    """ISO 8601 text (``Z`` allowed) or Unix seconds/milliseconds, within 2000-2100 UTC."""
    if isinstance(value, bool):
        raise UsageFormatError(f"ts must be a time, got {value!r}")
    if isinstance(value, int | float):
        try:
            seconds = value / 1000 if value > 10**11 else value
            parsed = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError):   # 1e30, NaN, Infinity
            raise UsageFormatError(f"ts {str(value)[:40]} is not a time in Unix seconds or milliseconds "
                                   "within 2000-2100") from None
        return check_time(parsed, "ts")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            parsed.astimezone(UTC)   # (an offset can move a time past year 9999)
        except (ValueError, OverflowError):
            raise UsageFormatError(f"ts {value[:60]!r} is not an ISO 8601 time such as 2026-03-14T10:00:00Z") from None
        return check_time(parsed, "ts")
    raise UsageFormatError(f"ts must be ISO 8601 text or Unix seconds, got {type(value).__name__}")


def _str_field(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UsageFormatError(f"{name} must be a string, got {type(value).__name__}")
    return value


def event_from_line(text: str, *, source: str = "ingest", now: datetime | None = None,
                    default_provider: str | None = None) -> UsageEvent | None:
    """One line -> one event; ``None`` for a line with nothing billable (blank, an errored batch row).

    Whatever is wrong with the line (its JSON, depth, numbers, shape) is a UsageFormatError
    that says what: the caller skips and counts it.
    """
    stripped = text.strip().lstrip("\ufeff")   # (a byte-order mark opens some files)
    if not stripped:
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise UsageFormatError(f"not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise UsageFormatError("not JSON this reader takes (nested too deep)") from None
    if not isinstance(data, dict):
        raise UsageFormatError("a line must be a JSON object")
    return event_from_object(data, event_id=None, line=stripped, source=source, now=now,
                             default_provider=default_provider)


def event_from_object(data: Mapping[str, Any], *, event_id: str | None = None, line: str | None = None,
                      source: str = "ingest", now: datetime | None = None,
                      default_provider: str | None = None) -> UsageEvent | None:
    """One object -> one event. Without ``event_id``, the id comes from ``line`` (the raw text) or the object.

    Every problem is a :class:`UsageFormatError` (or a ``TagError``), whatever the object holds.
    """
    try:
        return _event(data, event_id, line, source, now, default_provider)
    except SpendtagError:
        raise
    except DECODE_FAILURES as exc:
        # A shape no check above foresaw (a list where an object belongs, a huge number...):
        # still this line's problem alone.
        raise UsageFormatError(f"cannot read this event ({type(exc).__name__}: {str(exc)[:120]})") from None


def _event(data: Mapping[str, Any], event_id: str | None, line: str | None, source: str, now: datetime | None,
           default_provider: str | None) -> UsageEvent | None:
    provider = _str_field(data, "provider") or default_provider
    model = _str_field(data, "model")
    response_id: str | None = None
    status = data.get("status", "ok")
    if "usage" in data and ("model" in data and "provider" in data or data.get("normalised")) \
            and not _looks_like_response(data):
        usage_obj = data["usage"]
        if not isinstance(usage_obj, Mapping):
            raise UsageFormatError("usage must be a JSON object")
        if provider is None:
            raise UsageFormatError("a normalised event needs a provider")
        usage = Usage.from_dict(usage_obj) if data.get("normalised") else parse_usage(provider, usage_obj)
    else:
        # A batch output/results line is its own wrapper ("response" is the batch's field);
        # otherwise "response" wraps a provider body, or the line is the body itself.
        batch = _looks_like_batch(data)
        body = data if batch else data.get("response", data)
        if not isinstance(body, Mapping):
            raise UsageFormatError("response must be a JSON object")
        if provider is None:
            provider = _batch_provider(data) if batch else detect_provider(body)
            if provider is None:
                raise UsageFormatError("cannot tell the provider of this line: add \"provider\"")
        parsed = parse_batch_line(provider, body) if batch else parse_response(provider, body)
        if parsed.usage is None:
            return None
        usage, model, response_id, status = parsed.usage, parsed.model or model, parsed.response_id, parsed.status
        provider = parsed.provider
    if not model:
        raise UsageFormatError("no model: add \"model\"")
    tags = data.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise UsageFormatError("tags must be a JSON object of strings")
    ts_value = data.get("ts", data.get("timestamp"))
    if ts_value is None:
        ts_value = _created(data)
    ts = parse_ts(ts_value) if ts_value is not None else (now or datetime.now(UTC))
    explicit_id = _str_field(data, "event_id")
    if not explicit_id and event_id is None:
        text = line if line is not None else json.dumps(data, sort_keys=True)
        event_id = line_id(text, ts if ts_value is not None else None)
    return UsageEvent(
        event_id=explicit_id or event_id or "",
        ts=ts,
        provider=provider,
        model=model,
        usage=usage,
        tags=check_tags(dict(tags)),
        source=_str_field(data, "source") or source,
        status=status,
        response_id=response_id or _str_field(data, "response_id"),
        **{name: _str_field(data, name) for name in _DIM_FIELDS},
    )


def _looks_like_response(data: Mapping[str, Any]) -> bool:
    return data.get("object") in ("chat.completion", "response") or data.get("type") == "message"


def _looks_like_batch(data: Mapping[str, Any]) -> bool:
    return "custom_id" in data and ("result" in data or "response" in data or "error" in data)


def _batch_provider(data: Mapping[str, Any]) -> str:
    """Anthropic results lines carry ``result``; OpenAI output lines carry ``response``/``error``."""
    return "anthropic" if "result" in data else "openai"


def _created(data: Mapping[str, Any]) -> int | None:
    """OpenAI's ``created`` (Unix seconds), on a body or inside a batch line's or wrapper's response."""
    response = data.get("response")
    body = response.get("body") if isinstance(response, Mapping) else None
    for candidate in (data, response, body):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("created"), int):
            return int(candidate["created"])
    return None
