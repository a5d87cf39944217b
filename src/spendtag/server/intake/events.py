"""``POST /v1/events``: batches of normalised events from :class:`~spendtag.capture.sdk.HttpSink`.

The body is ``{"events": [<line>, ...]}`` (or a bare JSON array, or JSON lines), each line
in the format ``spendtag ingest`` reads. Lines that cannot be read are reported back with
their index; the others are recorded. Event ids come with the lines, so a batch the sink
retries after a timeout is recorded once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spendtag.capture._fields import loads_line
from spendtag.capture.lines import event_from_object
from spendtag.errors import SpendtagError
from spendtag.usage import UsageEvent


class EventsError(SpendtagError, ValueError):
    """A body that is not a batch of events."""


def parse_batch(body: bytes, content_type: str) -> tuple[list[UsageEvent], list[str]]:
    """The events in a batch, and a problem line for each item that is not one."""
    items: list[Any]
    if "ndjson" in content_type or "jsonl" in content_type:
        items = []
        for n, line in enumerate(body.splitlines()):
            if line.strip():
                try:
                    items.append(loads_line(line))
                except ValueError:
                    items.append(f"line {n + 1} is not JSON")
    else:
        try:
            data = loads_line(body)   # (bytes that are not UTF-8 replaced, as in every reader)
        except ValueError as exc:
            raise EventsError(f"body is not JSON: {exc}") from None
        if isinstance(data, Mapping):
            data = data.get("events")
        if not isinstance(data, list):
            raise EventsError('expected {"events": [...]}, a JSON array of events, or JSON lines')
        items = data
    events: list[UsageEvent] = []
    problems: list[str] = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(f"{n}: {item if isinstance(item, str) else 'not a JSON object'}")
            continue
        try:
            event = event_from_object(item, source="sdk")
        except SpendtagError as exc:
            problems.append(f"{n}: {exc}")
            continue
        if event is not None:
            events.append(event)
    return events, problems
