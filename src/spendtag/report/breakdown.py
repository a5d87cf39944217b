"""Reports: grouped totals with shares, the untagged row, and the unpriced warning.

A report is a grouping (``--by client,model``) of the events that pass some filters. Its
rows partition those events, so the rows (untagged row included) add up to the total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.ledger.query import EVENT_DIMENSIONS, Aggregate, Filters, QueryError, Totals
from spendtag.ledger.store import Store
from spendtag.money import exact_str
from spendtag.periods import TIME_GROUPS, Range, sort_key
from spendtag.tags import check_key

# Words a user may pass to --by that are not tag keys.
BY_CHOICES: tuple[str, ...] = (*EVENT_DIMENSIONS, *TIME_GROUPS)


def group_key(name: str) -> str:
    """User-facing ``--by`` word -> store group key: a dimension, a time group, or ``tag:<key>``."""
    name = name.strip()
    if name in BY_CHOICES:
        return name
    if name.startswith("tag:"):
        name = name[4:]
    try:
        return "tag:" + check_key(name)
    except ValueError:
        raise QueryError(f"cannot group by {name!r}: use a tag key or one of {', '.join(BY_CHOICES)}") from None


def parse_by(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise QueryError("--by needs at least one key, e.g. --by client")
    if len(names) > 2:
        raise QueryError("--by takes at most two keys, e.g. --by client,model")
    return names


@dataclass(slots=True)
class Row:
    key: tuple[str | None, ...]
    totals: Totals
    share: Decimal            # percent of the report's total cost, 1 decimal place


@dataclass(slots=True)
class UnpricedModel:
    provider: str
    model: str
    requests: int


@dataclass(slots=True)
class Report:
    by: list[str]                          # as the user wrote them ("client", "model")
    keys: list[str]                        # store keys ("tag:client", "model")
    rows: list[Row]
    total: Totals
    range: Range
    tz: ZoneInfo
    unpriced: list[UnpricedModel] = field(default_factory=list)

    @property
    def unpriced_requests(self) -> int:
        return self.total["unpriced_requests"]

    def labels(self, row: Row) -> list[str]:
        return [label(k, v) for k, v in zip(self.keys, row.key, strict=True)]


def label(key: str, value: str | None) -> str:
    if value is not None:
        return value
    return "(untagged)" if key.startswith("tag:") else "(none)"


def share(part: int, whole: int) -> Decimal:
    if whole <= 0:
        return Decimal("0.0")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def _sort(rows: list[Row], keys: Sequence[str], order: str) -> None:
    if order == "time" or (keys and all(k in TIME_GROUPS for k in keys)):
        rows.sort(key=lambda r: tuple(sort_key(k, v) for k, v in zip(keys, r.key, strict=True)))
    else:
        # Largest cost first; ties by label so output is stable; absent values last among equals.
        rows.sort(key=lambda r: (-r.totals.cost, -r.totals.requests,
                                 tuple((v is None, v or "") for v in r.key)))


def named_models(aggregates: Sequence[Aggregate], keys: Sequence[str], query: Sequence[str]) -> list[Aggregate]:
    """``aggregates`` grouped by ``query`` (``keys`` plus "provider" if it lacked one), regrouped by
    ``keys`` with each model under its name in the price data (dated ids with their model)."""
    from spendtag.pricing.identity import model_name  # loads the price data: only for a model grouping

    at, provider_at = query.index("model"), query.index("provider")
    merged: dict[tuple[str | None, ...], Totals] = {}
    for a in aggregates:
        key = list(a.key)
        if key[at] is not None:
            key[at] = model_name(key[provider_at], key[at])
        group = tuple(key[:len(keys)])
        totals = merged.get(group)
        if totals is None:
            merged[group] = totals = Totals()
        totals.merge(a.totals)
    return [Aggregate(k, t) for k, t in merged.items()]


def parent_agent(agent: str) -> str:
    """The coding agent a sub-agent works for (``claude-code/agent-1a2b`` -> ``claude-code``).

    A reader names a sub-agent ``<agent>/<sub-agent>`` (Claude Code's ``subagents/*.jsonl``
    and ``progress`` records); any other agent name is its own parent.
    """
    head, slash, _ = agent.partition("/")
    if slash:
        from spendtag.capture.agents import registry

        if head in registry.names():
            return head
    return agent


@dataclass(slots=True)
class Family:
    """Rows of one family (a model's dated and undated ids; an agent and its sub-agents) as one."""

    name: str
    totals: Totals
    members: dict[str, Totals]          # each id of the family, with its own totals

    @property
    def label(self) -> str:
        """The name, and for an agent with sub-agents how many: ``claude-code (+58 sub-agents)``."""
        subs = [m for m in self.members if m != self.name and m.startswith(f"{self.name}/")]
        if not subs:
            return self.name
        return f"{self.name} (+{len(subs)} sub-agent{'s' if len(subs) != 1 else ''})"

    @property
    def detail(self) -> str:
        """The ids inside, costliest first (for a hover or a detail line); empty when the name is the only one."""
        if list(self.members) == [self.name]:
            return ""
        ordered = sorted(self.members.items(), key=lambda kv: (-kv[1].cost, kv[0]))
        return ", ".join(m for m, _ in ordered)


def families(groups: dict[str, Totals], family_of: Callable[[str], str]) -> list[Family]:
    """``groups`` (id -> totals) merged by ``family_of(id)``; the sums stay exact."""
    out: dict[str, Family] = {}
    for member, totals in groups.items():
        name = family_of(member)
        found = out.get(name)
        if found is None:
            found = out[name] = Family(name, Totals(), {})
        found.totals.merge(totals)
        found.members.setdefault(member, Totals()).merge(totals)
    return list(out.values())


def aggregate(store: Store, filters: Filters, keys: Sequence[str], tz: ZoneInfo, *,
              exact_models: bool = False) -> list[Aggregate]:
    """``store.aggregate``, with a model's dated and undated ids as one model unless ``exact_models``."""
    if "model" not in keys or exact_models:
        return store.aggregate(filters, keys, tz)
    query = list(keys) if "provider" in keys else [*keys, "provider"]
    return named_models(store.aggregate(filters, query, tz), keys, query)


def build(store: Store, by: Sequence[str], filters: Filters, tz: ZoneInfo, *, order: str = "cost",
          limit: int | None = None, now: datetime | None = None, exact_models: bool = False) -> Report:
    """Group, total, share, and add the untagged row and the unpriced models.

    Grouped by model, the ids of one model (``claude-sonnet-4-5-20250929``, ``claude-sonnet-4-5``)
    are one row named as the price data names it; ``exact_models`` keeps each id apart.
    """
    keys = [group_key(n) for n in by]
    aggregates = aggregate(store, filters, keys, tz, exact_models=exact_models)
    total = Totals()
    for a in aggregates:
        total.merge(a.totals)
    rows = [Row(a.key, a.totals, share(a.totals.cost, total.cost)) for a in aggregates]
    # Every report shows the untagged row for a tag key, even when nothing is untagged.
    for i, k in enumerate(keys):
        if k.startswith("tag:") and not any(r.key[i] is None for r in rows):
            rows.append(Row(tuple(None for _ in keys), Totals(), Decimal("0.0")))
    _sort(rows, keys, order)
    if limit is not None:
        rows = rows[:limit]
    report = Report(list(by), keys, rows, total, Range(filters.since, filters.until), tz)
    if total["unpriced_requests"]:
        for a in store.aggregate(filters, ["provider", "model"], tz):
            if a.totals["unpriced_requests"]:
                report.unpriced.append(UnpricedModel(a.key[0] or "", a.key[1] or "", a.totals["unpriced_requests"]))
        report.unpriced.sort(key=lambda u: (-u.requests, u.provider, u.model))
    return report


@dataclass(slots=True)
class Comparison:
    labels: list[str]
    totals: list[Totals]
    models: list[dict[str, Totals]]


def compare(store: Store, sides: Sequence[Filters], labels: Sequence[str], tz: ZoneInfo, *,
            exact_models: bool = False) -> Comparison:
    """Side-by-side totals (and per-model totals) for several selections."""
    totals: list[Totals] = []
    models: list[dict[str, Totals]] = []
    for f in sides:
        t = Totals()
        per_model: dict[str, Totals] = {}
        for a in aggregate(store, f, ["model"], tz, exact_models=exact_models):
            t.merge(a.totals)
            per_model[a.key[0] or "(none)"] = a.totals
        totals.append(t)
        models.append(per_model)
    return Comparison(list(labels), totals, models)


# -- the report as data (the CLI's --format json and the web API give the same document) ---------

REPORT_TOKEN_BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                        "output_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens")


def totals_dict(totals: Totals) -> dict[str, Any]:
    """Counts as ints, money as exact decimal strings (USD).

    ``cost_usd`` sums the priced calls; it is null when every call is unpriced (their cost
    is unknown, not 0), and ``unpriced_requests`` counts the calls it leaves out.
    """
    every_unpriced = totals.requests and totals["unpriced_requests"] >= totals.requests
    return {
        "requests": totals.requests,
        "unpriced_requests": totals["unpriced_requests"],
        "tokens": {b: totals[b] for b in REPORT_TOKEN_BUCKETS},
        "web_search_requests": totals["web_search_requests"],
        "cost_usd": None if every_unpriced else exact_str(totals.cost),
        "cost_components_usd": {name[5:]: exact_str(totals[name]) for name in totals.as_dict()
                                if name.startswith("cost_") and totals[name]},
    }


def row_dict(report: Report, row: Row) -> dict[str, Any]:
    return {**dict(zip(report.by, row.key, strict=True)), **totals_dict(row.totals), "share_percent": str(row.share)}


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "by": report.by,
        "period": {
            "since": report.range.since.isoformat() if report.range.since else None,
            "until": report.range.until.isoformat() if report.range.until else None,
            "tz": report.tz.key,
        },
        "rows": [row_dict(report, r) for r in report.rows],
        "total": totals_dict(report.total),
        "unpriced": [{"provider": u.provider, "model": u.model, "requests": u.requests} for u in report.unpriced],
    }
