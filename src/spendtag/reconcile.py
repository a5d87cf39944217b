"""Reconciliation: the ledger's cost of a provider's calls against what the provider bills.

For each UTC day and model (the provider's buckets are UTC days), the ledger's cost
(spendtag's own events for that provider) and the provider's cost report, the difference
(provider minus ledger) and the difference in percent of the provider's figure. Where the
two differ by more than a tolerance, the likely causes are named from what can be seen:

* **calls not captured**: the provider counted more tokens than the ledger holds;
* **ledger has more**: the ledger holds tokens the provider did not count;
* **missing price**: the ledger has unpriced calls of that model (counted as $0);
* **price differs** / **discount**: the same tokens, a different cost (steady on every day: a discount);
* **tier**: the provider reports batch, priority or flex usage of that model that day;
* **not pulled**: the provider's report for the day is missing or incomplete (such days are left
  out of the totals; run ``spendtag pull`` again).

Days that have not begun yet (a UTC day after today's) are not compared and are never "not
pulled": a period that runs into the future (this month) lists them as ``future`` instead.

Models are compared without their snapshot date; web-search fees are a line of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from spendtag.guard.alerting import deliver
from spendtag.guard.alerts import Alert, Channel, render_json
from spendtag.ledger.provider_tables import ProviderStore
from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.store import AlertRecord
from spendtag.money import format_usd
from spendtag.providers_api.attribute import NONE, UNMAPPED, attribute
from spendtag.providers_api.mapping import Rules
from spendtag.providers_api.model import STANDARD_TIERS, TOKEN_COUNTS, WEB_SEARCH, day_range, model_key
from spendtag.tags import Selector

WEB_SEARCH_LINE = "(web search)"
OTHER_LINE = "(other)"
DEFAULT_TOLERANCE = Decimal("0.5")      # percent of the provider's cost within which a line counts as matching
_UTC = ZoneInfo("UTC")
_STEADY = Decimal("0.5")                # percentage points a discount may vary by and still be "steady"


@dataclass(frozen=True, slots=True)
class Cause:
    kind: str       # not captured, ledger has more, missing price, price differs, discount, tier, not pulled
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class Line:
    """Ledger against provider for one day, model, day and model, or API key."""

    key: str
    ledger_cost: int = 0
    provider_cost: int = 0
    ledger_tokens: int = 0
    provider_tokens: int = 0
    ledger_requests: int = 0
    unpriced_requests: int = 0
    pulled: bool = True
    tiers: dict[str, int] = field(default_factory=dict)   # non-standard provider tier -> tokens
    causes: list[Cause] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)    # for API keys: the tags [pull.mapping] gives them

    @property
    def difference(self) -> int:
        """Provider minus ledger: positive when the provider bills more than the ledger shows."""
        return self.provider_cost - self.ledger_cost

    @property
    def percent(self) -> Decimal | None:
        if self.provider_cost == 0:
            return None if self.ledger_cost == 0 else Decimal(-100)
        return Decimal(self.difference) * 100 / Decimal(self.provider_cost)

    def add(self, other: Line) -> None:
        self.ledger_cost += other.ledger_cost
        self.provider_cost += other.provider_cost
        self.ledger_tokens += other.ledger_tokens
        self.provider_tokens += other.provider_tokens
        self.ledger_requests += other.ledger_requests
        self.unpriced_requests += other.unpriced_requests
        for tier, n in other.tiers.items():
            self.tiers[tier] = self.tiers.get(tier, 0) + n


@dataclass(slots=True)
class Reconciliation:
    provider: str
    period: str
    since: date
    until: date
    tolerance: Decimal
    days: list[Line]
    models: list[Line]
    cells: list[Line]            # per day and model ("2026-03-05 claude-sonnet-4-5")
    keys: list[Line]
    total: Line                  # over the days the provider's report was pulled in full
    not_pulled: list[date]
    future: list[date] = field(default_factory=list)    # UTC days not begun yet: nothing to compare

    @property
    def drift(self) -> Decimal | None:
        """The total difference in percent of the provider's cost (absolute), or None with no provider cost."""
        p = self.total.percent
        return None if p is None else abs(p)


def percent_text(value: Decimal | None) -> str:
    if value is None:
        return "-"
    q = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return f"{'+' if q > 0 else ''}{q}%"


def _ratio(line: Line) -> Decimal:
    """How much more (+) or less (-) the provider bills than the ledger, in percent of the ledger's cost."""
    return Decimal(line.difference) * 100 / Decimal(line.ledger_cost)


def _amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def _vs_ledger(line: Line) -> str:
    r = _ratio(line)
    return f"{_amount(abs(r))}% {'less' if r < 0 else 'more'} than"


def _ledger_tokens(t: Totals) -> int:
    return sum(t[name] for name in TOKEN_COUNTS)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _line(cells: dict[tuple[str, str], Line], day: str, model: str) -> Line:
    found = cells.get((day, model))
    if found is None:
        found = cells[(day, model)] = Line(f"{day} {model}")
    return found


def _fill_ledger(cells: dict[tuple[str, str], Line], store: ProviderStore, provider: str, since: date,
                 until: date) -> None:
    filters = Filters(since=_midnight(since), until=_midnight(until), dims={"provider": (provider,)})
    for agg in store.aggregate(filters, ["day", "model"], _UTC):
        day, model = agg.key[0] or "", model_key(agg.key[1] or "")
        t = agg.totals
        search = t["cost_web_search_requests"]
        line = _line(cells, day, model or OTHER_LINE)
        line.ledger_cost += t.cost - search
        line.ledger_tokens += _ledger_tokens(t)
        line.ledger_requests += t.requests
        line.unpriced_requests += t["unpriced_requests"]
        if search or t["web_search_requests"]:
            web = _line(cells, day, WEB_SEARCH_LINE)
            web.ledger_cost += search
            web.ledger_tokens += t["web_search_requests"]


def _fill_provider(cells: dict[tuple[str, str], Line], store: ProviderStore, provider: str, since: date,
                   until: date) -> None:
    for u in store.provider_usage(provider, since, until):
        day = u.day.isoformat()
        line = _line(cells, day, model_key(u.model) or OTHER_LINE)
        line.provider_tokens += u.tokens
        if u.service_tier not in STANDARD_TIERS and u.tokens:
            line.tiers[u.service_tier] = line.tiers.get(u.service_tier, 0) + u.tokens
        if u.web_search_requests:
            _line(cells, day, WEB_SEARCH_LINE).provider_tokens += u.web_search_requests
    for c in store.provider_costs(provider, since, until):
        day = c.day.isoformat()
        model = model_key(c.model) if c.model else (WEB_SEARCH_LINE if c.bucket == WEB_SEARCH else OTHER_LINE)
        _line(cells, day, model).provider_cost += c.amount


def _cell_causes(line: Line, model: str, tolerance: Decimal) -> list[Cause]:
    if not line.pulled:
        return [Cause("not pulled", "not pulled: the provider's report for this day is missing or incomplete")]
    pct = line.percent
    if line.difference == 0 or (pct is not None and abs(pct) <= tolerance):
        return []
    unit = "web searches" if model == WEB_SEARCH_LINE else "tokens"
    causes = []
    if line.provider_tokens > line.ledger_tokens:
        extra = line.provider_tokens - line.ledger_tokens
        causes.append(Cause("not captured", f"calls not captured: the provider counted {extra:,} {unit} more"
                            + (" (no spendtag record at all)" if line.ledger_tokens == 0 else "")))
    elif line.ledger_tokens > line.provider_tokens:
        extra = line.ledger_tokens - line.provider_tokens
        causes.append(Cause("ledger has more", f"ledger has {extra:,} {unit} more than the provider counted "
                            "(recorded twice, or calls under another organisation)"))
    if line.unpriced_requests:
        causes.append(Cause("missing price", f"missing price: {line.unpriced_requests:,} unpriced requests of "
                            f"{model} in the ledger (counted as $0)"))
    elif line.provider_tokens == line.ledger_tokens and line.ledger_cost:
        causes.append(Cause("price differs", f"price differs: the provider bills {_vs_ledger(line)} the ledger's "
                            "price for the same tokens"))
    for tier, n in sorted(line.tiers.items()):
        causes.append(Cause("tier", f"{tier} tier: the provider reports {n:,} tokens at the {tier} tier"))
    return causes


def _model_causes(model: str, cells: Sequence[Line], tolerance: Decimal) -> list[Cause]:
    """Per model over the period: a steady discount, else each cause kind with the days it was seen."""
    priced = [c for c in cells if c.pulled and c.ledger_cost and c.provider_cost
              and c.provider_tokens == c.ledger_tokens and not c.unpriced_requests]
    ratios = [_ratio(c) for c in priced]
    steady = (len(ratios) >= 2 and max(ratios) - min(ratios) <= _STEADY
              and all(abs(r) > tolerance for r in ratios))
    out: list[Cause] = []
    if steady:
        mean = sum(ratios, Decimal(0)) / len(ratios)
        shown = f"{_amount(abs(mean))}% {'less' if mean < 0 else 'more'} than"
        if mean < 0:
            out.append(Cause("discount", f"discount: the provider bills {shown} the ledger's price for the same "
                             f"tokens on all {len(ratios)} days (a negotiated discount: add a price override)"))
        else:
            out.append(Cause("price differs", f"price differs: the provider bills {shown} the ledger's price for "
                             f"the same tokens on all {len(ratios)} days (check the model's price or a tier)"))
    days: dict[str, list[str]] = defaultdict(list)
    first: dict[str, Cause] = {}
    for c in cells:
        for cause in c.causes:
            if steady and cause.kind == "price differs":
                continue
            days[cause.kind].append(c.key.split(" ", 1)[0])
            first.setdefault(cause.kind, cause)
    for kind, seen in days.items():
        head = first[kind].text.split(":", 1)[0]
        out.append(Cause(kind, f"{head} on {_day_list(seen)}"))
    return out


def _day_list(days: Sequence[str]) -> str:
    return ", ".join(days) if len(days) <= 4 else f"{', '.join(days[:3])} and {len(days) - 3} more days"


def _day_causes(cells: Sequence[Line]) -> list[Cause]:
    out: list[Cause] = []
    for c in cells:
        model = c.key.split(" ", 1)[1]
        out += [Cause(cause.kind, cause.text if cause.kind == "not pulled" else f"{model}: {cause.text}")
                for cause in c.causes]
    return list({cause.text: cause for cause in out}.values())


def _key_lines(store: ProviderStore, provider: str, since: date, until: date, rules: Rules,
               pulled: set[date]) -> list[Line]:
    usage = [u for u in store.provider_usage(provider, since, until) if u.day in pulled]
    if not any(u.api_key_id for u in usage):
        return []
    costs = [c for c in store.provider_costs(provider, since, until) if c.day in pulled]
    lines: dict[str, Line] = {}
    for a in attribute(usage, costs, rules):
        key = a.usage.api_key_id or NONE
        line = lines.setdefault(key, Line(key, tags=dict(a.tags)))
        line.provider_cost += a.cost
        line.provider_tokens += a.usage.tokens
    for line in lines.values():
        if not line.tags:
            line.causes.append(Cause("unmapped", f"{UNMAPPED}: add a [pull.mapping] rule to compare it with the "
                                     "ledger"))
            continue
        selectors = tuple(Selector.parse(f"{k}={v}") for k, v in sorted(line.tags.items()))
        filters = Filters(since=_midnight(since), until=_midnight(until), tags=selectors,
                          dims={"provider": (provider,)})
        for agg in store.aggregate(filters, ["day"], _UTC):
            if agg.key[0] and date.fromisoformat(agg.key[0]) in pulled:
                line.ledger_cost += agg.totals.cost
                line.ledger_tokens += _ledger_tokens(agg.totals)
    return sorted(lines.values(), key=lambda ln: (not ln.tags, -ln.provider_cost, ln.key))


def reconcile(store: ProviderStore, provider: str, since: date, until: date, *, period: str | None = None,
              rules: Rules | None = None, tolerance: Decimal = DEFAULT_TOLERANCE,
              today: date | None = None) -> Reconciliation:
    """Compare the ledger with the provider's reports over the UTC days ``[since, until)``.

    ``today`` is the current UTC day (default: now's): the provider's days are UTC days, so a
    day after it has not begun anywhere the provider bills, whatever the local time zone.
    """
    today = today or datetime.now(UTC).date()
    cells: dict[tuple[str, str], Line] = {}
    _fill_ledger(cells, store, provider, since, until)
    _fill_provider(cells, store, provider, since, until)
    statuses = store.provider_days(provider, since, until)
    cost_pulled = {s.day for s in statuses if s.report == "cost" and s.complete}
    usage_pulled = {s.day for s in statuses if s.report == "usage" and s.complete}
    pulled = cost_pulled & usage_pulled
    for (text, model), line in cells.items():
        line.pulled = date.fromisoformat(text) in pulled
        line.causes = _cell_causes(line, model, tolerance)
    ordered = sorted(cells.items())
    total = Line("total")
    day_lines: list[Line] = []
    for day in day_range(since, until):
        text = day.isoformat()
        mine = [line for (d, _), line in ordered if d == text]
        line = Line(text, pulled=day in pulled)
        for c in mine:
            line.add(c)
        if not mine and (not line.pulled or day > today):
            continue
        line.causes = _day_causes(mine) if line.pulled else [
            Cause("not pulled", "not pulled: the provider's report for this day is missing or incomplete")]
        day_lines.append(line)
        if line.pulled:
            total.add(line)
    by_model: dict[str, list[Line]] = defaultdict(list)
    for (_, model), line in ordered:
        by_model[model].append(line)
    model_lines = []
    for model, mine in by_model.items():
        line = Line(model)
        for c in mine:
            if c.pulled:
                line.add(c)
        line.causes = _model_causes(model, mine, tolerance)
        model_lines.append(line)
    model_lines.sort(key=lambda ln: (ln.key.startswith("("), -max(ln.provider_cost, ln.ledger_cost), ln.key))
    return Reconciliation(
        provider=provider, period=period or f"{since.isoformat()}..{until.isoformat()}", since=since, until=until,
        tolerance=tolerance, days=day_lines, models=model_lines, cells=[line for _, line in ordered],
        keys=_key_lines(store, provider, since, until, rules or Rules(), pulled), total=total,
        not_pulled=[d for d in day_range(since, until) if d not in pulled and d <= today],
        future=[d for d in day_range(since, until) if d > today],
    )


def drift_alert(store: ProviderStore, rec: Reconciliation, threshold: Decimal, channels: Mapping[str, Channel],
                *, now: datetime | None = None) -> Alert | None:
    """Record and send a "drift" alert once per provider and period when the drift passes ``threshold`` percent."""
    drift = rec.drift
    if drift is None or drift <= threshold:
        return None
    now = now or datetime.now(UTC)
    t = rec.total
    alert = Alert(
        id=f"drift:{rec.provider}:{rec.period}", kind="drift", budget=None, scope=f"provider={rec.provider}",
        threshold=f"{threshold.normalize():f}%", spent=t.ledger_cost, limit=None, period=rec.period, days_left=None,
        projected=None, fired_at=now,
        message=(f"{rec.provider} billed {format_usd(t.provider_cost)}; spendtag's ledger shows "
                 f"{format_usd(t.ledger_cost)} ({percent_text(t.percent)} difference). "
                 f"Run `spendtag reconcile --provider {rec.provider} --period {rec.period}` for the causes."),
    )
    record = AlertRecord(alert.id, "drift", None, rec.period, alert.threshold, t.ledger_cost, None, now,
                         render_json(alert))
    if not store.add_alert(record):
        return None
    deliver(store, [alert], channels)
    return alert

