"""Sessions, Claude's 5-hour blocks, and subscription quota, read from the ledger.

A *block* is Claude's 5-hour usage window as ccusage defines it: it starts at the full
hour of the first call after the previous block ended and lasts five hours; a call after
that starts the next block. The active block's burn rate is its cost per hour of activity
so far, and its projection is that rate carried to the block's end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.config_table import Table
from spendtag.ledger.plan import HOUR_US
from spendtag.ledger.query import Filters, QueryError, Totals
from spendtag.ledger.store import SessionSummary, Store
from spendtag.periods import from_us, to_us
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS

BLOCK = timedelta(hours=5)
_BLOCK_US = 5 * HOUR_US
_UTC = ZoneInfo("UTC")


@dataclass
class SessionView:
    """What `spendtag sessions` shows per session."""

    session: str
    start: datetime
    end: datetime
    projects: list[str]
    agents: list[str]
    models: list[str]
    tags: dict[str, str]
    totals: Totals
    title: str | None = None        # what the session is about (see ``titled``); None when unknown or off

    @property
    def project(self) -> str:
        """The session's project, ``a (+2)`` when its calls name several; empty when none does."""
        if not self.projects:
            return ""
        return self.projects[0] + (f" (+{len(self.projects) - 1})" if len(self.projects) > 1 else "")

    @property
    def agent_labels(self) -> list[str]:
        """Its agents with their sub-agents counted, not listed: ``claude-code (+3 sub-agents)``."""
        from spendtag.report.breakdown import families, parent_agent

        found = families({a: Totals() for a in self.agents}, parent_agent)
        return [f.label for f in sorted(found, key=lambda f: f.name)]

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def cost_per_minute(self) -> int:
        minutes = max(Decimal(1), Decimal(self.duration.total_seconds()) / 60)
        return int((Decimal(self.totals.cost) / minutes).to_integral_value(rounding=ROUND_HALF_EVEN))


def view(summary: SessionSummary) -> SessionView:
    projects = sorted({d["project"] for d, _ in summary.dims if d["project"]})
    agents = sorted({d["agent"] for d, _ in summary.dims if d["agent"]})
    models = sorted({d["model"] for d, _ in summary.dims if d["model"]})
    tags: dict[str, str] = {}
    for _, t in summary.dims:
        for k, v in t.items():
            tags[k] = v if tags.get(k, v) == v else "(several)"
    return SessionView(summary.session, summary.first, summary.last, projects, agents, models, tags,
                       summary.totals)


def titled(store: Store, views: list[SessionView], on: bool = True) -> list[SessionView]:
    """``views`` with their titles filled in from the ledger (one read); left None when ``on`` is False
    (the setting ``session_titles = "off"``: prompts stay off every screen)."""
    if on and views:
        found = store.session_titles([v.session for v in views])
        for v in views:
            v.title = found.get(v.session)
    return views


def resolve(store: Store, text: str) -> str:
    """The session id ``text`` names: the id itself, or the only one it begins (as lists show them cut short)."""
    if not text:
        raise QueryError("give a session id (see `spendtag sessions`)")
    found = store.session_ids(text, limit=6)
    if text in found or len(found) == 1:
        return text if text in found else found[0]
    if not found:
        raise QueryError(f"no calls recorded for session {text!r}; see `spendtag sessions`")
    shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
    raise QueryError(f"{text!r} begins more than one session ({shown}): give more of the id")


def list_sessions(store: Store, filters: Filters, *, limit: int | None = 50, min_cost: int = 0,
                  by_cost: bool = False, titles: bool = True) -> list[SessionView]:
    return titled(store, [view(s) for s in store.sessions(filters, limit=limit, min_cost=min_cost, by_cost=by_cost)],
                  titles)


@dataclass
class SessionDetail:
    view: SessionView
    by_model: dict[str, Totals]         # by model family (dated and undated ids as one)
    tokens: dict[str, int]
    costs: dict[str, int]
    model_ids: dict[str, list[str]] = field(default_factory=dict)   # family -> the ids the calls reported

    @property
    def average_per_call(self) -> int:
        t = self.view.totals
        return 0 if not t.requests else int((Decimal(t.cost) / t.requests).to_integral_value(ROUND_HALF_EVEN))


def detail(store: Store, session: str, *, titles: bool = True) -> SessionDetail | None:
    found = store.sessions(Filters(dims={"session": (session,)}))
    if not found:
        return None
    v = titled(store, [view(found[0])], titles)[0]
    by_id: dict[str, Totals] = {}
    provider_of: dict[str, str | None] = {}
    for a in store.aggregate(Filters(dims={"session": (session,)}), ["provider", "model"]):
        model = a.key[1] or "(none)"
        by_id.setdefault(model, Totals()).merge(a.totals)
        provider_of[model] = a.key[0]
    from spendtag.pricing.identity import model_name
    from spendtag.report.breakdown import families

    found_families = families(by_id, lambda m: m if m == "(none)" else model_name(provider_of[m], m))
    t = v.totals
    return SessionDetail(v, {f.name: f.totals for f in found_families}, {b: t[b] for b in TOKEN_BUCKETS if t[b]},
                         {c: t[f"cost_{c}"] for c in COST_COMPONENTS if t[f"cost_{c}"]},
                         {f.name: sorted(f.members) for f in found_families})


def _exact_or_none(totals: Totals) -> str | None:
    """Exact USD, or None when every call is unpriced (the cost is unknown, not 0)."""
    from spendtag.money import exact_str

    return None if totals.requests and totals["unpriced_requests"] >= totals.requests else exact_str(totals.cost)


def view_json(r: SessionView) -> dict[str, Any]:
    """A session as ``spendtag sessions --format json`` and the MCP server give it."""
    return {
        "session": r.session, "title": r.title, "start": r.start.isoformat(), "end": r.end.isoformat(),
        "duration_s": int(r.duration.total_seconds()), "projects": r.projects, "agents": r.agents,
        "models": r.models, "tags": r.tags, "requests": r.totals.requests, "tokens": r.totals.tokens,
        "unpriced_requests": r.totals["unpriced_requests"], "cost_usd": _exact_or_none(r.totals),
    }


def detail_json(d: SessionDetail) -> dict[str, Any]:
    """One session as ``spendtag session ID --format json`` and the MCP server give it."""
    from spendtag.money import exact_str

    v = d.view
    return {
        "session": v.session, "title": v.title, "start": v.start.isoformat(), "end": v.end.isoformat(),
        "projects": v.projects, "agents": v.agents, "tags": v.tags, "requests": v.totals.requests,
        "tokens": d.tokens, "unpriced_requests": v.totals["unpriced_requests"],
        "cost_usd": _exact_or_none(v.totals),
        "cost_components_usd": {k: exact_str(c) for k, c in d.costs.items()},
        "average_per_call_usd": exact_str(d.average_per_call), "cost_per_minute_usd": exact_str(v.cost_per_minute),
        "models": {m: _exact_or_none(t) for m, t in sorted(d.by_model.items())},
        "model_ids": d.model_ids,
    }


@dataclass
class Block:
    start: datetime
    end: datetime
    first: datetime
    last: datetime
    totals: Totals = field(default_factory=Totals)
    models: set[str] = field(default_factory=set)
    projects: dict[str, int] = field(default_factory=dict)     # project -> tokens

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end

    @property
    def burn_rate(self) -> int:
        """pico-USD per hour of activity so far (at least one minute counted)."""
        hours = max(Decimal(1) / 60, Decimal((self.last - self.first).total_seconds()) / 3600)
        return int((Decimal(self.totals.cost) / hours).to_integral_value(rounding=ROUND_HALF_EVEN))

    def projected(self, now: datetime) -> int:
        left = Decimal(max(0.0, (self.end - now).total_seconds())) / 3600
        return self.totals.cost + int((self.burn_rate * left).to_integral_value(rounding=ROUND_HALF_EVEN))


def blocks(store: Store, *, since: datetime, until: datetime | None = None,
           sources: Sequence[str] = ("claude-code",)) -> list[Block]:
    """Claude's 5-hour windows over the events of these sources.

    The calls' times place the blocks; their sums come from the hourly rollups (a block starts
    and ends on a full hour, so all the calls of an hour are in one block).
    """
    filters = Filters(since=since, until=until, dims={"source": tuple(sources)})
    spans: list[list[int]] = []     # [start, first call, last call], µs
    for ts in store.event_times(filters):
        if not spans or ts >= spans[-1][0] + _BLOCK_US:
            spans.append([ts - ts % HOUR_US, ts, ts])
        else:
            spans[-1][2] = ts
    out = [Block(from_us(start), from_us(start + _BLOCK_US), from_us(first), from_us(last))
           for start, first, last in spans]
    starts = [start for start, _, _ in spans]
    for a in store.aggregate(filters, ["hour", "model", "project"], _UTC) if out else ():
        label, model, project = a.key
        assert label is not None
        hour = to_us(datetime.strptime(label, "%Y-%m-%d %H:00").replace(tzinfo=UTC))
        block = out[bisect_right(starts, hour) - 1]
        block.totals.merge(a.totals)
        block.models.add(model or "(none)")
        name = project or "(none)"
        block.projects[name] = block.projects.get(name, 0) + a.totals.tokens
    return out


@dataclass(frozen=True)
class Quota:
    """Limits of a subscription plan per 5-hour block (configure them: plans do not publish exact ones)."""

    tokens_per_block: int | None = None
    messages_per_block: int | None = None
    plan: str = "custom"

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None, *, path: str = "config") -> Quota:
        quota = Table({} if table is None else table, path=path, key=("quota",), label="[quota]")
        quota.only(("tokens_per_block", "messages_per_block", "plan"))
        return cls(tokens_per_block=quota.integer("tokens_per_block", least=1, example=880000),
                   messages_per_block=quota.integer("messages_per_block", least=1, example=900),
                   plan=quota.string("plan", "custom", example="max"))


def percent(part: int, whole: int | None) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def current_block(store: Store, now: datetime | None = None) -> Block | None:
    now = now or datetime.now(UTC)
    # Start a day back: block starts depend on earlier calls (a 5-hour gap resets them).
    found = blocks(store, since=now - timedelta(hours=24), until=now + timedelta(seconds=1))
    return found[-1] if found and found[-1].active(now) else None
