"""Budgets: a scope, a calendar period, a limit, notify thresholds and a stop threshold.

A budget's spend is always computed from the ledger for its period (exact, never a drifting
counter), in the configured time zone. Alerts fire once per threshold per period: the alert
id is ``<budget>:<period>:<threshold>`` and the ledger refuses a second row with it, so a
call that jumps several thresholds fires each of them, and no writer fires one twice.
Since costs are never negative, which thresholds a period has crossed does not depend on
the order events arrived in.

A budget with no thresholds notifies at 100% of its limit, and a blocking budget with no
stop threshold stops at 100%: :meth:`Budget.thresholds` gives the effective ones, marked
``implied``. A ``total`` budget with a date range is in effect only inside it: before its
start it is *upcoming*, after its end *expired*; neither alerts nor blocks, and an expired
one is shown with its final figures.

Budgets come from the ledger (``spendtag budget set``) and from the config file
(``[[budgets]]`` tables with the same fields); a name may be defined in only one place.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from spendtag.config_table import Table
from spendtag.errors import ConfigError, SpendtagError, did_you_mean
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.money import format_usd, parse_usd
from spendtag.periods import Range, month_range
from spendtag.tags import Selector

PERIODS: tuple[str, ...] = ("daily", "weekly", "monthly", "total")
PHASES: tuple[str, ...] = ("current", "upcoming", "expired")
ENFORCE: tuple[str, ...] = ("warn", "block")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


class BudgetError(SpendtagError, ValueError):
    """A budget that cannot be defined as given."""


@dataclass(frozen=True, slots=True)
class Threshold:
    label: str          # "80%", "$150", "stop 100%"
    amount: int         # pico-USD at which it is crossed
    stop: bool = False
    implied: bool = False   # not given: the default (notify at 100%, or stop at 100% when blocking)


@dataclass(frozen=True)
class Budget:
    name: str
    limit: int                                   # pico-USD per period
    period: str = "monthly"                      # daily, weekly, monthly or total (with optional start/end)
    scope: tuple[Selector, ...] = ()             # tag selectors; all must match
    agent: str | None = None
    key: str | None = None
    project: str | None = None
    start: date | None = None                    # first day counted (local), for total/fixed ranges
    end: date | None = None                      # first day no longer counted (exclusive)
    notify_percent: tuple[Decimal, ...] = ()
    notify_amount: tuple[int, ...] = ()
    stop_percent: Decimal | None = None
    enforce: Literal["warn", "block"] = "warn"
    forecast_alert: bool = True
    channels: tuple[str, ...] = ()               # empty: every configured channel
    origin: str = "ledger"                       # "ledger" or "config"

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise BudgetError(f"budget name {self.name!r}: use letters, digits, '-', '_' or '.' (up to 64)")
        if self.limit <= 0:
            raise BudgetError(f"budget {self.name}: the limit must be more than $0")
        if self.period not in PERIODS:
            raise BudgetError(f"budget {self.name}: period must be one of {', '.join(PERIODS)}")
        if (self.start or self.end) and self.period != "total":
            raise BudgetError(f"budget {self.name}: a start or end date makes a fixed range: use period "
                              "total (`--total` with --from/--until), not " + self.period)
        if self.start and self.end and self.end <= self.start:
            raise BudgetError(f"budget {self.name}: --until must be after --from")
        if self.enforce not in ENFORCE:
            raise BudgetError(f"budget {self.name}: enforce must be warn or block")
        for pct in (*self.notify_percent, *((self.stop_percent,) if self.stop_percent is not None else ())):
            if pct <= 0:
                raise BudgetError(f"budget {self.name}: thresholds must be above 0%")

    # -- what it covers ---------------------------------------------------------------------

    def describe_scope(self) -> str:
        parts = [str(s) for s in self.scope]
        parts += [f"{k}={v}" for k, v in (("agent", self.agent), ("key", self.key), ("project", self.project)) if v]
        return " ".join(parts) or "everything"

    def describe_period(self) -> str:
        if self.period == "total":
            if self.start or self.end:
                return f"{self.start or '…'} – {self.end or '…'}"
            return "all time"
        return self.period

    def covers(self, tags: Mapping[str, str], agent: str | None = None, key: str | None = None,
               project: str | None = None) -> bool:
        """Whether a call with these tags and dimensions counts against this budget."""
        if self.agent is not None and agent != self.agent:
            return False
        if self.key is not None and key != self.key:
            return False
        if self.project is not None:
            root = self.project.rstrip("/")
            if project is None or not (project == root or project.startswith(root + "/")):
                return False
        return all(s.matches(tags) for s in self.scope)

    def filters(self, rng: Range) -> Filters:
        dims: dict[str, tuple[str, ...]] = {}
        if self.agent is not None:
            dims["agent"] = (self.agent,)
        if self.key is not None:
            dims["key"] = (self.key,)
        return Filters(since=rng.since, until=rng.until, tags=self.scope, dims=dims,
                       project=(self.project,) if self.project else ())

    def phase_at(self, now: datetime, tz: ZoneInfo) -> str:
        """``current``; or, for a fixed range, ``upcoming`` before its start and ``expired`` from its end."""
        if self.period != "total":
            return "current"
        if self.end is not None and now >= _midnight(self.end, tz):
            return "expired"
        if self.start is not None and now < _midnight(self.start, tz):
            return "upcoming"
        return "current"

    def in_effect(self, now: datetime, tz: ZoneInfo) -> bool:
        """Whether calls made at ``now`` count against this budget (what alerting and enforcement ask)."""
        return self.phase_at(now, tz) == "current"

    def period_at(self, now: datetime, tz: ZoneInfo) -> tuple[Range, str]:
        """The period ``now`` falls in, as a UTC range and a label (``2026-03``, ``2026-03-14``, ``2026-W11``)."""
        local = now.astimezone(tz).date()
        if self.period == "daily":
            return _days(local, local + timedelta(days=1), tz), local.isoformat()
        if self.period == "weekly":
            monday = local - timedelta(days=local.weekday())
            iso = monday.isocalendar()
            return _days(monday, monday + timedelta(days=7), tz), f"{iso.year}-W{iso.week:02d}"
        if self.period == "monthly":
            return month_range(local.year, local.month, tz), f"{local:%Y-%m}"
        since = _midnight(self.start, tz) if self.start else None
        until = _midnight(self.end, tz) if self.end else None
        return Range(since, until), self.describe_period()

    def thresholds(self) -> list[Threshold]:
        """Every effective threshold in increasing amount; the stop threshold is marked.

        With none given, the budget notifies at 100% (a blocking one: stops at 100%, which
        notifies too); a blocking budget with no stop threshold stops at 100%.
        """
        found = [Threshold(f"{_pct(p)}%", _of(self.limit, p)) for p in self.notify_percent]
        found += [Threshold(format_usd(a), a) for a in self.notify_amount]
        stop = self.effective_stop_percent
        if stop is not None:
            found.append(Threshold(f"stop {_pct(stop)}%", _of(self.limit, stop), True,
                                   implied=self.stop_percent is None))
        if not found:
            found.append(Threshold("100%", self.limit, implied=True))
        return sorted(found, key=lambda t: (t.amount, t.stop))

    @property
    def effective_stop_percent(self) -> Decimal | None:
        """The stop threshold given, else 100% for a blocking budget (``block`` must block somewhere)."""
        if self.stop_percent is not None:
            return self.stop_percent
        return Decimal(100) if self.enforce == "block" else None

    @property
    def stop_amount(self) -> int | None:
        stop = self.effective_stop_percent
        return None if stop is None else _of(self.limit, stop)

    # -- storage ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: money as decimal USD strings, dates as ISO text."""
        data = asdict(self)
        data.update(
            limit=_usd(self.limit), scope=[str(s) for s in self.scope],
            start=self.start.isoformat() if self.start else None, end=self.end.isoformat() if self.end else None,
            notify_percent=[str(p) for p in self.notify_percent],
            notify_amount=[_usd(a) for a in self.notify_amount],
            stop_percent=None if self.stop_percent is None else str(self.stop_percent),
            channels=list(self.channels),
        )
        data.pop("origin")
        return {k: v for k, v in data.items() if v not in (None, [], ())}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], *, origin: str = "ledger") -> Budget:
        known = {"name", "limit", "period", "scope", "agent", "key", "project", "start", "end", "notify_percent",
                 "notify_amount", "stop_percent", "enforce", "forecast_alert", "channels"}
        unknown = set(data) - known
        if unknown:
            raise BudgetError(f"budget {name}: unknown field(s) {', '.join(sorted(unknown))}")
        scope = data.get("scope") or []
        if isinstance(scope, str):
            scope = [scope]
        return cls(
            name=name,
            limit=parse_usd(str(data["limit"])),
            period=str(data.get("period", "monthly")),
            scope=tuple(Selector.parse(s) for s in scope),
            agent=data.get("agent"), key=data.get("key"), project=data.get("project"),
            start=date.fromisoformat(str(data["start"])) if data.get("start") else None,
            end=date.fromisoformat(str(data["end"])) if data.get("end") else None,
            notify_percent=tuple(_decimal(p, "notify_percent") for p in _list(data.get("notify_percent"))),
            notify_amount=tuple(parse_usd(str(a)) for a in _list(data.get("notify_amount"))),
            stop_percent=None if data.get("stop_percent") in (None, "") else _decimal(data["stop_percent"],
                                                                                       "stop_percent"),
            enforce=data.get("enforce", "warn"),
            forecast_alert=bool(data.get("forecast_alert", True)),
            channels=tuple(_list(data.get("channels"))),
            origin=origin,
        )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | int | Decimal):
        return [value]
    return list(value)


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)   # TOML floats: read their shortest decimal text, never binary arithmetic
    try:
        result = Decimal(str(value).rstrip("%"))
    except InvalidOperation:
        raise BudgetError(f"{what}: {value!r} is not a number") from None
    return result


def _pct(p: Decimal) -> str:
    return format(p.normalize(), "f")


def _of(limit: int, percent: Decimal) -> int:
    return int((Decimal(limit) * percent / 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def _usd(pico: int) -> str:
    from spendtag.money import exact_str

    return exact_str(pico)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _days(first: date, after: date, tz: ZoneInfo) -> Range:
    return Range(_midnight(first, tz), _midnight(after, tz))


# -- loading -------------------------------------------------------------------------------------

_CONFIG_KEYS = ("name", "limit", "period", "scope", "agent", "key", "project", "start", "end", "notify_percent",
                "notify_amount", "stop_percent", "enforce", "forecast_alert", "channels")


def from_config(entries: Any, *, path: str, channels: Collection[str] | None = None) -> list[Budget]:
    """``[[budgets]]`` tables from the config file; errors name the line, the key and the fix.

    ``channels``: the alert channels that exist; a budget naming another is refused.
    """
    if not isinstance(entries, list):
        raise ConfigError("budgets must be a list of tables: write [[budgets]]", path=path, key="budgets",
                          fix="use [[budgets]] for each budget")
    return [_from_table(n, entry, path, channels) for n, entry in enumerate(entries)]


def _from_table(n: int, entry: Any, path: str, channels: Collection[str] | None) -> Budget:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    label = f"[[budgets]] #{n + 1}" + (f" ({name})" if isinstance(name, str) and name.strip() else "")
    t = Table(entry, path=path, key=("budgets", n), label=label,
              example='[[budgets]] with name = "acme", limit = "300", period = "monthly"')
    t.only(_CONFIG_KEYS)
    name = t.string("name", required=True, example="acme")
    if not _NAME_RE.match(name):
        raise t.error("name", f"{name!r} is not a budget name", "use letters, digits, '-', '_' or '.' (up to 64)")
    period = t.string("period", "monthly", choices=PERIODS)
    start, end = t.day("start"), t.day("end")
    if (start or end) and period != "total":
        raise t.error("start" if start else "end", f"a start or end date makes a fixed range: use period total, "
                      f"not {period}", 'write period = "total", or remove start and end')
    if start and end and end <= start:
        raise t.error("end", f"{end} is not after start ({start})", "end is the first day no longer counted")
    scope = []
    for text in t.strings("scope", example="client=acme"):
        try:
            scope.append(Selector.parse(text))
        except SpendtagError as exc:
            raise t.error("scope", str(exc), 'write scope = ["client=acme"]') from None
    named = t.strings("channels", example="ops")
    for channel in named:
        if channels is not None and channel not in channels:
            raise t.error("channels", f"{channel!r} is not a configured alert channel",
                          f"{did_you_mean(channel, channels)}, or add [alerts.channels.{channel}]")
    limit = t.money("limit", required=True) or 0
    notify_percent = tuple(t.decimal("notify_percent", p, unit="%", example="[80, 100]")
                           for p in t.items("notify_percent"))
    notify_amount = tuple(t.money("notify_amount", a, example="250") or 0 for a in t.items("notify_amount"))
    stop = t.get("stop_percent")
    stop_percent = None if stop in (None, "") else t.decimal("stop_percent", unit="%", example="100")
    try:
        return Budget(name=name, limit=limit, period=period, scope=tuple(scope), agent=t.string("agent"),
                      key=t.string("key"), project=t.string("project", example="~/clients/acme"), start=start,
                      end=end, notify_percent=notify_percent, notify_amount=notify_amount, stop_percent=stop_percent,
                      enforce=t.string("enforce", "warn", choices=ENFORCE),
                      forecast_alert=t.boolean("forecast_alert", True), channels=named, origin="config")
    except BudgetError as exc:
        raise t.error(None, str(exc), "see `spendtag budget set --help` for the fields") from None


def load(store: Store, config_entries: Any = None, *, config_path: str = "config",
         channels: Collection[str] | None = None) -> list[Budget]:
    """Every budget: the config file's and the ledger's. A name defined in both is an error."""
    budgets = from_config(config_entries, path=config_path, channels=channels) if config_entries else []
    names = {b.name: n for n, b in enumerate(budgets)}
    for name, data in store.budgets().items():
        if name in names:
            raise ConfigError(f"budget {name!r} is defined both in the config file and with `spendtag budget set`",
                              path=config_path, key=("budgets", names[name], "name"),
                              fix=f"remove one: `spendtag budget remove {name}` or edit the file")
        budgets.append(Budget.from_dict(name, data))
    return sorted(budgets, key=lambda b: b.name)


# -- changing the ledger's budgets ------------------------------------------------------------------
# `spendtag budget set/remove` and the dashboard's budget form both come here.

def parse_percents(text: str | None, option: str = "notify at") -> tuple[Decimal, ...]:
    """``"50,80"`` (a ``%`` after each is allowed) -> percentages above 0 and up to 1000."""
    if not text or not text.strip():
        return ()
    try:
        found = tuple(Decimal(p.strip().rstrip("%")) for p in text.split(",") if p.strip())
    except InvalidOperation:
        found = (Decimal("NaN"),)
    if not found or not all(p.is_finite() and 0 < p <= 1000 for p in found):
        raise BudgetError(f"{option}: {text[:80]!r}: give percentages above 0 and up to 1000, such as 50,80")
    return found


def parse_stop_percent(text: str | None, option: str = "stop at") -> Decimal | None:
    if text is None or not text.strip():
        return None
    found = parse_percents(text, option)
    if len(found) != 1:
        raise BudgetError(f"{option}: {text[:80]!r}: give one percentage, e.g. 100")
    return found[0]


def save(store: Store, budget: Budget, budgets: Iterable[Budget], *, channels: Collection[str] | None = None,
         allow_new: bool = False) -> list[str]:
    """Create or replace ``budget`` in the ledger; notes on a scope naming what no call carries yet.

    ``budgets`` are those in effect (config file and ledger): a name from the config file is
    edited there. A scope naming a near miss of a tag value the ledger has (a typo) is refused
    unless ``allow_new``.
    """
    from spendtag.report.matching import check_scope

    if budget.name in {b.name for b in budgets if b.origin == "config"}:
        raise BudgetError(f"budget {budget.name!r} is defined in the config file; edit it there")
    for channel in budget.channels:
        if channels is not None and channel not in channels:
            raise BudgetError(f"{channel!r} is not a configured alert channel ({did_you_mean(channel, channels)}; "
                              "channels are [alerts.channels.NAME] tables in the config file)")
    notes = check_scope(store, budget.filters(Range(None, None)), allow_new=allow_new,
                        fix="for a scope with no calls yet, pass --allow-new")
    store.save_budget(budget.name, budget.to_dict())
    return notes


def remove(store: Store, name: str, budgets: Iterable[Budget]) -> None:
    """Delete the ledger's budget ``name`` (a config-file budget is removed by editing the file)."""
    if not store.remove_budget(name):
        if name in {b.name for b in budgets}:
            raise BudgetError(f"budget {name!r} is defined in the config file; remove it there")
        raise BudgetError(f"no budget {name!r}")


# -- status ---------------------------------------------------------------------------------------

@dataclass
class Status:
    budget: Budget
    range: Range
    period: str
    spent: int
    projected: int | None = None
    low: int | None = None
    high: int | None = None
    run_out: date | None = None
    days_left: Decimal | None = None
    crossed: list[Threshold] = field(default_factory=list)
    phase: str = "current"       # or "upcoming"/"expired" (a fixed range not in effect): final figures

    @property
    def current(self) -> bool:
        return self.phase == "current"

    @property
    def percent(self) -> Decimal:
        return (Decimal(self.spent) * 100 / Decimal(self.budget.limit)).quantize(Decimal("0.1"),
                                                                                 rounding=ROUND_HALF_EVEN)

    @property
    def over(self) -> bool:
        """Spent at least the limit in a period in effect."""
        return self.current and self.spent >= self.budget.limit

    @property
    def stopped(self) -> bool:
        """The stop threshold is reached in a period in effect (blocking only if ``enforce`` is block)."""
        stop = self.budget.stop_amount
        return self.current and stop is not None and self.spent >= stop

    @property
    def state(self) -> str:
        if self.phase == "expired":
            return "expired"
        if self.phase == "upcoming":
            return "not started"
        if self.stopped:
            return "stopped" if self.budget.enforce == "block" else "over (warn only)"
        if self.spent >= self.budget.limit:
            return "over"
        if self.crossed:
            return f"passed {self.crossed[-1].label}"
        if self.projected is not None and self.projected > self.budget.limit:
            return "on track to exceed"
        return "ok"


def status(store: Store, budget: Budget, now: datetime, tz: ZoneInfo, *, with_forecast: bool = True) -> Status:
    """The budget's spend in the period ``now`` falls in; for a fixed range not in effect, its whole range."""
    rng, label = budget.period_at(now, tz)
    spent = sum(a.totals.cost for a in store.aggregate(budget.filters(rng)))
    phase = budget.phase_at(now, tz)
    st = Status(budget, rng, label, spent, crossed=[t for t in budget.thresholds() if spent >= t.amount],
                phase=phase)
    if phase != "current":
        return st
    if rng.until is not None:
        left = rng.until - now
        st.days_left = max(Decimal(0), (Decimal(left.total_seconds()) / 86400).quantize(Decimal("0.1")))
    if with_forecast and budget.period != "total" and rng.since is not None and rng.until is not None:
        _add_forecast(store, budget, st, now, tz)
    return st


def _add_forecast(store: Store, budget: Budget, st: Status, now: datetime, tz: ZoneInfo) -> None:
    from spendtag.guard.forecasts import forecast

    assert st.range.since is not None and st.range.until is not None
    start = st.range.since.astimezone(tz).date()
    last = (st.range.until - timedelta(microseconds=1)).astimezone(tz).date()
    local_now = now.astimezone(tz)
    today = min(local_now.date(), last)
    rng = Range(_midnight(start - timedelta(days=28), tz), st.range.until)
    daily: dict[date, int] = {}
    history: dict[date, int] = {}
    for a in store.aggregate(budget.filters(rng), ["day"], tz):
        day = date.fromisoformat(a.key[0] or "")
        if day < start:
            history[day] = a.totals.cost
        elif day <= today:
            daily[day] = a.totals.cost
    f = forecast(daily, period_start=start, period_end=last, today=today, limit=budget.limit, history=history,
                 now=local_now.replace(tzinfo=None) if local_now.date() == today else None)
    st.projected, st.low, st.high, st.run_out = f.projected, f.low, f.high, f.run_out


def statuses(store: Store, budgets: Iterable[Budget], now: datetime, tz: ZoneInfo) -> list[Status]:
    return [status(store, b, now, tz) for b in budgets]


def status_json(s: Status) -> dict[str, Any]:
    """A budget's status as ``spendtag budget list --format json`` and the MCP server give it (money as exact USD)."""
    from spendtag.money import exact_str

    return {
        "name": s.budget.name, "scope": s.budget.describe_scope(), "period": s.period,
        "spent_usd": exact_str(s.spent), "limit_usd": exact_str(s.budget.limit), "percent": str(s.percent),
        "projected_usd": None if s.projected is None else exact_str(s.projected),
        "days_left": None if s.days_left is None else str(s.days_left), "status": s.state,
        "crossed": [t.label for t in s.crossed], "enforce": s.budget.enforce, "origin": s.budget.origin,
        "run_out": s.run_out.isoformat() if s.run_out else None, "phase": s.phase,
        "thresholds": [{"label": t.label, "amount_usd": exact_str(t.amount), "stop": t.stop, "default": t.implied}
                       for t in s.budget.thresholds()],
    }


def forecast_status(store: Store, budgets: Sequence[Budget], *, scope: Sequence[str] = (), agent: str | None = None,
                    budget_name: str | None = None, limit: int | None = None, now: datetime,
                    tz: ZoneInfo) -> tuple[Status, bool]:
    """The month's forecast for a budget (by name) or a scope; and whether a limit was given to compare with."""
    from spendtag.report import matching
    from spendtag.tags import Selector

    if budget_name:
        b = next((x for x in budgets if x.name == budget_name), None)
        if b is None:
            raise BudgetError(f"no budget {budget_name!r}")
    else:
        b = Budget(name="forecast", limit=limit or 10**30, period="monthly",
                   scope=tuple(Selector.parse(s) for s in scope), agent=agent, forecast_alert=False)
        matching.check(store, b.filters(Range(None, None)))   # a typo would project $0.00
    return status(store, b, now, tz), bool(budget_name or limit is not None)


def forecast_json(st: Status, has_limit: bool) -> dict[str, Any]:
    """A forecast as ``spendtag forecast --format json`` and the MCP server give it."""
    from spendtag.money import exact_str

    b = st.budget
    return {
        "scope": b.describe_scope(), "period": st.period, "spent_usd": exact_str(st.spent),
        "projected_usd": None if st.projected is None else exact_str(st.projected),
        "low_usd": None if st.low is None else exact_str(st.low),
        "high_usd": None if st.high is None else exact_str(st.high),
        "limit_usd": exact_str(b.limit) if has_limit else None,
        "run_out": st.run_out.isoformat() if st.run_out and has_limit else None,
    }


# -- enforcement ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """Whether a call may go ahead under one budget, and why not."""

    budget: Budget
    allowed: bool
    spent: int
    limit: int
    retry_after: datetime | None       # when the period resets (None for a total budget)
    message: str
    phase: str = "current"             # "upcoming"/"expired": a fixed range not in effect, never refused
    stopped: bool = False              # the stop threshold is reached (refused only when enforce is block)

    @property
    def over(self) -> bool:
        """At or over the limit (or the stop threshold) in a period in effect: what ``spendtag check`` fails on."""
        return self.phase == "current" and (self.stopped or self.spent >= self.limit)


def check(store: Store, budgets: Sequence[Budget], *, tags: Mapping[str, str] | None = None,
          agent: str | None = None, key: str | None = None, project: str | None = None,
          now: datetime | None = None, tz: ZoneInfo | None = None, all_budgets: bool = False) -> list[Decision]:
    """Decisions for the budgets that cover a call with these tags and dimensions (or every budget)."""
    now = now or datetime.now(UTC)
    tz = tz or ZoneInfo("UTC")
    out = []
    for b in budgets:
        if not all_budgets and not b.covers(tags or {}, agent, key, project):
            continue
        st = status(store, b, now, tz, with_forecast=False)
        where = f"budget {b.name} ({b.describe_scope()}, {st.period})"
        figures = f"{format_usd(st.spent)} of {format_usd(b.limit)} ({st.percent}%)"
        if not st.current:
            message = (f"{where} has expired: it ended with {figures}" if st.phase == "expired" else
                       f"{where} has not started: it starts on {b.start}, so calls do not count against it yet")
            out.append(Decision(b, True, st.spent, b.limit, None, message, phase=st.phase))
            continue
        refuse = st.stopped and b.enforce == "block"
        if st.stopped:
            message = (f"{where} has reached its stop threshold: "
                       f"spent {format_usd(st.spent)} of {format_usd(b.limit)}")
            if not refuse:
                message += " (warn only)"
        elif st.spent >= b.limit:
            message = f"budget {b.name}: spent {figures}, over its limit"
        else:
            message = f"budget {b.name}: spent {figures}"
        out.append(Decision(b, not refuse, st.spent, b.limit, st.range.until, message, stopped=st.stopped))
    return out
