"""Which events a view covers: the filters and time range the CLI's flags and the web's query give.

One parser for both, so ``spendtag report --tag client=acme --period 2026-03`` and
``/api/v1/report?tag=client=acme&period=2026-03`` select the same events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from spendtag.ledger.query import Filters, QueryError
from spendtag.periods import Range, named_period, parse_instant, parse_period, zone
from spendtag.tags import Selector

NAMED_PERIODS = ("today", "yesterday", "this-week", "last-week", "this-month", "last-month", "last-7-days",
                 "last-30-days")
# Dimensions a view may filter on, each with any number of allowed values.
FILTER_DIMENSIONS = ("agent", "model", "provider", "session", "source")


@dataclass(frozen=True)
class Selection:
    filters: Filters
    tz: ZoneInfo
    range: Range


def select(tz_default: ZoneInfo, *, tags: Sequence[str] = (), dims: dict[str, Sequence[str]] | None = None,
           project: Sequence[str] = (), since: str | None = None, until: str | None = None,
           period: str | None = None, named: Sequence[str] = (), tz_name: str | None = None,
           extra_tags: tuple[Selector, ...] = (), now: datetime | None = None) -> Selection:
    """Filters and a time range from user words; a bad word raises a QueryError saying what is wrong."""
    tz = zone(tz_name) if tz_name else tz_default
    chosen = len(named) + bool(period) + bool(since or until)
    if chosen > 1:
        raise QueryError("give one time range: a named period, a period, or since/until")
    for name in named:
        if name not in NAMED_PERIODS:
            raise QueryError(f"unknown period {name!r}: use one of {', '.join(NAMED_PERIODS)}")
    if named:
        rng = named_period(named[0], tz, now)
    elif period:
        rng = parse_period(period, tz)
    else:
        rng = Range(parse_instant(since, tz) if since else None, parse_instant(until, tz) if until else None)
    if rng.since and rng.until and rng.until <= rng.since:
        raise QueryError("the end of the time range must be after its start")
    kept = {name: tuple(v) for name, v in (dims or {}).items() if v}
    for name in kept:
        if name not in FILTER_DIMENSIONS:
            raise QueryError(f"cannot filter on {name!r}")
    selectors = tuple(Selector.parse(t) for t in tags) + extra_tags
    filters = Filters(since=rng.since, until=rng.until, tags=selectors, dims=kept, project=tuple(project))
    return Selection(filters, tz, rng)
