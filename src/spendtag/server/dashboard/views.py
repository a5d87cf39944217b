"""What the dashboard shows, as plain data: the pages render it and ``/api/v1`` returns it.

Money is an exact decimal string of USD (``"12.345678"``), never a float; counts are ints.
Every function takes the viewer's selection already narrowed to its scope (a client viewer's
tag value is one of the filters), so no function here can leak another client's data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from spendtag.bill.config import BillingConfig
from spendtag.bill.repricing import History
from spendtag.errors import SpendtagError
from spendtag.guard.budgets import Budget, Status, status
from spendtag.guard.forecasts import forecast
from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.store import CostRevision, EventPage, Store
from spendtag.money import exact_str
from spendtag.periods import Range
from spendtag.report import matching
from spendtag.report.breakdown import Family, build, families, group_key, parent_agent, share, totals_dict
from spendtag.report.selection import Selection
from spendtag.report.sessions import SessionView, titled, view
from spendtag.server.dashboard import billable
from spendtag.tags import Selector, check_key, check_value
from spendtag.usage import PricedEvent, PriceRef

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

STACK_LIMIT = 8          # series a chart stacks; the rest are summed as "(other)"
UNTAGGED = "(untagged)"
OTHER = "(other)"
NONE = "(none)"


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


TINY_BASE = 10 ** 12         # $1 in pico-USD: a change on less is said as an amount, never a percentage
TINY_SHARE = 100             # ... and on less than 1/100 of the total shown


def change_percent(now: int, before: int) -> str | None:
    if before <= 0:
        return None
    return str((Decimal(now - before) * 100 / Decimal(before)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def change(now: int, before: int, whole: int) -> dict[str, Any]:
    """How ``now`` compares with ``before``: a percentage only on a base worth one.

    ``kind`` is ``percent``; ``amount`` when the base is under $1 or under 1% of ``whole`` (a
    $0.18 base makes any change thousands of percent); ``new`` when there was nothing before;
    ``none`` when there is nothing either time.
    """
    if before <= 0:
        kind = "none" if now == 0 else "new"
    elif before < TINY_BASE or before * TINY_SHARE < whole:
        kind = "amount"
    else:
        kind = "percent"
    return {"kind": kind, "percent": change_percent(now, before) if kind == "percent" else None,
            "delta_usd": exact_str(now - before)}


def range_dict(rng: Range, tz: ZoneInfo) -> dict[str, Any]:
    return {"since": iso(rng.since), "until": iso(rng.until), "tz": tz.key, "label": rng.label(tz)}


def _months(rng: Range, tz: ZoneInfo) -> int | None:
    """How many whole calendar months the range is, or None if it is not months from a 1st to a 1st."""
    if rng.since is None or rng.until is None:
        return None
    start, end = rng.since.astimezone(tz), rng.until.astimezone(tz)
    if (start.hour, start.minute, end.hour, end.minute) != (0, 0, 0, 0) or start.day != 1 or end.day != 1:
        return None
    return (end.year - start.year) * 12 + end.month - start.month


def _months_back(at: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The same day of the month and time ``months`` earlier; a day that month lacks (the 31st) is its end."""
    local = at.astimezone(tz)
    year, month = divmod(local.year * 12 + local.month - 1 - months, 12)
    first = date(year, month + 1, 1)
    following = date(year + (month == 11), (month + 1) % 12 + 1, 1)
    if local.day > (following - first).days:
        return datetime.combine(following, datetime.min.time(), tz).astimezone(UTC)
    return datetime.combine(first.replace(day=local.day), local.timetz().replace(tzinfo=None),
                            tz).astimezone(UTC)


def previous_range(rng: Range, tz: ZoneInfo, now: datetime | None = None) -> Range | None:
    """The period before, like for like: the previous calendar month(s) for months, else the same length
    just before. For a period running at ``now``, only its part up to the same point: the 1st to the
    14th of last month against this month to the 14th, the same hours of last week, last year's days."""
    if rng.since is None or rng.until is None:
        return None
    months = _months(rng, tz)
    if months is not None:
        before = Range(_months_back(rng.since, months, tz), rng.since)
    else:
        before = Range(rng.since - (rng.until - rng.since), rng.since)
    if now is None or not rng.since <= now < rng.until:
        return before
    cut = _months_back(now, months, tz) if months is not None else now - (rng.until - rng.since)
    assert before.since is not None
    return Range(before.since, max(before.since, min(cut, rng.since)))


def bucket_group(rng: Range, span: tuple[datetime, datetime] | None) -> str:
    since = rng.since or (span[0] if span else None)
    until = rng.until or (span[1] if span else None)
    if since is None or until is None:
        return "day"
    length = until - since
    if length <= timedelta(days=2):
        return "hour"
    return "day" if length <= timedelta(days=120) else "month"


# -- selections that match nothing ------------------------------------------------------------

def check_names(store: Store, sel: Selection, *, by: Sequence[str] = (), scoped: bool = False,
                client_key: str | None = None) -> None:
    """Refuse a filter (or grouping) naming what no call carries, with the close matches.

    The client key is always a key to group by. Not for a client's link (``scoped``): the
    close matches would name other clients.
    """
    if not scoped:
        matching.check(store, sel.filters, by=by, known_keys=(client_key,) if client_key else ())


def nothing_found(store: Store, sel: Selection, requests: int, *, private: bool = False) -> matching.NoMatch | None:
    """When filters match no call in the period: why, and when the nearest call was (never a quiet $0)."""
    if requests or not matching.filtered(sel.filters):
        return None
    return matching.explain_empty(store, sel.filters, sel.range, sel.tz, private=private)


def with_tag(sel: Selection, key: str, value: str) -> Selection:
    want = Selector(check_key(key), "eq", check_value(key, value))
    if want in sel.filters.tags:
        return sel
    return Selection(replace(sel.filters, tags=(*sel.filters.tags, want)), sel.tz, sel.range)


# -- breakdowns and series ----------------------------------------------------------------

def breakdown(store: Store, filters: Filters, key: str, tz: ZoneInfo, *,
              limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of one grouping, costliest first, with shares; the untagged row is kept for tag keys."""
    report = build(store, [key], filters, tz, limit=limit)
    return [{"value": row.key[0], "label": report.labels(row)[0], **totals_dict(row.totals),
             "share_percent": str(row.share)} for row in report.rows]


@dataclass
class Series:
    """A stacked chart: buckets (time labels) x series (tag values), cost in pico-USD.

    ``cost`` sums the priced calls; ``requests`` and ``unpriced`` count every call and the
    unpriced ones, so a bucket of unpriced calls is drawn and named as such, never as $0.
    """

    group: str
    buckets: list[str]
    names: list[str]
    cost: dict[str, list[int]]            # series name -> cost per bucket
    requests: dict[str, list[int]] = field(default_factory=dict)
    unpriced: dict[str, list[int]] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)   # the values summed as "(other)"

    def _counts(self, table: dict[str, list[int]], name: str) -> list[int]:
        return table.get(name) or [0] * len(self.buckets)

    def as_dict(self) -> dict[str, Any]:
        """Amounts are null where every call is unpriced (unknown, not 0)."""
        out = []
        for n in self.names:
            calls, unpriced = self._counts(self.requests, n), self._counts(self.unpriced, n)
            out.append({"name": n, "cost_usd": [_usd_or_none(c, r, u) for c, r, u in
                                                zip(self.cost[n], calls, unpriced, strict=True)],
                        "total_usd": _usd_or_none(sum(self.cost[n]), sum(calls), sum(unpriced)),
                        "requests": calls, "unpriced_requests": unpriced})
        return {"group": self.group, "buckets": self.buckets, "series": out, "others": self.others}


def _usd_or_none(cost: int, requests: int, unpriced: int) -> str | None:
    return None if 0 < requests <= unpriced else exact_str(cost)


def bucket_labels(rng: Range, group: str, tz: ZoneInfo, seen: Iterable[str]) -> list[str]:
    """Every bucket of the range (empty ones too, so a chart's gaps show), or those seen if open."""
    labels = set(seen)
    if rng.since is not None and rng.until is not None and group == "month":
        at = rng.since.astimezone(tz)
        year, month = at.year, at.month
        while datetime.combine(date(year, month, 1), datetime.min.time(), tz) < rng.until and len(labels) < 2000:
            labels.add(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if rng.since is not None and rng.until is not None and group in ("hour", "day"):
        step = timedelta(hours=1) if group == "hour" else timedelta(days=1)
        fmt = "%Y-%m-%d %H:00" if group == "hour" else "%Y-%m-%d"
        at = rng.since.astimezone(tz)
        if group == "day":
            at = at.replace(hour=0, minute=0, second=0, microsecond=0)
        while at < rng.until and len(labels) < 2000:
            labels.add(at.strftime(fmt))
            at = (at.astimezone(UTC) + step).astimezone(tz) if group == "hour" else \
                datetime.combine(at.date() + step, at.timetz()).astimezone(tz)
    return sorted(labels)


# The totals a chart, a comparison with the period before and a forecast read (a reading sums only those).
_COUNTED = ("requests", "unpriced_requests", "cost")


def series(store: Store, filters: Filters, rng: Range, stack: str, tz: ZoneInfo, *, group: str | None = None,
           limit: int = STACK_LIMIT) -> Series:
    """Spend over time stacked by ``stack`` (a tag key or a dimension); the biggest ``limit`` kept apart."""
    if group is None:
        group = bucket_group(rng, None if rng.since and rng.until else store.time_span())
    key = group_key(stack)
    rows = store.aggregate(filters, [group, key], tz, fields=_COUNTED)
    per_value: dict[str | None, int] = {}
    for a in rows:
        per_value[a.key[1]] = per_value.get(a.key[1], 0) + a.totals.cost
    ranked = sorted((v for v in per_value if v is not None), key=lambda v: (-per_value[v], v))
    kept = set(ranked[:limit])
    names = ranked[:limit]
    if len(ranked) > limit:
        names.append(OTHER)
    if None in per_value:
        names.append(UNTAGGED if key.startswith("tag:") else NONE)
    buckets = bucket_labels(rng, group, tz, (a.key[0] or "" for a in rows))
    index = {b: i for i, b in enumerate(buckets)}
    cost = {n: [0] * len(buckets) for n in names}
    requests = {n: [0] * len(buckets) for n in names}
    unpriced = {n: [0] * len(buckets) for n in names}
    for a in rows:
        value = a.key[1]
        name = value if value in kept else (UNTAGGED if key.startswith("tag:") else NONE) if value is None else OTHER
        at = index[a.key[0] or ""]
        cost[name][at] += a.totals.cost
        requests[name][at] += a.totals.requests
        unpriced[name][at] += a.totals["unpriced_requests"]
    return Series(group, buckets, names, cost, requests, unpriced, ranked[limit:])


# -- overview -------------------------------------------------------------------------------

def project(store: Store, filters: Filters, rng: Range, tz: ZoneInfo, now: datetime) -> dict[str, Any] | None:
    """The forecast to the end of a period that contains now (weekday-aware, 28 days of history)."""
    if rng.since is None or rng.until is None or not rng.since <= now < rng.until:
        return None
    start = rng.since.astimezone(tz).date()
    last = (rng.until - timedelta(microseconds=1)).astimezone(tz).date()
    today = now.astimezone(tz).date()
    history_start = datetime.combine(start - timedelta(days=28), datetime.min.time(), tz)
    daily: dict[date, int] = {}
    history: dict[date, int] = {}
    for a in store.aggregate(replace(filters, since=history_start, until=rng.until), ["day"], tz, fields=("cost",)):
        day = date.fromisoformat(a.key[0] or "")
        if day > today:       # stamped later than now (a clock ahead): not spend to project from
            continue
        (history if day < start else daily)[day] = a.totals.cost
    f = forecast(daily, period_start=start, period_end=last, today=today, history=history,
                 now=now.astimezone(tz).replace(tzinfo=None))
    return {"projected_usd": exact_str(f.projected), "low_usd": exact_str(f.low), "high_usd": exact_str(f.high),
            "method": f.method, "period_end": last.isoformat()}


def anomaly_marks(store: Store, rng: Range, group: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Anomaly alerts in the range, with the chart bucket each falls in."""
    fmt = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "month": "%Y-%m"}.get(group, "%Y-%m-%d")
    marks = []
    for alert in store.alerts(since=rng.since - timedelta(days=2) if rng.since else None):
        if alert.kind != "anomaly":
            continue
        hour = _anomaly_hour(alert.period)
        if hour is None or (rng.since and hour < rng.since) or (rng.until and hour >= rng.until):
            continue
        payload = dict(alert.payload)
        marks.append({"hour": iso(hour), "bucket": hour.astimezone(tz).strftime(fmt), "kind": alert.threshold,
                      "scope": payload.get("scope"), "message": payload.get("message", "")})
    return sorted(marks, key=lambda m: (m["hour"], m["kind"]))


def _anomaly_hour(period: str) -> datetime | None:
    try:   # "2026-03-14 10:00 UTC", as the anomaly alert records it
        return datetime.strptime(period.removesuffix(" UTC"), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return None


# Runs reads of the ledger, each given a connection of its own, possibly at the same time.
Parallel = Callable[[Sequence[Callable[[Store], Any]]], list[Any]]


@dataclass(frozen=True)
class Clients:
    """The overview's per-client table: the client tag key, and the invoice terms (None: no billable column)."""

    key: str
    billing: BillingConfig | None = None


def overview(store: Store, sel: Selection, budgets: Sequence[Budget], *, stack: str, now: datetime,
             with_anomalies: bool = True, parallel: Parallel | None = None,
             clients: Clients | None = None) -> dict[str, Any]:
    f, rng, tz = sel.filters, sel.range, sel.tz
    run = parallel or (lambda reads: [read(store) for read in reads])
    keys = ["provider", "model", "agent"]
    whole = Filters(since=rng.since, until=rng.until)
    bill_keys: list[str] = []
    if clients is not None:
        bill_keys = billable.group_keys(clients.billing) if clients.billing else [f"tag:{clients.key}"]
    before = previous_range(rng, tz, now)
    # The groupings a page needs, read side by side when the server allows it: the chart; one grouping
    # that gives the model, provider and agent breakdowns and the unpriced models; the period before
    # by client; the period's sums an invoice needs, by client (the whole period: an invoice bills all
    # of a client's calls), and by client under the page's filters when it has some.
    reads: list[Callable[[Store], Any]] = [
        lambda s: series(s, f, rng, stack, tz),
        lambda s: s.aggregate(f, keys, tz),
        lambda s: [] if before is None else s.aggregate(replace(f, since=before.since, until=before.until),
                                                        [f"tag:{clients.key}"] if clients else [], tz,
                                                        fields=_COUNTED)]
    filtered = matching.filtered(f)
    if clients is not None and not filtered:
        # One reading of the period for both: its breakdowns and its sums by client for an invoice.
        keys.extend(k for k in bill_keys if k not in keys)
    elif clients is not None:
        reads.append(lambda s: s.aggregate(whole, bill_keys, tz))
        reads.append(lambda s: s.aggregate(f, [f"tag:{clients.key}"], tz))
    chart, grouped, earlier, *by_client = run(reads)
    total = Totals()
    models: dict[str, Totals] = {}
    providers: dict[str, Totals] = {}
    agents: dict[str, Totals] = {}
    unpriced: dict[tuple[str, str], int] = {}
    model_provider: dict[str, str] = {}
    from spendtag.pricing.identity import model_name  # the price data's names: only when a page shows models

    for a in grouped:
        provider, model, agent = (v or NONE for v in a.key[:3])
        total.merge(a.totals)
        models.setdefault(model, Totals()).merge(a.totals)
        model_provider[model] = provider
        providers.setdefault(provider, Totals()).merge(a.totals)
        agents.setdefault(agent, Totals()).merge(a.totals)
        if a.totals["unpriced_requests"]:
            unpriced[provider, model] = unpriced.get((provider, model), 0) + a.totals["unpriced_requests"]
    previous, change_pct, compared = None, None, None
    if before is not None:
        prev_total = Totals()
        for a in earlier:
            prev_total.merge(a.totals)
        previous = {**range_dict(before, tz), "cost_usd": totals_dict(prev_total)["cost_usd"],
                    "requests": prev_total.requests, "unpriced_requests": prev_total["unpriced_requests"],
                    "like_for_like": rng.since is not None and rng.until is not None and rng.since <= now < rng.until}
        compared = change(total.cost, prev_total.cost, total.cost)
        change_pct = compared["percent"]
    untagged = sum(chart.cost.get(UNTAGGED, ()))
    untagged_calls, untagged_unpriced = sum(chart.requests.get(UNTAGGED, ())), sum(chart.unpriced.get(UNTAGGED, ()))
    statuses = [status(store, b, now, tz) for b in budgets if b.in_effect(now, tz)]
    out = {
        "period": range_dict(rng, tz),
        "stack": stack,
        "total": totals_dict(total),
        "previous": previous,
        "change_percent": change_pct,
        "change": compared,
        "forecast": project(store, f, rng, tz, now),
        "untagged": {"key": stack, "requests": untagged_calls, "unpriced_requests": untagged_unpriced,
                     "cost_usd": _usd_or_none(untagged, untagged_calls, untagged_unpriced),
                     "share_percent": str(share(untagged, total.cost))},
        "unpriced": {"requests": total["unpriced_requests"],
                     "models": [{"provider": p, "model": m, "requests": n}
                                for (p, m), n in sorted(unpriced.items(), key=lambda kv: (-kv[1], kv[0]))]},
        "chart": chart.as_dict(),
        "by_model": _family_rows(families(models, lambda m: m if m == NONE else model_name(model_provider[m], m)),
                                 total.cost),
        "by_provider": _rows(providers, total.cost),
        "by_agent": _family_rows(families(agents, parent_agent), total.cost),
        "anomalies": anomaly_marks(store, rng, chart.group, tz) if with_anomalies else [],
        "budgets": [budget_dict(s) for s in sorted(statuses, key=lambda s: -s.spent * 1000 // s.budget.limit)[:5]],
    }
    if clients is not None:
        if filtered:
            out["clients"] = client_rows(store, sel, clients, by_client[1], [f"tag:{clients.key}"], earlier,
                                         statuses, total.cost, by_client[0], bill_keys)
        else:
            out["clients"] = client_rows(store, sel, clients, grouped, keys, earlier, statuses, total.cost,
                                         grouped, keys)
    return out


def period_name(rng: Range, tz: ZoneInfo) -> str | None:
    """The period as invoices name it (2026-03, 2026-W11, 2026-03-14, 2026), or None for another range."""
    if rng.since is None or rng.until is None:
        return None
    start, end = rng.since.astimezone(tz), rng.until.astimezone(tz)
    months = _months(rng, tz)
    if months == 1:
        return f"{start:%Y-%m}"
    if months == 12 and start.month == 1:
        return f"{start:%Y}"
    if (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0):
        days = (end.date() - start.date()).days
        if days == 1:
            return f"{start:%Y-%m-%d}"
        if days == 7 and start.weekday() == 0:
            year, week, _ = start.date().isocalendar()
            return f"{year}-W{week:02d}"
    return None


def client_rows(store: Store, sel: Selection, clients: Clients, grouped: Sequence[Any], keys: Sequence[str],
                earlier: Sequence[Any], statuses: Sequence[Status], whole: int, bill_rows: Sequence[Any],
                bill_keys: Sequence[str]) -> dict[str, Any]:
    """Each client this period and the one before, its budget, what it would be invoiced and whether it was."""
    at = list(keys).index(f"tag:{clients.key}")
    now_by: dict[str | None, Totals] = {}
    for a in grouped:
        now_by.setdefault(a.key[at], Totals()).merge(a.totals)
    before_by: dict[str | None, Totals] = {}
    for a in earlier:
        before_by.setdefault(a.key[0] if a.key else None, Totals()).merge(a.totals)
    period = period_name(sel.range, sel.tz)
    due: dict[str, Decimal] = {}
    note = None
    if clients.billing is not None:
        try:
            found = billable.billable(store, clients.billing, period or sel.range.label(sel.tz), sel.range, sel.tz,
                                      bill_rows, bill_keys)
            due = found.due
        except SpendtagError as exc:      # terms that cannot be applied: said, not a failed page
            note = str(exc)
    rows = []
    names = sorted((v for v in {*now_by, *before_by} if v is not None),
                   key=lambda v: (-(now_by[v].cost if v in now_by else 0), v))
    for name in [*names, *([None] if None in now_by or None in before_by else [])]:
        now_t, before_t = now_by.get(name, Totals()), before_by.get(name, Totals())
        own = [st for st in statuses if name is not None and Selector(clients.key, "eq", name) in st.budget.scope]
        worst = max(own, key=lambda st: st.spent * 1000 // st.budget.limit, default=None)
        rows.append({
            "value": name, "label": UNTAGGED if name is None else name, **totals_dict(now_t),
            "share_percent": str(share(now_t.cost, whole)),
            "previous": {"cost_usd": totals_dict(before_t)["cost_usd"], "requests": before_t.requests,
                         "unpriced_requests": before_t["unpriced_requests"]},
            "change": change(now_t.cost, before_t.cost, whole),
            "budget": None if worst is None else budget_dict(worst),
            "billable_usd": None if name is None or name not in due else f"{due[name]:.2f}",
            "invoices": [] if name is None or period is None else store.issued_numbers(name, period),
        })
    return {"key": clients.key, "period": period, "billing": clients.billing is not None, "note": note,
            "rows": rows}


def _family_rows(found: list[Family], whole: int) -> list[dict[str, Any]]:
    """Rows of families (a model's dated ids, an agent's sub-agents as one), with the ids inside in ``detail``."""
    ordered = sorted(found, key=lambda f: (-f.totals.cost, -f.totals.requests, f.name))
    return [{"value": f.name, "label": f.label, "detail": f.detail, "members": sorted(f.members),
             **totals_dict(f.totals), "share_percent": str(share(f.totals.cost, whole))} for f in ordered]


def _rows(groups: dict[str, Totals], whole: int) -> list[dict[str, Any]]:
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].cost, -kv[1].requests, kv[0]))
    return [{"value": k, "label": k, **totals_dict(t), "share_percent": str(share(t.cost, whole))}
            for k, t in ordered]


# -- one tag value (a client's page) ----------------------------------------------------------

def scoped_budgets(budgets: Iterable[Budget], key: str, value: str) -> list[Budget]:
    """Budgets limited to exactly this tag value (a budget over everyone would show others' spend)."""
    want = Selector(key, "eq", value)
    return [b for b in budgets if want in b.scope]


def tag_value(store: Store, sel: Selection, key: str, value: str, budgets: Sequence[Budget], *, now: datetime,
              client_key: str, with_calls: bool = True, parallel: Parallel | None = None) -> dict[str, Any]:
    want = Selector(key, "eq", value)
    f = sel.filters if want in sel.filters.tags else replace(sel.filters, tags=(*sel.filters.tags, want))
    scoped = Selection(f, sel.tz, sel.range)
    summary = overview(store, scoped, scoped_budgets(budgets, key, value), stack="model", now=now,
                       with_anomalies=False, parallel=parallel)
    out: dict[str, Any] = {
        "key": key, "value": value,
        "period": summary["period"], "total": summary["total"], "previous": summary["previous"],
        "change_percent": summary["change_percent"], "change": summary["change"], "forecast": summary["forecast"],
        "unpriced": summary["unpriced"], "chart": summary["chart"], "by_model": summary["by_model"],
        "budgets": [budget_dict(status(store, b, now, sel.tz)) for b in scoped_budgets(budgets, key, value)
                    if b.in_effect(now, sel.tz)],
        "invoices": [invoice_dict(i) for i in store.issued_invoices(value)] if key == client_key else [],
    }
    if with_calls:
        out["by_agent"] = summary["by_agent"]
        out["sessions"] = [session_dict(view(s)) for s in store.sessions(f, limit=10)]
        out["top_calls"] = [event_dict(e) for e in costliest(store, f, 10, parallel)]
    return out


def costliest(store: Store, f: Filters, limit: int, parallel: Parallel | None = None) -> list[PricedEvent]:
    """The ``limit`` costliest calls (as ``event_page(order="-cost")`` lists them), the range read in
    two halves side by side when the server allows: no index orders a month's calls by cost."""
    if parallel is None or f.since is None or f.until is None:
        return store.event_page(f, order="-cost", limit=limit).events
    middle = f.since + (f.until - f.since) / 2

    def half(since: datetime, until: datetime) -> Callable[[Store], list[PricedEvent]]:
        return lambda s: s.event_page(replace(f, since=since, until=until), order="-cost", limit=limit).events

    halves = parallel([half(f.since, middle), half(middle, f.until)])
    merged = [e for half in halves for e in half]
    merged.sort(key=lambda p: (p.cost.total, p.event.event_id), reverse=True)
    return merged[:limit]


# -- tables ----------------------------------------------------------------------------------

def event_dict(priced: PricedEvent) -> dict[str, Any]:
    e, c = priced.event, priced.cost
    u = e.usage
    return {
        "event_id": e.event_id, "time": iso(e.ts), "provider": e.provider, "model": e.model,
        "project": e.project, "session": e.session, "agent": e.agent, "key": e.key, "user": e.user,
        "source": e.source, "status": e.status, "tags": dict(sorted(e.tags.items())),
        "tokens": {"input": u.input_tokens + u.input_audio_tokens, "cache_read": u.cache_read_tokens,
                   "cache_write": u.cache_write_5m_tokens + u.cache_write_1h_tokens,
                   "output": u.output_tokens + u.output_audio_tokens, "reasoning": u.reasoning_tokens},
        "priced": c.priced, "estimated": u.estimated,
        "cost_usd": exact_str(c.total) if c.priced else None,
        "cost_components_usd": {k: exact_str(v) for k, v in sorted(c.components.items())},
        "price": price_dict(c.price),
    }


def price_dict(ref: PriceRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"provider": ref.provider, "model": ref.model, "date": ref.price_date, "source": ref.source,
            "note": ref.note, "rates": dict(sorted(ref.rates.items()))}


def revision_dict(r: CostRevision) -> dict[str, Any]:
    c = r.cost
    return {"revision": r.revision, "priced": c.priced, "cost_usd": exact_str(c.total) if c.priced else None,
            "cost_components_usd": {k: exact_str(v) for k, v in sorted(c.components.items())},
            "price": price_dict(c.price), "reason": r.reason, "replaced_at": iso(r.replaced_at)}


def event_detail(h: History) -> dict[str, Any]:
    """One event and the costs it had before its current one (``spendtag reprice`` keeps each), oldest first."""
    return {**event_dict(h.priced), "revisions": [revision_dict(r) for r in h.revisions]}


def page_numbers(total: int, page: int, per_page: int) -> dict[str, int]:
    pages = max(1, -(-total // per_page))
    return {"page": page, "per_page": per_page, "total": total, "pages": pages}


SPLIT_UP_TO = 2000      # calls before a page's end for which ordering by cost is read in two halves


def events_table(store: Store, sel: Selection, *, order: str, page: int, per_page: int, min_cost: int | None,
                 max_cost: int | None, parallel: Parallel | None = None) -> dict[str, Any]:
    offset = (page - 1) * per_page
    f = sel.filters
    if order in ("cost", "-cost") and parallel is not None and f.since and f.until and offset + per_page <= SPLIT_UP_TO:
        # No index orders calls by cost: each half of the range is sorted side by side, and the
        # page taken from both, in the ledger's own order (cost, then event id).
        middle = f.since + (f.until - f.since) / 2

        def half(since: datetime, until: datetime) -> Callable[[Store], EventPage]:
            return lambda s: s.event_page(replace(f, since=since, until=until), order=order,
                                          limit=offset + per_page, min_cost=min_cost, max_cost=max_cost)

        halves = parallel([half(f.since, middle), half(middle, f.until)])
        merged = [e for h in halves for e in h.events]
        merged.sort(key=lambda p: (p.cost.total, p.event.event_id), reverse=order == "-cost")
        found = EventPage(merged[offset:offset + per_page], sum(h.total for h in halves))
    else:
        found = store.event_page(f, order=order, offset=offset, limit=per_page, min_cost=min_cost, max_cost=max_cost)
    return {"period": range_dict(sel.range, sel.tz), "order": order, **page_numbers(found.total, page, per_page),
            "events": [event_dict(e) for e in found.events]}


def session_dict(v: SessionView) -> dict[str, Any]:
    return {"session": v.session, "start": iso(v.start), "end": iso(v.end),
            "duration_seconds": int(v.duration.total_seconds()), "title": v.title, "project": v.project,
            "projects": v.projects, "agents": v.agents, "agent_labels": v.agent_labels, "models": v.models,
            "tags": v.tags, **totals_dict(v.totals)}


def sessions_table(store: Store, sel: Selection, *, sort: str, page: int, per_page: int, min_cost: int | None,
                   max_cost: int | None, titles: bool = True) -> dict[str, Any]:
    lo = min_cost or 0
    offset = (page - 1) * per_page
    if sort == "recent" and min_cost is None and max_cost is None:
        # The ledger pages the most recent sessions itself and sums only the page's.
        count = store.session_count(sel.filters)
        found = store.sessions(sel.filters, limit=per_page, offset=offset) if offset < count else []
    elif sort == "cost":
        totals = store.session_costs(sel.filters)
        chosen = [s for s, c in totals.items() if lo <= c and (max_cost is None or c <= max_cost)]
        count = len(chosen)
        # Ask the ledger about this page's sessions only.
        chosen.sort(key=lambda s: (-totals[s], s))
        ids = tuple(chosen[offset:offset + per_page])
        wanted = sel.filters.dims.get("session")
        dims = {**sel.filters.dims, "session": tuple(s for s in ids if wanted is None or s in wanted)}
        found = store.sessions(replace(sel.filters, dims=dims), by_cost=True) if ids else []
    else:
        # One grouping by session counts them and spares the ledger summing again.
        grouped = {a.key[0]: a.totals for a in store.aggregate(sel.filters, ["session"]) if a.key[0]}
        count = sum(1 for t in grouped.values() if lo <= t.cost and (max_cost is None or t.cost <= max_cost))
        found = store.sessions(sel.filters, limit=per_page, offset=offset, min_cost=lo,
                               max_cost=max_cost, totals=grouped)
    return {"period": range_dict(sel.range, sel.tz), "sort": sort, **page_numbers(count, page, per_page),
            "sessions": [session_dict(v) for v in titled(store, [view(s) for s in found], titles)]}


def session_detail(store: Store, session: str, scope: tuple[Selector, ...] = (), *,
                   titles: bool = True) -> dict[str, Any] | None:
    f = Filters(tags=scope, dims={"session": (session,)})
    found = store.sessions(f)
    if not found:
        return None
    v = titled(store, [view(found[0])], titles)[0]
    calls = store.event_page(f, order="ts", limit=1000)
    return {**session_dict(v), "by_model": breakdown(store, f, "model", ZoneInfo("UTC")),
            "calls": [event_dict(e) for e in calls.events], "calls_total": calls.total}


# -- budgets, alerts, invoices, keys ------------------------------------------------------------

def budget_dict(st: Status) -> dict[str, Any]:
    b = st.budget
    return {
        "name": b.name, "scope": b.describe_scope(), "period": st.period, "period_kind": b.period,
        "limit_usd": exact_str(b.limit), "spent_usd": exact_str(st.spent), "percent": str(st.percent),
        "state": st.state, "phase": st.phase, "enforce": b.enforce, "origin": b.origin,
        "projected_usd": None if st.projected is None else exact_str(st.projected),
        "low_usd": None if st.low is None else exact_str(st.low),
        "high_usd": None if st.high is None else exact_str(st.high),
        "run_out": None if st.run_out is None else st.run_out.isoformat(),
        "days_left": None if st.days_left is None else str(st.days_left),
        # A forecast past the limit is a warning before the limit is reached.
        "forecast_over": st.projected is not None and st.projected > b.limit,
        "forecast_over_by_usd": None if st.projected is None or st.projected <= b.limit
        else exact_str(st.projected - b.limit),
        "thresholds": [{"label": t.label, "amount_usd": exact_str(t.amount), "stop": t.stop, "default": t.implied,
                        "crossed": st.spent >= t.amount} for t in b.thresholds()],
    }


def budgets_list(store: Store, budgets: Sequence[Budget], now: datetime, tz: ZoneInfo) -> list[dict[str, Any]]:
    return [budget_dict(status(store, b, now, tz)) for b in budgets]


def recommendations(store: Store, pricer: Pricer, sel: Selection) -> dict[str, Any]:
    """The same document as ``spendtag recommend --format json``."""
    from spendtag.report.recommendations import recommendations as find

    return find(store, pricer, sel.filters, sel.tz).to_dict()


def alerts_list(store: Store, *, limit: int = 200) -> list[dict[str, Any]]:
    out = []
    for a in store.alerts(limit=limit):
        payload = dict(a.payload)
        out.append({"alert_id": a.alert_id, "kind": a.kind, "budget": a.budget, "period": a.period,
                    "threshold": a.threshold, "spent_usd": exact_str(a.spent),
                    "limit_usd": None if a.limit is None else exact_str(a.limit), "fired_at": iso(a.fired_at),
                    "message": payload.get("message", ""), "scope": payload.get("scope")})
    return out


def invoice_dict(inv: Any, today: date | None = None) -> dict[str, Any]:
    """An issued invoice for pages and the API: its total in its own currency, and its status today."""
    from spendtag.bill.status import current

    return {"number": inv.number, "client": inv.client, "period": inv.period, "issued_at": inv.issued_at,
            "total_due": inv.total_due, "currency": inv.currency, "due_on": inv.due_on or None,
            "status": current(inv, today or datetime.now(UTC).date()), "status_by": inv.status_by or None,
            "status_at": iso(inv.status_at)}


def keys_list(store: Store) -> list[dict[str, Any]]:
    return [{"key_id": k.key_id, "name": k.name, "prefix": k.prefix, "tags": dict(k.tags), "budget": k.budget,
             "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at), "active": k.active}
            for k in store.keys(include_revoked=True)]


def tag_values(store: Store, sel: Selection, key: str) -> list[dict[str, Any]]:
    return breakdown(store, sel.filters, key, sel.tz)
