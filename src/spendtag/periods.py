"""Time: report periods (``--this-month``, ``--period 2026-03``) and time-bucket labels.

Periods are calendar periods in the user's time zone, returned as half-open UTC ranges
``[since, until)``. Labels are computed from local time, so a day is the user's day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spendtag.errors import SpendtagError

TIME_GROUPS: tuple[str, ...] = ("hour", "day", "week", "month", "hour-of-day", "weekday")
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class PeriodError(SpendtagError, ValueError):
    """A date, period or time zone that cannot be read."""


def zone(name: str | None) -> ZoneInfo:
    """An IANA time zone; ``None``/``""``/``"UTC"`` give UTC. ``"local"`` is the machine's zone."""
    if not name or name.upper() == "UTC":
        return ZoneInfo("UTC")
    if name == "local":
        local = datetime.now().astimezone().tzinfo
        key = getattr(local, "key", None)
        return ZoneInfo(key) if key else ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None


@dataclass(frozen=True, slots=True)
class Range:
    """A half-open UTC range; either end may be open (None)."""

    since: datetime | None = None
    until: datetime | None = None

    def label(self, tz: ZoneInfo) -> str:
        def fmt(ts: datetime | None) -> str:
            return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M") if ts else "…"
        return f"{fmt(self.since)} – {fmt(self.until)}"


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """``2026-03-14``, ``2026-03-14T10:00``, ``2026-03-14T10:00:00Z`` or with an offset; naive = local zone."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _local_midnight(date.fromisoformat(text), tz)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise PeriodError(f"cannot read the time {text!r}: use 2026-03-14 or 2026-03-14T10:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def month_range(year: int, month: int, tz: ZoneInfo) -> Range:
    start = _local_midnight(date(year, month, 1), tz)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return Range(start, _local_midnight(nxt, tz))


def parse_period(text: str, tz: ZoneInfo) -> Range:
    """``2026-03`` (a month), ``2026-03-14`` (a day), ``2026`` (a year) or ``2026-W11`` (an ISO week)."""
    try:
        return _parse_period(text.strip(), tz)
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"no such period {text.strip()!r}: {exc}") from None


def _parse_period(text: str, tz: ZoneInfo) -> Range:
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month} in {text!r}")
        return month_range(year, month, tz)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        return Range(_local_midnight(day, tz), _local_midnight(day + timedelta(days=1), tz))
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        return Range(_local_midnight(date(year, 1, 1), tz), _local_midnight(date(year + 1, 1, 1), tz))
    if m := re.fullmatch(r"(\d{4})-W(\d{2})", text):
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return Range(_local_midnight(monday, tz), _local_midnight(monday + timedelta(days=7), tz))
    raise PeriodError(f"cannot read the period {text!r}: use 2026-03, 2026-03-14, 2026-W11 or 2026")


def named_period(name: str, tz: ZoneInfo, now: datetime | None = None) -> Range:
    """today, yesterday, this-week, last-week, this-month, last-month, last-7-days, last-30-days."""
    now = (now or datetime.now(UTC)).astimezone(tz)
    today = now.date()
    if name == "today":
        return Range(_local_midnight(today, tz), _local_midnight(today + timedelta(days=1), tz))
    if name == "yesterday":
        return Range(_local_midnight(today - timedelta(days=1), tz), _local_midnight(today, tz))
    if name in ("this-week", "last-week"):
        monday = today - timedelta(days=today.weekday())
        if name == "last-week":
            monday -= timedelta(days=7)
        return Range(_local_midnight(monday, tz), _local_midnight(monday + timedelta(days=7), tz))
    if name == "this-month":
        return month_range(today.year, today.month, tz)
    if name == "last-month":
        first = today.replace(day=1) - timedelta(days=1)
        return month_range(first.year, first.month, tz)
    if m := re.fullmatch(r"last-(\d+)-days", name):
        days = int(m[1])
        return Range(_local_midnight(today - timedelta(days=days - 1), tz),
                     _local_midnight(today + timedelta(days=1), tz))
    raise PeriodError(f"unknown period {name!r}")


def _label_hour(local: datetime) -> str:
    return local.strftime("%Y-%m-%d %H:00")


def _label_week(local: datetime) -> str:
    iso = local.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


_LABELS: dict[str, Callable[[datetime], str]] = {
    "hour": _label_hour,
    "day": lambda local: local.strftime("%Y-%m-%d"),
    "week": _label_week,
    "month": lambda local: local.strftime("%Y-%m"),
    "hour-of-day": lambda local: local.strftime("%H:00"),
    "weekday": lambda local: WEEKDAYS[local.weekday()],
}


def time_label(group: str, ts: datetime, tz: ZoneInfo) -> str:
    """The label of the time bucket ``ts`` falls in, in zone ``tz``."""
    return _LABELS[group](ts.astimezone(tz))


def label_function(group: str, tz: ZoneInfo) -> Callable[[int], str]:
    """A cached ``microseconds-since-epoch -> label`` function for one group and zone."""
    label = _LABELS[group]
    cache: dict[int, str] = {}

    def at(us: int) -> str:
        # Every zone offset in use is a multiple of 15 minutes, so labels are constant
        # within each UTC quarter hour: cache on it.
        quarter = us // 900_000_000
        found = cache.get(quarter)
        if found is None:
            found = label(datetime.fromtimestamp(quarter * 900, UTC).astimezone(tz))
            cache[quarter] = found
        return found

    at.monotonic = group in MONOTONIC  # type: ignore[attr-defined]
    return at


# Groups whose labels sort as time runs (a label never comes round again): see ledger/plan.py.
MONOTONIC = frozenset(("hour", "day", "week", "month"))


def sort_key(group: str, label: str | None) -> tuple[int, str]:
    """Chronological order for time labels (weekday labels in Mon..Sun order)."""
    if label is None:
        return (99, "")
    if group == "weekday" and label in WEEKDAYS:
        return (WEEKDAYS.index(label), label)
    return (0, label)


def to_us(ts: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch (the ledger's time unit)."""
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def duration_text(seconds: float) -> str:
    """A length of time as people read it: ``45 s``, ``12 min``, ``9 h 33 min``, ``2 d 4 h`` (rounded down)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
