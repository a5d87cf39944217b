"""Where a number on a page leads: the calls page, filtered to exactly the calls it counts.

Links keep the page's own filters and time range (a bar or a previous period brings its own
range), and add the condition of what was clicked: a tag value, no value of the tag, a
dimension's value, or the values a chart folded into "(other)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from spendtag.report.breakdown import group_key

Pair = tuple[str, str]
UNTAGGED, OTHER, NONE = "(untagged)", "(other)", "(none)"
# Parameters of the page that are not filters of the calls.
NOT_FILTERS = ("page", "order", "sort", "stack", "min_cost", "max_cost", "per_page", "key", "value")
TIME = ("range", "period", "since", "until")
DIMENSION_FILTERS = ("agent", "model", "provider", "project", "session", "source")


def calls(query: Sequence[Pair], adds: Sequence[Pair] = (), span: tuple[str, str] | None = None) -> str:
    """The calls page with the page's filters, ``adds`` and, if given, the time ``span`` instead of its own."""
    kept = [(k, v) for k, v in query if k not in NOT_FILTERS and (span is None or k not in TIME)]
    if span is not None:
        kept += [("since", span[0]), ("until", span[1])]
    kept += [pair for pair in adds if pair not in kept]
    return "/events?" + urlencode(kept)


def series(stack: str, name: str, chart: Mapping[str, Any] | None = None) -> list[Pair] | None:
    """The filter for one series of a chart stacked by ``stack`` (None: no filter can say it)."""
    key = group_key(stack)
    if key.startswith("tag:"):
        tag = key[4:]
        if name == UNTAGGED:
            return [("tag", f"!{tag}")]
        if name == OTHER:
            shown = [s["name"] for s in (chart or {}).get("series", ()) if s["name"] not in (OTHER, UNTAGGED)]
            return [("tag", tag), *(("tag", f"{tag}!={v}") for v in shown)]
        return [("tag", f"{tag}={name}")]
    if key not in DIMENSION_FILTERS or name in (NONE, UNTAGGED):
        return None
    values = list((chart or {}).get("others", ())) if name == OTHER else [name]
    return [(key, v) for v in values] or None


def bucket(group: str, label: str) -> tuple[str, str] | None:
    """A chart bucket's time range, in the page's time zone, as the calls page reads it."""
    try:
        if group == "hour":
            start = datetime.strptime(label, "%Y-%m-%d %H:%M")
            return start.strftime("%Y-%m-%dT%H:%M"), (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        if group == "day":
            day = date.fromisoformat(label)
            return day.isoformat(), (day + timedelta(days=1)).isoformat()
        if group == "month":
            first = date.fromisoformat(label + "-01")
            following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            return first.isoformat(), following.isoformat()
    except ValueError:
        return None
    return None

