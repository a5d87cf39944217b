"""Where a period's spend is heading: a weekday-aware projection, a range, and the run-out day.

Pure functions over a daily series (local days, pico-USD); the caller reads the ledger.

How the projection works, for the README:

* **Rate.** Every *complete* day counts: the days of the current period before ``today`` (a
  day with no entry spent 0) and, when ``history`` is given, the days before the period
  (from its earliest entry, at most :data:`HISTORY_DAYS` back). Each weekday (Mon..Sun) gets
  its own average, so quiet weekends do not drag the weekday estimate down, nor the other
  way round; a weekday never seen falls back to the average of all the complete days.
* **Today is partial.** Its spend counts in ``spent`` but never in the rate (half a day's
  spend is not a day's, and hours differ: quiet mornings would understate it). Without
  ``now``, today is projected as the larger of what it has already cost and its weekday
  estimate; with ``now``, as what it has cost plus the estimate for the rest of the day
  (the fraction of the day not yet elapsed). Only when no complete day exists at all (the
  first day, no history) does today's spend set the rate: scaled up by the fraction of the
  day elapsed when ``now`` is given, else taken as a full day.
* **Projection** = spent so far + today's remainder + each remaining day's weekday estimate.
  Averages are ``Decimal``; the sum is rounded half-even to a whole pico-USD once.
* **Range.** Days are treated as independent: the spread of a day is the standard deviation
  of the complete days around their weekday average, and ``low``/``high`` are the 10th and
  90th percentiles of the remaining days' total under a normal approximation
  (projection ± 1.2816·σ·√days left). ``low`` never falls below what is already spent. With
  too few days to measure a spread (no complete day beyond one per weekday seen), σ is
  taken as the average day itself: a wide range, honestly so.
* **Run-out.** The first day on which the cumulative spend (actual, then projected) reaches
  ``limit``; a day in the past if the limit is already reached. ``None`` with no limit or
  when the limit is not reached by ``period_end``: the budget resets with the next period,
  so a day beyond it would mean nothing.

``period_end`` is the **last day** of the period (inclusive): March is 1 March .. 31 March.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from spendtag.errors import SpendtagError

HISTORY_DAYS = 56
"""At most this many days of ``history`` before the period are used (eight of each weekday)."""

_Z90 = Decimal("1.2815515655446004")  # the standard normal's 90th percentile
_PRECISION = 60  # Decimal digits: sums of int64 pico amounts stay exact well past any ledger
_DAY_US = 86_400_000_000


class ForecastError(SpendtagError, ValueError):
    """Inputs that do not describe a period: a day outside it, or ``today`` before it starts."""


@dataclass(frozen=True)
class Forecast:
    """A period's projected spend; every amount is pico-USD."""

    spent: int
    """Spent so far in the period, today's partial spend included."""
    projected: int
    """Expected total at the end of ``period_end``."""
    low: int
    """10th percentile of the end-of-period total (never below ``spent``)."""
    high: int
    """90th percentile of the end-of-period total."""
    run_out: date | None
    """The day the limit is (or was) reached at the current rate; ``None`` if not within the period."""
    method: str
    """How the projection was made, for people: ``weekday-aware daily average over 14 days``."""


def forecast(
    daily: Mapping[date, int],
    *,
    period_start: date,
    period_end: date,
    today: date,
    limit: int | None = None,
    history: Mapping[date, int] | None = None,
    now: datetime | None = None,
) -> Forecast:
    """Project the period's total from its days so far (see the module docstring for the method).

    ``daily`` maps each local day of the period up to ``today`` to its spend (absent = 0);
    ``history`` the days before ``period_start`` (entries on or after it are ignored: the
    period's own days come from ``daily``). ``now`` is the local wall-clock time on ``today``.
    """
    if period_end < period_start:
        raise ForecastError(f"the period ends ({period_end}) before it starts ({period_start})")
    if today < period_start:
        raise ForecastError(f"today ({today}) is before the period starts ({period_start})")
    last_known = min(today, period_end)
    for day in daily:
        if not period_start <= day <= last_known:
            raise ForecastError(f"daily spend for {day} lies outside {period_start}..{last_known}")
    if now is not None and now.date() != today:
        raise ForecastError(f"now ({now.isoformat()}) is not on today ({today})")

    spent = sum(daily.values())
    if today > period_end:  # the period is over: nothing left to project
        return Forecast(spent, spent, spent, spent, _run_out_actual(daily, period_start, period_end, limit),
                        "period over: actual spend")

    with localcontext() as ctx:
        ctx.prec = _PRECISION
        observed = _complete_days(daily, history, period_start, today)
        today_spent = daily.get(today, 0)
        elapsed = _elapsed_fraction(now) if now is not None else None
        if observed:
            by_weekday, overall = _weekday_means(observed)
            sigma = _daily_sigma(observed, by_weekday, overall)
            method = f"weekday-aware daily average over {len(observed)} day{'s' if len(observed) != 1 else ''}"
        else:
            # Nothing complete to learn from: today's spend so far is the only evidence.
            scaled = elapsed is not None and elapsed > 0
            rate = Decimal(today_spent) / elapsed if elapsed is not None and scaled else Decimal(today_spent)
            by_weekday, overall, sigma = {}, rate, abs(rate)
            method = f"today's spend {'scaled to' if scaled else 'taken as'} a full day (no complete day yet)"

        def estimate(day: date) -> Decimal:
            return by_weekday.get(day.weekday(), overall)

        # Today: what is spent plus what the rest of the day should add.
        if elapsed is None:
            today_rest = max(Decimal(0), estimate(today) - today_spent)
            days_left = Decimal(1) if today_rest > 0 else Decimal(0)
        else:
            today_rest = max(Decimal(0), estimate(today) * (1 - elapsed))
            days_left = 1 - elapsed
        remaining: list[Decimal] = [today_rest]
        day = today + timedelta(days=1)
        while day <= period_end:
            remaining.append(estimate(day))
            day += timedelta(days=1)
        days_left += len(remaining) - 1

        projected = spent + _to_pico(sum(remaining, Decimal(0)))
        half_width = _Z90 * sigma * days_left.sqrt() if days_left > 0 else Decimal(0)
        low = max(min(spent, projected), _to_pico(projected - half_width))
        high = max(projected, _to_pico(projected + half_width))
        run_out = _run_out_projected(daily, period_start, today, remaining, limit)
    return Forecast(spent, projected, low, high, run_out, method)


def _complete_days(daily: Mapping[date, int], history: Mapping[date, int] | None, period_start: date,
                   today: date) -> dict[date, int]:
    """Every complete day with its spend (absent days = 0): history's span, then the period before today."""
    days: dict[date, int] = {}
    earlier = [d for d in (history or {}) if d < period_start]
    if earlier:
        first = max(min(earlier), period_start - timedelta(days=HISTORY_DAYS))
        day = first
        while day < period_start:
            days[day] = (history or {}).get(day, 0)
            day += timedelta(days=1)
    day = period_start
    while day < today:
        days[day] = daily.get(day, 0)
        day += timedelta(days=1)
    return days


def _weekday_means(observed: Mapping[date, int]) -> tuple[dict[int, Decimal], Decimal]:
    sums: dict[int, int] = {}
    counts: dict[int, int] = {}
    for day, amount in observed.items():
        sums[day.weekday()] = sums.get(day.weekday(), 0) + amount
        counts[day.weekday()] = counts.get(day.weekday(), 0) + 1
    means = {wd: Decimal(sums[wd]) / counts[wd] for wd in sums}
    overall = Decimal(sum(sums.values())) / len(observed)
    return means, overall


def _daily_sigma(observed: Mapping[date, int], means: Mapping[int, Decimal], overall: Decimal) -> Decimal:
    """Standard deviation of a day around its weekday mean (one degree of freedom per weekday mean)."""
    dof = len(observed) - len(means)
    if dof < 1:
        return abs(overall)
    squares = sum(((amount - means[day.weekday()]) ** 2 for day, amount in observed.items()), Decimal(0))
    return (squares / dof).sqrt()


def _elapsed_fraction(now: datetime) -> Decimal:
    """Share of the (wall-clock) day gone at ``now``: 0 at midnight, just under 1 at 23:59:59."""
    us = ((now.hour * 60 + now.minute) * 60 + now.second) * 1_000_000 + now.microsecond
    return Decimal(us) / _DAY_US


def _to_pico(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def _run_out_actual(daily: Mapping[date, int], start: date, end: date, limit: int | None) -> date | None:
    if limit is None:
        return None
    total = 0
    day = start
    while day <= end:
        total += daily.get(day, 0)
        if total >= limit:
            return day
        day += timedelta(days=1)
    return None


def _run_out_projected(daily: Mapping[date, int], start: date, today: date, remaining: list[Decimal],
                       limit: int | None) -> date | None:
    """First day whose cumulative spend reaches ``limit``: actual days up to today, then the projection."""
    if limit is None:
        return None
    reached = _run_out_actual(daily, start, today, limit)
    if reached is not None:
        return reached
    total = Decimal(sum(daily.values()))
    for offset, amount in enumerate(remaining):  # remaining[0] is the rest of today
        total += amount
        if total >= limit:
            return today + timedelta(days=offset)
    return None
