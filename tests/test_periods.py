"""Calendar periods in the user's zone as UTC ranges, and time-bucket labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.periods import (
    TIME_GROUPS,
    WEEKDAYS,
    PeriodError,
    Range,
    from_us,
    label_function,
    named_period,
    parse_instant,
    parse_period,
    sort_key,
    time_label,
    to_us,
    zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
FAST = settings(max_examples=200, deadline=None)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- zones and instants -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "", "UTC", "utc"])
def test_zone_defaults_to_utc(name: str | None) -> None:
    assert zone(name) == ZoneInfo("UTC")


def test_zone_by_name_and_unknown_zone() -> None:
    assert zone("Asia/Kathmandu") == ZoneInfo("Asia/Kathmandu")
    with pytest.raises(PeriodError, match=r"unknown time zone 'Mars/Olympus'.*Europe/Berlin"):
        zone("Mars/Olympus")


def test_zone_local_is_a_zone() -> None:
    assert isinstance(zone("local"), ZoneInfo)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-14", utc(2026, 3, 13, 23)),
        ("2026-07-14", utc(2026, 7, 13, 22)),
        ("2026-03-14T10:00", utc(2026, 3, 14, 9)),
        ("2026-03-14 10:00", utc(2026, 3, 14, 9)),
        ("2026-03-14T10:00:00Z", utc(2026, 3, 14, 10)),
        ("2026-03-14T10:00:00+05:45", utc(2026, 3, 14, 4, 15)),
        (" 2026-03-29T03:30 ", utc(2026, 3, 29, 1, 30)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    result = parse_instant(text, BERLIN)
    assert result == expected
    assert result.tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "14/03/2026", ""])
def test_parse_instant_refuses_nonsense(text: str) -> None:
    with pytest.raises(PeriodError, match="use 2026-03-14 or 2026-03-14T10:00:00Z"):
        parse_instant(text, BERLIN)


# -- periods across DST changes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-03", utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),       # spring forward on the 29th
        ("2026-10", utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)),      # fall back on the 25th
        ("2026-12", utc(2026, 11, 30, 23), utc(2026, 12, 31, 23)),
        ("2026-03-29", utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),    # 23 hours
        ("2026-10-25", utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # 25 hours
        ("2026-03-14", utc(2026, 3, 13, 23), utc(2026, 3, 14, 23)),
        ("2026-W13", utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)),      # Mon 23 Mar .. Mon 30 Mar
        ("2026-W01", utc(2025, 12, 28, 23), utc(2026, 1, 4, 23)),      # ISO week 1 starts in 2025
        ("2026-W53", utc(2026, 12, 27, 23), utc(2027, 1, 3, 23)),
        ("2026", utc(2025, 12, 31, 23), utc(2026, 12, 31, 23)),
    ],
)
def test_parse_period_in_berlin(text: str, since: datetime, until: datetime) -> None:
    assert parse_period(text, BERLIN) == Range(since, until)


def test_day_lengths_follow_the_local_clock() -> None:
    def hours(text: str) -> float:
        r = parse_period(text, BERLIN)
        assert r.since is not None and r.until is not None
        return (r.until - r.since) / timedelta(hours=1)

    assert hours("2026-03-29") == 23
    assert hours("2026-10-25") == 25
    assert hours("2026-03-30") == 24
    assert hours("2026-03") == 31 * 24 - 1
    assert hours("2026-W13") == 7 * 24 - 1
    assert hours("2026") == 365 * 24


def test_parse_period_in_utc_and_kathmandu() -> None:
    assert parse_period("2026-02", ZoneInfo("UTC")) == Range(utc(2026, 2, 1), utc(2026, 3, 1))
    assert parse_period("2026-02-01", ZoneInfo("Asia/Kathmandu")) == Range(
        utc(2026, 1, 31, 18, 15), utc(2026, 2, 1, 18, 15)
    )


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-03", "March", "2026-W1", ""])
def test_parse_period_refuses_bad_text(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, BERLIN)


@pytest.mark.parametrize("text", ["2026-02-30", "2025-W53", "2026-W00"])
def test_parse_period_refuses_impossible_dates_with_a_period_error(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, BERLIN)


def test_range_label() -> None:
    assert parse_period("2026-03-29", BERLIN).label(BERLIN) == "2026-03-29 00:00 – 2026-03-30 00:00"
    assert Range(None, utc(2026, 1, 1)).label(ZoneInfo("UTC")) == "… – 2026-01-01 00:00"


# -- named periods ----------------------------------------------------------------------------

# Tuesday 31 March 2026, 00:30 in Berlin (still Monday 30 March in UTC).
NOW = utc(2026, 3, 30, 22, 30)


@pytest.mark.parametrize(
    ("name", "since", "until"),
    [
        ("today", utc(2026, 3, 30, 22), utc(2026, 3, 31, 22)),
        ("yesterday", utc(2026, 3, 29, 22), utc(2026, 3, 30, 22)),
        ("this-week", utc(2026, 3, 29, 22), utc(2026, 4, 5, 22)),
        ("last-week", utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)),
        ("this-month", utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        ("last-month", utc(2026, 1, 31, 23), utc(2026, 2, 28, 23)),
        ("last-7-days", utc(2026, 3, 24, 23), utc(2026, 3, 31, 22)),
        ("last-30-days", utc(2026, 3, 1, 23), utc(2026, 3, 31, 22)),
    ],
)
def test_named_period_with_now_injected(name: str, since: datetime, until: datetime) -> None:
    assert named_period(name, BERLIN, now=NOW) == Range(since, until)


def test_named_period_depends_on_the_zone() -> None:
    assert named_period("today", ZoneInfo("UTC"), now=NOW) == Range(utc(2026, 3, 30), utc(2026, 3, 31))


def test_last_month_in_january_is_december() -> None:
    assert named_period("last-month", ZoneInfo("UTC"), now=utc(2026, 1, 15)) == Range(
        utc(2025, 12, 1), utc(2026, 1, 1)
    )


def test_named_period_unknown() -> None:
    with pytest.raises(PeriodError, match="unknown period 'next-week'"):
        named_period("next-week", BERLIN, now=NOW)


# -- labels -----------------------------------------------------------------------------------


def test_time_label_examples_in_berlin() -> None:
    ts = utc(2026, 3, 29, 1, 30)   # 03:30 CEST, just after the clocks went forward
    assert {g: time_label(g, ts, BERLIN) for g in TIME_GROUPS} == {
        "hour": "2026-03-29 03:00",
        "day": "2026-03-29",
        "week": "2026-W13",
        "month": "2026-03",
        "hour-of-day": "03:00",
        "weekday": "Sun",
    }


def test_time_label_week_at_a_year_boundary() -> None:
    assert time_label("week", utc(2027, 1, 1, 12), ZoneInfo("UTC")) == "2026-W53"
    assert time_label("week", utc(2025, 12, 29, 12), ZoneInfo("UTC")) == "2026-W01"


def test_time_label_kathmandu_quarter_offset() -> None:
    assert time_label("hour", utc(2026, 3, 14, 10, 14), ZoneInfo("Asia/Kathmandu")) == "2026-03-14 15:00"
    assert time_label("hour", utc(2026, 3, 14, 10, 15), ZoneInfo("Asia/Kathmandu")) == "2026-03-14 16:00"


ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/St_Johns", "Pacific/Apia", "America/Sao_Paulo"]
# Since 1980 every zone's offset has been a whole number of quarter hours (before that, e.g.
# Africa/Monrovia at -0:44:30), which is what label_function's cache relies on.
instants = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@FAST
@given(instants, st.sampled_from(TIME_GROUPS), st.sampled_from(ZONES))
def test_label_function_agrees_with_time_label(ts: datetime, group: str, name: str) -> None:
    tz = ZoneInfo(name)
    assert label_function(group, tz)(to_us(ts)) == time_label(group, ts, tz)


def test_label_function_reuses_its_cache_correctly() -> None:
    tz = ZoneInfo("Asia/Kathmandu")
    label = label_function("hour", tz)
    base = to_us(utc(2026, 3, 14, 10))
    for minutes in range(0, 120, 7):
        us = base + minutes * 60_000_000
        assert label(us) == time_label("hour", from_us(us), tz)
        assert label(us + 59_999_999) == time_label("hour", from_us(us + 59_999_999), tz)


def test_sort_key_orders_weekdays_monday_first_and_none_last() -> None:
    labels = ["Sun", "Wed", None, "Mon", "Sat"]
    assert sorted(labels, key=lambda x: sort_key("weekday", x)) == ["Mon", "Wed", "Sat", "Sun", None]
    assert sorted(["2026-03", None, "2025-12"], key=lambda x: sort_key("month", x)) == ["2025-12", "2026-03", None]
    assert [sort_key("weekday", d)[0] for d in WEEKDAYS] == list(range(7))


@FAST
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_to_us_and_from_us_round_trip(ts: datetime) -> None:
    us = to_us(ts)
    assert from_us(us) == ts
    assert to_us(from_us(us)) == us
    assert us == (ts - utc(1970, 1, 1)) // timedelta(microseconds=1)


def test_to_us_examples() -> None:
    assert to_us(utc(1970, 1, 1)) == 0
    assert to_us(utc(1969, 12, 31, 23, 59, 59, 999_999)) == -1
    assert to_us(datetime(2026, 3, 14, 10)) == to_us(utc(2026, 3, 14, 10))    # naive is UTC
    assert to_us(datetime(2026, 3, 14, 11, tzinfo=BERLIN)) == to_us(utc(2026, 3, 14, 10))
