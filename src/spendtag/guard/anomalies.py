"""Anomaly detection: spend, cost per call or request rate far outside a scope's own baseline.

How the detector works
----------------------
Each scope (an agent, a client, any tag value) is judged against **its own history** only,
one UTC hour at a time. From the hours before the hours being judged (never from those
hours themselves) it learns what is usual; an hour with no calls counts as zero.

* **Usual spend per hour**: the median spend of the hours in which the scope ran at all,
  with its spread measured by the median absolute deviation (MAD), which past bursts and
  incidents barely move. Each hour of the day also gets its own median (that hour and its
  two neighbours, over every day of history), used where it is *higher*: a busy afternoon
  is compared with earlier afternoons, while work at an unusual hour is compared with an
  ordinary working hour rather than with a quiet night.
* **Usual cost per call**: the median of each hour's spend divided by its calls (over hours
  with at least 5 calls, so that one odd call does not count as an hour's typical cost).
* **Usual calls per hour**: as for spend.

An hour is flagged as

* ``spend`` when its spend is at least **5x** the usual, at least **6 robust standard
  deviations** (MAD x 1.4826) above it, at least **$1** above it (scopes that spend cents
  never alarm), and at least **2x** the busiest usual hour (the 99th percentile of the
  history), so that a burst like the ones the scope has had before does not alarm;
* ``cost_per_call`` when, over at least 5 calls, the calls cost at least 5x the usual per
  call with the same score and peak tests, and the excess came to at least $1 in the hour:
  the signature of a code change that made every call bigger (a longer prompt, a pricier
  model);
* ``request_rate`` when it made at least **10x** its usual calls per hour, at least **60**
  calls and 2x its busiest usual hour's calls, and spent at least $1 above the usual: the
  signature of a retry loop.

All thresholds are :class:`Settings`. A scope with less than 24 hours of history has no
baseline; it is flagged only by a conservative absolute rule: $20 or more in one hour, or
600 calls or more in one hour. One hour can be flagged for several kinds at once (a retry
loop shows as ``spend`` and ``request_rate``), each with a sentence a person can act on:
"planner spent $42.10 in the hour from 2026-03-14 03:00 UTC, 14x its usual $3.00 an hour".

What it will not catch
----------------------
* **Slow drifts.** Spend that doubles week after week moves the baseline with it. Budgets
  and their forecasts are the guard for that.
* **Changes under the thresholds.** A scope that now spends 3x its usual every hour, or
  twice its busiest hour, is expensive but not flagged, by design: noisy agents do that on
  a busy day.
* **A scope with no history.** Until it has 24 hours of history only the absolute rule
  applies, so a new agent may spend up to $20 an hour unnoticed.
* **Spend split across many scopes.** Each scope is judged alone: twenty agents that each
  spend 4x their usual are not flagged, though together they cost a lot. Judge the parent
  scope (the client, or everything) as well.
* **Repeats of long incidents.** An incident that filled more than 1% of the history (a
  retry loop that ran all night) becomes part of what is usual until it ages out.
* **Anything inside an hour.** The hour is the unit: a loop is seen when its first hour is
  judged (the current, partial hour can be judged as it stands), not after its first minute.
* **Money saved.** Drops in spend, calls or cost per call are not anomalies here.
* **Free calls.** A loop on a model that costs nothing never passes the $1 test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from spendtag.money import PICO_PER_USD, format_usd

HOUR = timedelta(hours=1)
KINDS: tuple[str, ...] = ("spend", "cost_per_call", "request_rate")

_MAD_TO_SIGMA = Decimal("1.4826")  # MAD x this = standard deviation, for normal data
_MEAN_AD_TO_SIGMA = Decimal("1.2533")  # mean absolute deviation x this = standard deviation
_PRECISION = 50
_THOUSANDTH = Decimal("0.001")

Hourly = Mapping[datetime, tuple[int, int]]
"""UTC hour -> (spend in pico-USD, calls)."""


@dataclass(frozen=True)
class Settings:
    """Thresholds: an hour must pass every test of a kind to be flagged."""

    min_ratio: Decimal = Decimal(5)
    """Spend (or cost per call) at least this many times the usual ..."""
    min_score: float = 6.0
    """... and a robust z-score at least this high ..."""
    min_amount: int = PICO_PER_USD
    """... and at least this much money (pico-USD) above the usual in the hour, so tiny scopes never alarm ..."""
    peak_ratio: Decimal = Decimal(2)
    """... and at least this many times the busiest usual hour (the 99th percentile of the history), so a
    burst like those the scope has had before does not alarm; 0 turns this test off."""
    rate_ratio: Decimal = Decimal(10)
    """Request rate: calls at least this many times the usual calls per hour ..."""
    rate_min_calls: int = 60
    """... and at least this many calls in the hour (plus the ``min_amount`` and ``peak_ratio`` tests)."""
    cost_min_calls: int = 5
    """Cost per call is judged only over at least this many calls in the hour (one huge call is not a trend)."""
    min_history_hours: int = 24
    """Hours of history needed for a baseline; with less, only the absolute rule below applies."""
    pattern_days: int = 1
    """Days of history from which each hour of the day also gets its own baseline (it only ever raises the bar)."""
    new_scope_spend: int = 20 * PICO_PER_USD
    """Absolute rule, without a baseline: this much spend in one hour is flagged."""
    new_scope_calls: int = 600
    """Absolute rule, without a baseline: this many calls in one hour are flagged."""

    def __post_init__(self) -> None:
        if self.min_ratio <= 1 or self.rate_ratio <= 1:
            raise ValueError("min_ratio and rate_ratio must be above 1")
        if self.peak_ratio < 0 or self.min_amount < 0:
            raise ValueError("peak_ratio and min_amount must not be negative")
        if self.min_history_hours < 1 or self.pattern_days < 1:
            raise ValueError("min_history_hours and pattern_days must be at least 1")


@dataclass(frozen=True)
class Level:
    """A robust summary of one quantity over some hours."""

    median: Decimal
    mad: Decimal
    """Median absolute deviation from the median."""
    spread: Decimal
    """A robust standard deviation: MAD x 1.4826, or a fallback when the MAD is 0 (see :func:`level`)."""
    peak: Decimal
    """The 99th percentile (nearest rank): the busiest of the usual."""
    samples: int

    def score(self, value: Decimal | int) -> float:
        """Robust z-score: how many spreads ``value`` lies above the median."""
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return float((Decimal(value) - self.median) / self.spread)


@dataclass(frozen=True)
class Baseline:
    """What is usual for one scope, learnt from its history hours."""

    hours: int
    """Hours of history (from the first entry to the last hour before the judged ones)."""
    active_hours: int
    """Hours with any spend or calls."""
    spend: Level
    """Spend per active hour (pico-USD)."""
    calls: Level
    """Calls per active hour."""
    cost_per_call: Level | None
    """Spend / calls over the hours with calls (pico-USD per call); ``None`` if no hour had calls."""
    spend_by_hour: tuple[Level, ...] | None = field(default=None)
    """Spend per hour of the day (0..23 UTC, all days, quiet ones included) once there is enough history."""
    calls_by_hour: tuple[Level, ...] | None = field(default=None)

    def spend_at(self, hour: datetime) -> Level:
        """The spend level an hour is compared with: its hour of day's, where higher than the overall one."""
        return _higher(self.spend, self.spend_by_hour[hour.hour] if self.spend_by_hour else None)

    def calls_at(self, hour: datetime) -> Level:
        return _higher(self.calls, self.calls_by_hour[hour.hour] if self.calls_by_hour else None)


@dataclass(frozen=True)
class Anomaly:
    """One flagged hour of one scope."""

    scope: str
    kind: str
    """``spend``, ``cost_per_call`` or ``request_rate``."""
    hour: datetime
    """The start of the hour flagged, UTC."""
    value: Decimal | int
    """Observed: pico-USD (``spend``), pico-USD per call as a Decimal (``cost_per_call``), calls (``request_rate``)."""
    baseline: Decimal | int
    """The usual value it was compared with, in the same unit (the threshold, under the absolute rule)."""
    ratio: Decimal
    """value / baseline, to 1/1000."""
    score: float
    """Robust z-score; 0.0 under the absolute rule (no spread is known)."""
    explanation: str


# -- series helpers -----------------------------------------------------------------------------


def floor_hour(ts: datetime) -> datetime:
    """The UTC hour that ``ts`` falls in (naive times are taken as UTC)."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.replace(minute=0, second=0, microsecond=0)


def hourly_series(calls: Iterable[tuple[datetime, int]]) -> dict[datetime, tuple[int, int]]:
    """Per-call ``(timestamp, cost in pico-USD)`` pairs to UTC hour -> (spend, calls)."""
    series: dict[datetime, tuple[int, int]] = {}
    for ts, cost in calls:
        hour = floor_hour(ts)
        spend, count = series.get(hour, (0, 0))
        series[hour] = (spend + cost, count + 1)
    return series


def split_at(series: Hourly, at: datetime) -> tuple[dict[datetime, tuple[int, int]], dict[datetime, tuple[int, int]]]:
    """``(history, recent)``: the hours before ``at``'s hour, and the hours from it on."""
    cut = floor_hour(at)
    history: dict[datetime, tuple[int, int]] = {}
    recent: dict[datetime, tuple[int, int]] = {}
    for hour, value in _normalised(series).items():
        (history if hour < cut else recent)[hour] = value
    return history, recent


# -- statistics ---------------------------------------------------------------------------------


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def level(values: Sequence[Decimal | int], *, unit: Decimal = Decimal(1)) -> Level:
    """Median, MAD and a robust spread of ``values`` (which must not be empty).

    When half the values or more are equal the MAD is 0; the spread then falls back to the
    mean absolute deviation (x 1.2533), and to at least 1% of the median and one ``unit``, so
    that a score is always finite and a scope whose every hour looked the same is still judged
    by the ratio and amount tests.
    """
    if not values:
        raise ValueError("a level needs at least one value")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        numbers = [Decimal(v) for v in values]
        median = _median(numbers)
        deviations = [abs(v - median) for v in numbers]
        mad = _median(deviations)
        spread = mad * _MAD_TO_SIGMA
        if spread == 0:
            spread = sum(deviations, Decimal(0)) / len(deviations) * _MEAN_AD_TO_SIGMA
        spread = max(spread, abs(median) / 100, unit)
        ordered = sorted(numbers)
        peak = ordered[-(-len(ordered) * 99 // 100) - 1]  # nearest rank: ceil(0.99 n)
    return Level(median, mad, spread, peak, len(numbers))


def _higher(overall: Level, bucket: Level | None) -> Level:
    return bucket if bucket is not None and bucket.median > overall.median else overall


def _normalised(series: Hourly) -> dict[datetime, tuple[int, int]]:
    """Keys as aware UTC hours; two keys in the same hour are added."""
    out: dict[datetime, tuple[int, int]] = {}
    for ts, (spend, calls) in series.items():
        hour = floor_hour(ts)
        old_spend, old_calls = out.get(hour, (0, 0))
        out[hour] = (old_spend + spend, old_calls + calls)
    return out


def baseline(history: Hourly, *, until: datetime | None = None, settings: Settings = Settings()) -> Baseline | None:
    """The scope's baseline from the hours before ``until`` (default: after the last history hour).

    ``None`` when there is not enough history: fewer than ``settings.min_history_hours`` hours
    from the first entry, or no hour with any spend or calls.
    """
    hours = {h: v for h, v in _normalised(history).items() if until is None or h < floor_hour(until)}
    if not hours:
        return None
    first = min(hours)
    end = floor_hour(until) if until is not None else max(hours) + HOUR
    span = int((end - first) / HOUR)
    active = [v for v in hours.values() if v != (0, 0)]
    if span < settings.min_history_hours or not active:
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        spend = level([s for s, _ in active])
        calls = level([c for _, c in active])
        # Cost per call over hours with enough calls to average out one odd call, where there are such hours.
        per_call = [Decimal(s) / c for s, c in active if c >= settings.cost_min_calls] or \
            [Decimal(s) / c for s, c in active if c > 0]
        cost_per_call = level(per_call) if per_call else None
        spend_by_hour = calls_by_hour = None
        if span >= settings.pattern_days * 24:
            # Each hour of the day with its neighbours: three samples a day steady the median.
            by_hour: list[list[tuple[int, int]]] = [[] for _ in range(24)]
            at = first
            while at < end:
                for hod in (at.hour - 1, at.hour, at.hour + 1):
                    by_hour[hod % 24].append(hours.get(at, (0, 0)))
                at += HOUR
            spend_by_hour = tuple(level([s for s, _ in bucket]) for bucket in by_hour)
            calls_by_hour = tuple(level([c for _, c in bucket]) for bucket in by_hour)
    return Baseline(span, len(active), spend, calls, cost_per_call, spend_by_hour, calls_by_hour)


# -- detection ----------------------------------------------------------------------------------


def detect(history: Hourly, recent: Hourly, *, scope: str, settings: Settings = Settings()) -> list[Anomaly]:
    """The anomalies among the ``recent`` hours, judged against a baseline learnt from ``history``.

    History hours at or after the first recent hour are ignored, so no hour is ever part of
    its own baseline. Returned in hour order, then in the order of :data:`KINDS`.
    """
    judged = _normalised(recent)
    if not judged:
        return []
    base = baseline(history, until=min(judged), settings=settings)
    found: list[Anomaly] = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for hour in sorted(judged):
            spend, calls = judged[hour]
            if base is None:
                found.extend(_absolute(scope, hour, spend, calls, settings))
            else:
                found.extend(_judge(scope, hour, spend, calls, base, settings))
    return found


def _judge(scope: str, hour: datetime, spend: int, calls: int, base: Baseline, settings: Settings) -> list[Anomaly]:
    found: list[Anomaly] = []
    when = _when(hour)
    usual = base.spend_at(hour)
    peak = max(usual.peak, base.spend.peak)
    ratio = _ratio(spend, usual.median)
    if ratio >= settings.min_ratio and usual.score(spend) >= settings.min_score \
            and spend - usual.median >= settings.min_amount and spend >= settings.peak_ratio * peak:
        shown = _pico(usual.median)
        found.append(Anomaly(scope, "spend", hour, spend, shown, _shown(ratio), usual.score(spend),
                             f"{scope} spent {format_usd(spend)} in the hour from {when}, "
                             f"{_times(ratio)} its usual {format_usd(shown)} an hour"))

    cpc = base.cost_per_call
    if cpc is not None and calls >= settings.cost_min_calls:
        per_call = Decimal(spend) / calls
        ratio = _ratio(per_call, cpc.median)
        if ratio >= settings.min_ratio and cpc.score(per_call) >= settings.min_score \
                and spend - calls * cpc.median >= settings.min_amount and per_call >= settings.peak_ratio * cpc.peak:
            found.append(Anomaly(scope, "cost_per_call", hour, _shown(per_call), _shown(cpc.median), _shown(ratio),
                                 cpc.score(per_call),
                                 f"{scope}'s calls cost {format_usd(_pico(per_call))} each in the hour from {when}, "
                                 f"{_times(ratio)} its usual {format_usd(_pico(cpc.median))} per call "
                                 f"({calls:,} calls, {format_usd(spend)} in all)"))

    usual_calls = base.calls_at(hour)
    ratio = _ratio(calls, usual_calls.median)
    if ratio >= settings.rate_ratio and calls >= settings.rate_min_calls \
            and calls >= settings.peak_ratio * max(usual_calls.peak, base.calls.peak) \
            and spend - usual.median >= settings.min_amount:
        found.append(Anomaly(scope, "request_rate", hour, calls, _shown(usual_calls.median), _shown(ratio),
                             usual_calls.score(calls),
                             f"{scope} made {calls:,} calls in the hour from {when}, {_times(ratio)} its usual "
                             f"{_count(usual_calls.median)} an hour, as a retry loop would "
                             f"({format_usd(spend)} spent)"))
    return found


def _absolute(scope: str, hour: datetime, spend: int, calls: int, settings: Settings) -> list[Anomaly]:
    """No baseline yet: only amounts that would alarm for any scope."""
    found: list[Anomaly] = []
    when = _when(hour)
    if spend >= settings.new_scope_spend:
        ratio = _ratio(spend, settings.new_scope_spend)
        found.append(Anomaly(scope, "spend", hour, spend, settings.new_scope_spend, _shown(ratio), 0.0,
                             f"{scope} spent {format_usd(spend)} in the hour from {when}, with too little history "
                             f"for a baseline (the rule for new scopes flags {format_usd(settings.new_scope_spend)} "
                             f"an hour)"))
    if calls >= settings.new_scope_calls:
        ratio = _ratio(calls, settings.new_scope_calls)
        found.append(Anomaly(scope, "request_rate", hour, calls, settings.new_scope_calls, _shown(ratio), 0.0,
                             f"{scope} made {calls:,} calls in the hour from {when}, with too little history "
                             f"for a baseline (the rule for new scopes flags {settings.new_scope_calls:,} an hour)"))
    return found


def _ratio(value: Decimal | int, usual: Decimal | int) -> Decimal:
    if usual <= 0:
        return Decimal("Infinity") if value > 0 else Decimal(0)
    return Decimal(value) / Decimal(usual)


def _shown(value: Decimal) -> Decimal:
    """Ratios and costs per call as reported, to 1/1000 (half-even); thresholds are applied before this."""
    return value.quantize(_THOUSANDTH, rounding=ROUND_HALF_EVEN) if value.is_finite() else value


def _pico(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def _times(ratio: Decimal) -> str:
    if not ratio.is_finite():
        return "far above"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _count(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"


def _when(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d %H:%M UTC")
