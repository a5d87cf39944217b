"""Anomaly detection on generated history: noisy agents stay quiet, runaways and cost jumps are flagged."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.guard.anomalies import (
    Anomaly,
    Settings,
    baseline,
    detect,
    floor_hour,
    hourly_series,
    level,
    split_at,
)
from spendtag.money import PICO_PER_USD

USD = PICO_PER_USD
START = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

# Calls per hour by UTC hour of day: quiet nights (a call now and then), a morning ramp, busy days.
PATTERN = (1, 0.5, 0.5, 0.5, 0.5, 1, 3, 8, 20, 40, 55, 60, 50, 55, 60, 55, 45, 35, 20, 12, 8, 5, 3, 2)
BUSY_CALLS = max(PATTERN)
COST_PER_CALL = 50_000_000_000  # $0.05, the median of a call's cost


Series = dict[datetime, tuple[int, int]]


def noisy_agent(seed: int, *, days: int = 30, cost_per_call: int = COST_PER_CALL) -> Series:
    """A normal but noisy agent: a daily pattern, hour-to-hour lognormal noise, 3x bursts in 3% of hours.

    Each hour's workload is its pattern value times lognormal noise (sigma 0.4: most hours between
    half and twice the usual), or, in a burst, three times the usual. Each call's cost is lognormal
    too (sigma 0.6: a long prompt now and then). Quiet hours make a call with a probability.
    """
    rng = random.Random(seed)
    series: Series = {}
    for h in range(days * 24):
        hour = START + h * HOUR
        if rng.random() < 0.03:
            expected = PATTERN[hour.hour] * 3 * rng.lognormvariate(0, 0.1)
        else:
            expected = PATTERN[hour.hour] * rng.lognormvariate(0, 0.4)
        calls = round(expected) if expected >= 1 else int(rng.random() < expected)
        if calls:
            series[hour] = (sum(round(cost_per_call * rng.lognormvariate(0, 0.6)) for _ in range(calls)), calls)
    return series


def day_of(series: Series, day: int) -> Series:
    return {h: v for h, v in series.items() if START + day * DAY <= h < START + (day + 1) * DAY}


def before(series: Series, at: datetime) -> Series:
    return {h: v for h, v in series.items() if h < at}


def with_runaway(series: Series, at: datetime, *, factor: int = 50, seed: int = 99) -> Series:
    """A retry loop from ``at`` on: ``factor`` x the agent's usual busy hour, in calls and spend."""
    rng = random.Random(seed)
    out = dict(series)
    for h in range(6):
        hour = at + h * HOUR
        calls = factor * BUSY_CALLS
        out[hour] = (sum(round(COST_PER_CALL * rng.lognormvariate(0, 0.6)) for _ in range(calls)), calls)
    return out


# -- the noisy agent is left alone --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_noisy_agent_is_not_flagged_over_30_days(seed: int) -> None:
    series = noisy_agent(seed)
    flagged: list[Anomaly] = []
    for day in range(30):
        flagged += detect(before(series, START + day * DAY), day_of(series, day), scope="noisy")
    assert flagged == []
    # The generator really is noisy: bursts well above the usual busy hour happened.
    assert max(spend for spend, _ in series.values()) > 2 * BUSY_CALLS * COST_PER_CALL


# -- runaways -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "hour"), [(1, 3), (1, 14), (6, 9), (13, 23), (20, 3), (29, 14)])
def test_runaway_is_flagged_within_its_first_hour(day: int, hour: int) -> None:
    at = START + day * DAY + hour * HOUR
    series = with_runaway(noisy_agent(seed=7), at)
    found = detect(before(series, START + day * DAY), day_of(series, day), scope="planner")
    assert found, "the runaway went unnoticed"
    assert found[0].hour == at  # not before it starts, and within its first hour
    assert {a.kind for a in found if a.hour == at} == {"spend", "request_rate"}
    spend = next(a for a in found if a.hour == at and a.kind == "spend")
    assert spend.value == series[at][0]
    assert isinstance(spend.value, int) and isinstance(spend.baseline, int)
    assert spend.ratio >= 10 and spend.score >= 6


def test_runaway_without_history_is_caught_by_the_absolute_rule() -> None:
    at = START + 15 * HOUR
    series = with_runaway(noisy_agent(seed=3, days=1), at)
    found = detect(before(series, START), day_of(series, 0), scope="new-agent")
    assert [a.kind for a in found if a.hour == at] == ["spend", "request_rate"]
    assert all(a.score == 0.0 for a in found)
    assert "too little history" in found[0].explanation
    assert found[0].baseline == Settings().new_scope_spend


def test_judged_hours_never_feed_their_own_baseline() -> None:
    at = START + 10 * DAY + 14 * HOUR
    series = with_runaway(noisy_agent(seed=5), at)
    recent = {h: v for h, v in series.items() if h >= at}
    # History that (wrongly) includes the runaway hours gives the same answer as history that does not.
    assert detect(series, recent, scope="x") == detect(before(series, at), recent, scope="x")
    assert detect(series, recent, scope="x")[0].hour == at


# -- cost per call ------------------------------------------------------------------------------


def test_cost_per_call_jump_after_a_code_change_is_flagged() -> None:
    day = 10
    change = START + day * DAY + 13 * HOUR
    series = noisy_agent(seed=11)
    for hour, (spend, calls) in list(series.items()):
        if hour >= change:
            series[hour] = (spend * 10, calls)  # the same calls, each ten times the price
    found = detect(before(series, START + day * DAY), day_of(series, day), scope="summariser")
    first = [a for a in found if a.hour == change]
    assert "cost_per_call" in {a.kind for a in first}
    assert "request_rate" not in {a.kind for a in found}
    cpc = next(a for a in first if a.kind == "cost_per_call")
    assert isinstance(cpc.value, Decimal) and isinstance(cpc.baseline, Decimal)
    assert cpc.value == (Decimal(series[change][0]) / series[change][1]).quantize(Decimal("0.001"))
    assert Decimal(8) <= cpc.ratio <= Decimal(13)
    assert cpc.explanation.startswith("summariser's calls cost $")
    assert f"{series[change][1]:,} calls" in cpc.explanation
    assert not any(a.hour < change for a in found)


def test_one_expensive_call_is_not_a_cost_per_call_anomaly() -> None:
    series = noisy_agent(seed=2)
    at = START + 10 * DAY + 3 * HOUR  # a quiet hour: one call, at 40x the usual price
    recent = {at: (40 * COST_PER_CALL, 1)}
    assert [a.kind for a in detect(before(series, at), recent, scope="x")] == []


# -- tiny scopes --------------------------------------------------------------------------------


def test_tiny_scope_is_not_flagged_even_when_it_jumps() -> None:
    cheap = 10_000_000  # $0.00001 a call: a busy hour costs well under a cent
    series = noisy_agent(seed=4, cost_per_call=cheap)
    day = 12
    at = START + day * DAY + 14 * HOUR
    history = before(series, START + day * DAY)
    # 50x the calls and 20x the price per call: $0.60, not worth waking anyone.
    recent = {at: (50 * BUSY_CALLS * cheap * 20, 50 * BUSY_CALLS)}
    assert detect(history, recent, scope="tiny") == []
    # The same jump in a scope that spends dollars is flagged on every count.
    assert {a.kind for a in detect(history, recent, scope="tiny", settings=Settings(min_amount=0))} == {
        "spend", "cost_per_call", "request_rate"}


# -- explanations -------------------------------------------------------------------------------


def steady(hours: int, spend: int, calls: int) -> Series:
    return {START + h * HOUR: (spend, calls) for h in range(hours)}


def test_explanations_name_scope_amount_and_ratio() -> None:
    history = steady(48, 3 * USD, 20)  # $3.00 an hour, 20 calls, every hour
    at = START + 48 * HOUR + 3 * HOUR
    found = detect(history, {at: (42_100_000_000_000, 700)}, scope="planner")
    assert [a.kind for a in found] == ["spend", "request_rate"]  # cheaper calls, just far too many of them
    spend, rate = found
    assert spend.explanation == (
        "planner spent $42.10 in the hour from 2026-03-04 03:00 UTC, 14x its usual $3.00 an hour")
    assert spend.ratio == Decimal("14.033")
    assert rate.explanation == (
        "planner made 700 calls in the hour from 2026-03-04 03:00 UTC, 35x its usual 20 an hour, "
        "as a retry loop would ($42.10 spent)")
    assert all(math.isfinite(a.score) for a in found)


def test_small_ratios_read_with_one_decimal() -> None:
    history = steady(48, 2 * USD, 5)
    found = detect(history, {START + 50 * HOUR: (15 * USD, 5)}, scope="a")
    assert [a.kind for a in found] == ["spend", "cost_per_call"]
    assert found[0].explanation == "a spent $15.00 in the hour from 2026-03-04 02:00 UTC, 7.5x its usual $2.00 an hour"
    assert found[1].explanation == ("a's calls cost $3.00 each in the hour from 2026-03-04 02:00 UTC, "
                                    "7.5x its usual $0.40 per call (5 calls, $15.00 in all)")


# -- baselines ----------------------------------------------------------------------------------


def test_mad_of_zero_still_gives_a_finite_score() -> None:
    history = steady(48, USD, 10)  # every hour identical: the MAD is 0
    at = START + 48 * HOUR
    assert detect(history, {at: (USD + USD // 5, 10)}, scope="cron") == []  # 1.2x: nothing
    found = detect(history, {at: (10 * USD, 10)}, scope="cron")
    assert [a.kind for a in found] == ["spend", "cost_per_call"]
    assert all(math.isfinite(a.score) and a.score > 6 for a in found)


def test_baseline_needs_enough_history() -> None:
    assert baseline({}) is None
    assert baseline(steady(23, USD, 1)) is None
    assert baseline({START: (0, 0), START + 30 * HOUR: (0, 0)}) is None  # long enough, but never active
    base = baseline(steady(24, USD, 4))
    assert base is not None
    assert (base.hours, base.active_hours) == (24, 24)
    assert base.spend.median == USD
    assert base.cost_per_call is not None and base.cost_per_call.median == USD / 4


def test_hour_of_day_only_raises_the_bar() -> None:
    series = noisy_agent(seed=1, days=20)
    base = baseline(series)
    assert base is not None and base.spend_by_hour is not None
    busy = base.spend_at(START.replace(hour=14))
    night = base.spend_at(START.replace(hour=3))
    assert busy.median > base.spend.median  # afternoons are compared with afternoons
    assert night == base.spend  # nights with the usual working hour, not with a quiet night
    # Absent hours count as zero: a scope that ran one hour in two has a median hour of half that.
    sparse = {START + 2 * h * HOUR: (USD, 1) for h in range(24)}
    sparse_base = baseline(sparse, until=START + 48 * HOUR)
    assert sparse_base is not None and sparse_base.hours == 48 and sparse_base.active_hours == 24


def test_level_statistics() -> None:
    lv = level([1, 2, 3, 4, 100])
    assert (lv.median, lv.mad, lv.peak, lv.samples) == (3, 1, 100, 5)
    assert lv.spread == Decimal("1.4826")
    assert level([5, 5, 5, 5]).spread == Decimal(1)  # MAD 0, mean deviation 0: the floor
    assert level([0, 0, 0, 10]).spread == Decimal("2.5") * Decimal("1.2533")  # MAD 0: mean deviation
    with pytest.raises(ValueError):
        level([])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**18), min_size=1, max_size=200))
def test_level_invariants(values: list[int]) -> None:
    lv = level(values)
    assert min(values) <= lv.median <= max(values)
    assert lv.median <= lv.peak <= max(values)
    assert lv.spread > 0
    assert lv.score(lv.median) == 0.0
    assert math.isfinite(lv.score(max(values) * 1000))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(0, 72), st.tuples(st.integers(0, 10**14), st.integers(0, 500)), max_size=73),
       st.integers(0, 10**15), st.integers(0, 5000))
def test_detect_invariants(hours: dict[int, tuple[int, int]], spend: int, calls: int) -> None:
    history = {START + h * HOUR: v for h, v in hours.items()}
    at = START + 73 * HOUR
    for anomaly in detect(history, {at: (spend, calls)}, scope="s"):
        assert anomaly.hour == at and anomaly.scope == "s"
        assert anomaly.explanation.startswith("s ") or anomaly.explanation.startswith("s's ")
        if anomaly.kind == "spend":
            assert anomaly.value == spend and spend >= Settings().min_amount
        if anomaly.kind == "request_rate":
            assert anomaly.value == calls


# -- helpers ------------------------------------------------------------------------------------


def test_hourly_series_and_split() -> None:
    calls = [
        (datetime(2026, 3, 2, 10, 5, tzinfo=UTC), 100),
        (datetime(2026, 3, 2, 10, 59, 59, tzinfo=UTC), 50),
        (datetime(2026, 3, 2, 11, 0), 7),  # naive: taken as UTC
    ]
    series = hourly_series(calls)
    assert series == {START + 10 * HOUR: (150, 2), START + 11 * HOUR: (7, 1)}
    history, recent = split_at(series, datetime(2026, 3, 2, 11, 30, tzinfo=UTC))
    assert history == {START + 10 * HOUR: (150, 2)}
    assert recent == {START + 11 * HOUR: (7, 1)}
    assert floor_hour(datetime(2026, 3, 2, 12, 30, tzinfo=UTC)) == START + 12 * HOUR


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        Settings(min_ratio=Decimal(1))
    with pytest.raises(ValueError):
        Settings(min_history_hours=0)
    assert detect(steady(48, USD, 1), {}, scope="x") == []
