"""plan(): which parts of a range come from the day/hour rollups and which from raw events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import make_event
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.ledger.plan import DAY_US, HOUR_US, QUARTER_US, Piece, plan
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.periods import TIME_GROUPS, label_function, to_us

Label = Callable[[int], str]
MINUTE_US = 60_000_000
T0 = to_us(datetime(2026, 3, 1, tzinfo=UTC))   # a UTC midnight in a month with a DST change in most zones

ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/St_Johns"]


def _constant(labels: Sequence[Label], a: int, b: int) -> bool:
    """Every label the same on every quarter hour of [a, b) (labels never change inside a UTC quarter)."""
    return all(len({f(t) for t in range(a, b, QUARTER_US)} | {f(b - 1)}) == 1 for f in labels)


def check_invariants(start: int, end: int, labels: Sequence[Label], pieces: list[Piece]) -> None:
    if start >= end:
        assert pieces == []
        return
    assert pieces[0].start == start
    assert pieces[-1].end == end
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert before.end == after.start, "gap or overlap"
        assert before.level != after.level, "adjacent same-level pieces not merged"
    for p in pieces:
        assert p.start < p.end
        assert p.level in ("day", "hour", "raw")
        if p.level == "day":
            assert p.start % DAY_US == 0 and p.end % DAY_US == 0
            for d in range(p.start, p.end, DAY_US):
                assert _constant(labels, d, d + DAY_US), f"day at {d} is not constant"
        elif p.level == "hour":
            assert p.start % HOUR_US == 0 and p.end % HOUR_US == 0
            for h in range(p.start, p.end, HOUR_US):
                assert _constant(labels, h, h + HOUR_US), f"hour at {h} is not constant"
        # The coarsest usable pieces: no whole usable day is read by hour or raw, and no
        # whole usable hour is read raw.
        if p.level != "day":
            first_day = -(-p.start // DAY_US) * DAY_US
            for d in range(first_day, p.end - DAY_US + 1, DAY_US):
                assert not _constant(labels, d, d + DAY_US), f"usable day at {d} not read from the day rollup"
        if p.level == "raw":
            first_hour = -(-p.start // HOUR_US) * HOUR_US
            for h in range(first_hour, p.end - HOUR_US + 1, HOUR_US):
                assert not _constant(labels, h, h + HOUR_US), f"usable hour at {h} read raw"


# -- examples ---------------------------------------------------------------------------------


def test_empty_and_inverted_ranges_have_no_pieces() -> None:
    assert plan(T0, T0) == []
    assert plan(T0 + 5, T0) == []


def test_whole_days_without_labels_are_one_day_piece() -> None:
    assert plan(T0, T0 + 3 * DAY_US) == [Piece("day", T0, T0 + 3 * DAY_US)]


def test_ragged_edges_are_raw_then_hours_then_days() -> None:
    start = T0 - HOUR_US - 30 * MINUTE_US     # 22:30 the day before
    end = T0 + 2 * DAY_US + 2 * HOUR_US + 7   # 02:00:00.000007 two days later
    assert plan(start, end) == [
        Piece("raw", start, T0 - HOUR_US),
        Piece("hour", T0 - HOUR_US, T0),
        Piece("day", T0, T0 + 2 * DAY_US),
        Piece("hour", T0 + 2 * DAY_US, T0 + 2 * DAY_US + 2 * HOUR_US),
        Piece("raw", T0 + 2 * DAY_US + 2 * HOUR_US, end),
    ]


def test_a_range_inside_one_hour_is_raw() -> None:
    assert plan(T0 + 10, T0 + 20) == [Piece("raw", T0 + 10, T0 + 20)]


def test_utc_day_labels_allow_day_pieces() -> None:
    labels = [label_function("day", ZoneInfo("UTC"))]
    assert plan(T0, T0 + 2 * DAY_US, labels) == [Piece("day", T0, T0 + 2 * DAY_US)]


def test_hour_labels_allow_only_hour_pieces() -> None:
    labels = [label_function("hour", ZoneInfo("UTC"))]
    assert plan(T0, T0 + DAY_US, labels) == [Piece("hour", T0, T0 + DAY_US)]


def test_berlin_days_are_read_by_hour() -> None:
    labels = [label_function("day", ZoneInfo("Europe/Berlin"))]
    assert plan(T0, T0 + DAY_US, labels) == [Piece("hour", T0, T0 + DAY_US)]


def test_kolkata_hours_are_read_raw() -> None:
    labels = [label_function("hour", ZoneInfo("Asia/Kolkata"))]
    assert plan(T0, T0 + DAY_US, labels) == [Piece("raw", T0, T0 + DAY_US)]


def test_kolkata_days_use_hours_except_the_one_holding_local_midnight() -> None:
    labels = [label_function("day", ZoneInfo("Asia/Kolkata"))]
    midnight_hour = T0 + 18 * HOUR_US        # local midnight is 18:30 UTC
    assert plan(T0, T0 + DAY_US, labels) == [
        Piece("hour", T0, midnight_hour),
        Piece("raw", midnight_hour, midnight_hour + HOUR_US),
        Piece("hour", midnight_hour + HOUR_US, T0 + DAY_US),
    ]


# -- invariants -------------------------------------------------------------------------------

label_sets = st.lists(st.tuples(st.sampled_from(TIME_GROUPS), st.sampled_from(ZONES)), max_size=2)
# Ends on whole hours, quarter hours and arbitrary microseconds, across up to ~40 days.
offsets = st.one_of(
    st.integers(min_value=0, max_value=40 * 24).map(lambda h: h * HOUR_US),
    st.integers(min_value=0, max_value=40 * 96).map(lambda q: q * QUARTER_US),
    st.integers(min_value=0, max_value=40 * DAY_US),
)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=-60, max_value=300).map(lambda d: T0 + d * DAY_US), offsets, offsets, label_sets)
def test_plan_covers_the_range_with_the_coarsest_usable_pieces(base: int, a: int, b: int,
                                                               groups: list[tuple[str, str]]) -> None:
    labels = [label_function(g, ZoneInfo(z)) for g, z in groups]
    start, end = base + min(a, b), base + max(a, b)
    check_invariants(start, end, labels, plan(start, end, labels))


@pytest.mark.parametrize(("zone", "day"), [("Asia/Kolkata", (2026, 3, 2)), ("Asia/Kathmandu", (2026, 3, 2)),
                                           ("Europe/Berlin", (2026, 3, 29)), ("America/New_York", (2026, 3, 8))])
def test_hour_of_day_never_reads_a_whole_day_as_one_bucket(zone: str, day: tuple[int, int, int]) -> None:
    start = to_us(datetime(*day, tzinfo=UTC))
    labels = [label_function("hour-of-day", ZoneInfo(zone))]
    check_invariants(start, start + DAY_US, labels, plan(start, start + DAY_US, labels))


def test_report_by_hour_of_day_in_kolkata_splits_the_day(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "plan.db") as store:
        store.record([make_event("a", datetime(2026, 3, 2, 0, 10, tzinfo=UTC)),    # 05:40 IST
                      make_event("b", datetime(2026, 3, 2, 12, 0, tzinfo=UTC))])   # 17:30 IST
        groups = store.aggregate(Filters(), by=["hour-of-day"], tz=ZoneInfo("Asia/Kolkata"))
        assert sorted((a.key, a.totals.requests) for a in groups) == [(("05:00",), 1), (("17:00",), 1)]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=3 * DAY_US), st.integers(min_value=0, max_value=3 * DAY_US))
def test_plan_without_labels_covers_any_range(a: int, b: int) -> None:
    start, end = T0 + min(a, b), T0 + max(a, b)
    check_invariants(start, end, [], plan(start, end))
