"""Forecasts: weekday-aware projection, range, run-out day; exact int money throughout."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.guard.forecasts import HISTORY_DAYS, Forecast, ForecastError, forecast
from spendtag.money import PICO_PER_USD

USD = PICO_PER_USD
MARCH = {"period_start": date(2026, 3, 1), "period_end": date(2026, 3, 31)}  # 1 March 2026 is a Sunday


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def assert_ints(result: Forecast) -> None:
    for amount in (result.spent, result.projected, result.low, result.high):
        assert type(amount) is int


# -- the projection -----------------------------------------------------------------------------


@pytest.mark.parametrize("day", range(1, 31))
def test_flat_month_projects_exactly_31_days(day: int) -> None:
    today = date(2026, 3, day)
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), today)}
    result = forecast(daily, today=today, **MARCH)
    assert result.spent == day * 10 * USD
    assert result.projected == 31 * 10 * USD
    assert result.low <= result.projected <= result.high
    assert_ints(result)


def test_flat_month_has_no_spread() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 20))}
    result = forecast(daily, today=date(2026, 3, 20), **MARCH)
    assert (result.low, result.projected, result.high) == (310 * USD, 310 * USD, 310 * USD)
    assert result.method == "weekday-aware daily average over 19 days"


def weekday_only(first: date, last: date) -> dict[date, int]:
    return {d: 20 * USD for d in days(first, last) if d.weekday() < 5}


def test_weekday_only_pattern_projects_weekdays_only() -> None:
    friday = date(2026, 3, 13)
    assert friday.weekday() == 4
    result = forecast(weekday_only(date(2026, 3, 1), friday), today=friday, **MARCH)
    # Spent: the weekdays 2-6 and 9-13 March. Still to come: 16-20, 23-27, 30 and 31 March.
    assert result.spent == 10 * 20 * USD
    assert result.projected == (10 + 12) * 20 * USD
    assert result.low == result.high == result.projected  # every weekday and weekend day alike so far
    assert_ints(result)


def test_weekday_pattern_learnt_from_history_alone() -> None:
    # Monday 2 March, nothing spent on Sunday 1 March: only February's history shows the weekly shape.
    history = weekday_only(date(2026, 2, 1), date(2026, 2, 28))
    result = forecast({date(2026, 3, 2): 20 * USD}, today=date(2026, 3, 2), history=history, **MARCH)
    assert result.projected == 22 * 20 * USD  # 22 weekdays in March 2026
    # History runs from its first entry (Monday 2 February) to 28 February, then Sunday 1 March.
    assert result.method == "weekday-aware daily average over 28 days"


def test_unseen_weekday_falls_back_to_the_overall_mean() -> None:
    # Seen Wednesday 4 March with Sun 1 .. Tue 3 complete: $30 on Sunday, $0 on Monday and Tuesday.
    daily = {date(2026, 3, 1): 30 * USD, date(2026, 3, 4): 0}
    result = forecast(daily, today=date(2026, 3, 4), **MARCH)
    # Wed 4 (today, unseen weekday) and the 27 days after: Sundays 8, 15, 22, 29 at $30, Mon/Tue at $0,
    # Wednesday to Saturday unseen: the overall mean of $10.
    unseen = [d for d in days(date(2026, 3, 4), date(2026, 3, 31)) if d.weekday() in (2, 3, 4, 5)]
    assert result.projected == 30 * USD + 4 * 30 * USD + len(unseen) * 10 * USD


def test_history_on_or_after_the_period_start_is_ignored() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 10))}
    clash = {date(2026, 3, 5): 10_000 * USD}
    assert forecast(daily, today=date(2026, 3, 10), history=clash, **MARCH).projected == 310 * USD


def test_history_older_than_the_window_is_ignored() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 10))}
    old = {date(2026, 3, 1) - timedelta(days=HISTORY_DAYS + 1): 10_000 * USD}
    result = forecast(daily, today=date(2026, 3, 10), history=old, **MARCH)
    # The window starts HISTORY_DAYS before the period; those days spent nothing.
    assert result.method == f"weekday-aware daily average over {HISTORY_DAYS + 9} days"
    assert result.projected < 310 * USD


# -- today is partial ---------------------------------------------------------------------------


def ten_a_day_then(today_spent: int) -> dict[date, int]:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 9))}
    daily[date(2026, 3, 10)] = today_spent
    return daily


def test_partial_today_without_now_counts_at_least_its_estimate() -> None:
    result = forecast(ten_a_day_then(3 * USD), today=date(2026, 3, 10), **MARCH)
    assert result.spent == 93 * USD
    assert result.projected == 310 * USD  # today becomes a full $10 day, not $3


def test_partial_today_never_sets_the_rate() -> None:
    result = forecast(ten_a_day_then(100 * USD), today=date(2026, 3, 10), **MARCH)
    assert result.projected == 90 * USD + 100 * USD + 21 * 10 * USD


def test_partial_today_with_now_adds_the_rest_of_the_day() -> None:
    six_am = datetime(2026, 3, 10, 6, 0)
    result = forecast(ten_a_day_then(3 * USD), today=date(2026, 3, 10), now=six_am, **MARCH)
    # 3 spent + 3/4 of a $10 day still to come + 21 days at $10.
    assert result.projected == 90 * USD + 3 * USD + 75 * USD // 10 + 210 * USD


def test_first_day_without_history_extrapolates_today() -> None:
    first = {date(2026, 3, 1): 4 * USD}
    assert forecast(first, today=date(2026, 3, 1), **MARCH).projected == 31 * 4 * USD
    noon = datetime(2026, 3, 1, 12)
    result = forecast(first, today=date(2026, 3, 1), now=noon, **MARCH)
    assert result.projected == 31 * 8 * USD  # $4 by noon is an $8 day
    assert result.method == "today's spend scaled to a full day (no complete day yet)"
    assert result.low < result.projected < result.high  # no spread known: an honest, wide range


def test_now_must_be_today() -> None:
    with pytest.raises(ForecastError, match="not on today"):
        forecast({}, today=date(2026, 3, 10), now=datetime(2026, 3, 11, 1), **MARCH)


# -- the run-out day ----------------------------------------------------------------------------


def test_run_out_on_the_right_day() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 5))}
    run_out = forecast(daily, today=date(2026, 3, 5), limit=155 * USD, **MARCH).run_out
    assert run_out == date(2026, 3, 16)  # $150 after the 15th, $160 after the 16th
    assert forecast(daily, today=date(2026, 3, 5), limit=160 * USD, **MARCH).run_out == date(2026, 3, 16)


def test_run_out_follows_the_weekday_pattern() -> None:
    friday = date(2026, 3, 13)
    result = forecast(weekday_only(date(2026, 3, 1), friday), today=friday, limit=300 * USD, **MARCH)
    assert result.run_out == date(2026, 3, 20)  # $200 spent, then $20 a weekday: 16, 17, 18, 19, 20 March


def test_run_out_in_the_past_when_the_limit_is_already_reached() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 15))}
    assert forecast(daily, today=date(2026, 3, 15), limit=100 * USD, **MARCH).run_out == date(2026, 3, 10)


def test_no_run_out_without_a_limit_or_within_the_period() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 5))}
    assert forecast(daily, today=date(2026, 3, 5), **MARCH).run_out is None
    assert forecast(daily, today=date(2026, 3, 5), limit=311 * USD, **MARCH).run_out is None
    assert forecast(daily, today=date(2026, 3, 5), limit=310 * USD, **MARCH).run_out == date(2026, 3, 31)


# -- edges --------------------------------------------------------------------------------------


def test_period_over_projects_what_was_spent() -> None:
    daily = {d: 10 * USD for d in days(date(2026, 3, 1), date(2026, 3, 31))}
    result = forecast(daily, today=date(2026, 4, 2), limit=100 * USD, **MARCH)
    assert (result.spent, result.projected, result.low, result.high) == (310 * USD,) * 4
    assert result.run_out == date(2026, 3, 10)


def test_nothing_spent_projects_nothing() -> None:
    result = forecast({}, today=date(2026, 3, 10), limit=USD, **MARCH)
    assert (result.spent, result.projected, result.low, result.high, result.run_out) == (0, 0, 0, 0, None)


@pytest.mark.parametrize(
    ("daily", "today", "message"),
    [
        ({date(2026, 3, 11): 1}, date(2026, 3, 10), "outside"),
        ({date(2026, 2, 28): 1}, date(2026, 3, 10), "outside"),
        ({}, date(2026, 2, 28), "before the period"),
    ],
)
def test_bad_inputs_are_refused(daily: dict[date, int], today: date, message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        forecast(daily, today=today, **MARCH)


def test_a_period_must_not_end_before_it_starts() -> None:
    with pytest.raises(ForecastError, match="before it starts"):
        forecast({}, period_start=date(2026, 3, 2), period_end=date(2026, 3, 1), today=date(2026, 3, 2))


# -- properties ---------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10_000 * USD)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[date, int], dict[str, object]]:
    start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    length = draw(st.integers(1, 62))
    end = start + timedelta(days=length - 1)
    today = start + timedelta(days=draw(st.integers(0, length - 1)))
    daily = draw(st.dictionaries(st.sampled_from(days(start, today)), amounts, max_size=62))
    history = draw(st.none() | st.dictionaries(
        st.sampled_from(days(start - timedelta(days=70), start - timedelta(days=1))), amounts, max_size=70))
    now = draw(st.none() | st.times().map(lambda t: datetime.combine(today, t)))
    limit = draw(st.none() | st.integers(min_value=1, max_value=1_000_000 * USD))
    return daily, {"period_start": start, "period_end": end, "today": today, "history": history, "now": now,
                   "limit": limit}


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_forecast_invariants(scenario: tuple[dict[date, int], dict[str, object]]) -> None:
    daily, kwargs = scenario
    result = forecast(daily, **kwargs)  # type: ignore[arg-type]
    assert_ints(result)
    assert result.spent == sum(daily.values())
    assert result.spent <= result.low <= result.projected <= result.high
    limit = kwargs["limit"]
    if limit is None:
        assert result.run_out is None
    else:
        assert isinstance(limit, int)
        if result.spent >= limit:
            assert result.run_out is not None and result.run_out <= kwargs["today"]  # type: ignore[operator]
        if result.projected < limit:
            assert result.run_out is None
        if result.run_out is not None:
            assert kwargs["period_start"] <= result.run_out <= kwargs["period_end"]  # type: ignore[operator]
