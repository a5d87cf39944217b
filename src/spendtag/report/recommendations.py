"""Recommendations where the data supports them: cheaper models for the same tokens, prompt caching.

Each one states a measured figure rather than a guess. A cheaper-model recommendation
reprices every priced call of a model, one by one, as if the cheaper model of the same
family had answered it: the same tokens, service tier and time, priced like any call (list
prices on the call's own date, with the price book's overrides), so the saving is exact
money and a long-context tier applies only to the calls that were long. A model that
carries less than :data:`MIN_SHARE_PERCENT` of the spend, whose calls the cheaper model
cannot all price, or that would not cost less, gets no line. A caching recommendation
names an agent whose input is rarely read from cache; it claims no amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from spendtag.ledger.query import TOTAL_FIELDS, Filters, Totals
from spendtag.ledger.store import Store
from spendtag.ledger.unusual_tables import LONG_PROMPT
from spendtag.money import exact_str, screen
from spendtag.periods import Range, label_function, to_us
from spendtag.report.breakdown import share
from spendtag.usage import TOKEN_BUCKETS, Cost, PricedEvent, Usage, UsageEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

# A model and the cheaper one of the same family most teams would try first.
CHEAPER: dict[str, str] = {
    "claude-opus-4": "claude-sonnet-4-5",
    "claude-opus-4-1": "claude-sonnet-4-5",
    "claude-opus-4-5": "claude-sonnet-4-5",
    "claude-sonnet-4": "claude-haiku-4-5",
    "claude-sonnet-4-5": "claude-haiku-4-5",
    "gpt-4o": "gpt-4o-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-5": "gpt-5-mini",
    "gpt-5-mini": "gpt-5-nano",
    "gemini-2.5-pro": "gemini-2.5-flash",
    "gemini-2.5-flash": "gemini-2.5-flash-lite",
}
MIN_SHARE_PERCENT = 10     # a model must carry this share of the spend to be worth a line
LOW_CACHE_SHARE = 20       # percent of input read from cache below which caching is suggested
MIN_CALLS = 100
KINDS: tuple[str, ...] = ("cheaper-model", "prompt-caching")
UTC_ZONE = ZoneInfo("UTC")      # prices change on UTC days
_BUCKET_INDEX = tuple((TOTAL_FIELDS.index(b), b) for b in TOKEN_BUCKETS)
_COST_INDEX = TOTAL_FIELDS.index("cost")
# What a model's share and an agent's cache use are judged on; what a model's calls are repriced from.
_SHARES = ("requests", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cost")
_SUMMED = ("requests", *TOKEN_BUCKETS, "cost")


@dataclass(frozen=True)
class Recommendation:
    """One suggestion; money in pico-USD."""

    kind: str                       # "cheaper-model" or "prompt-caching"
    subject: str                    # "openai/gpt-4o" or "agent summariser"
    calls: int
    cost: int                       # what those calls cost
    share_percent: Decimal          # of the selection's spend
    text: str                       # the suggestion in one sentence
    basis: str                      # how the figures were measured
    provider: str | None = None
    model: str | None = None
    agent: str | None = None
    alternative: str | None = None  # the cheaper model
    alternative_cost: int | None = None
    savings: int | None = None      # cost - alternative_cost

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: money as exact decimal USD strings."""
        return {
            "kind": self.kind, "subject": self.subject, "provider": self.provider, "model": self.model,
            "agent": self.agent, "calls": self.calls, "cost_usd": exact_str(self.cost),
            "share_percent": str(self.share_percent), "alternative": self.alternative,
            "alternative_cost_usd": None if self.alternative_cost is None else exact_str(self.alternative_cost),
            "savings_usd": None if self.savings is None else exact_str(self.savings),
            "basis": self.basis, "text": self.text,
        }


@dataclass(frozen=True)
class Recommendations:
    """The recommendations for one selection of the ledger, cheaper models first (largest saving first)."""

    range: Range
    tz: ZoneInfo
    total: int                      # the selection's spend, pico-USD
    items: tuple[Recommendation, ...]

    @property
    def savings(self) -> int:
        """The sum of the cheaper-model savings (each model's own; they never overlap)."""
        return sum(r.savings or 0 for r in self.items)

    def to_dict(self) -> dict[str, Any]:
        def iso(ts: datetime | None) -> str | None:
            return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {"period": {"since": iso(self.range.since), "until": iso(self.range.until), "tz": self.tz.key},
                "total_cost_usd": exact_str(self.total), "savings_usd": exact_str(self.savings),
                "recommendations": [r.to_dict() for r in self.items]}


def _percent_text(p: Decimal) -> str:
    return str(p.to_integral_value()) if p == p.to_integral_value() else str(p)


def _cheaper_model(store: Store, pricer: Pricer, filters: Filters, provider: str, model: str, cheaper: str,
                   whole: int) -> Recommendation | None:
    """Every priced call of ``model`` repriced on ``cheaper``; None if one cannot be priced or it saves nothing."""
    only = replace(filters, dims={**filters.dims, "provider": (provider,), "model": (model,)})
    try:
        found = _repriced_from_sums(store, pricer, only, provider, cheaper)
    except _NotLinear:
        found = _repriced_one_by_one(store, pricer, only, cheaper)
    if found is None:
        return None
    calls, cost, alternative, sources = found
    if not calls or alternative >= cost:
        return None
    pct = share(cost, whole)
    saved = cost - alternative
    prices = "list price" if all(s.startswith("genai-prices") for s in sources) else "your prices"
    text = (f"{model} is {_percent_text(pct)}% of this spend ({screen(cost)}); the same tokens on {cheaper} "
            f"would cost {screen(alternative)} at {prices}, {screen(saved)} less")
    basis = (f"{calls:,} calls repriced one by one on {cheaper}: same tokens, tier and date "
             f"({', '.join(sorted(sources))})")
    return Recommendation("cheaper-model", f"{provider}/{model}", calls, cost, pct, text, basis, provider=provider,
                          model=model, alternative=cheaper, alternative_cost=alternative, savings=saved)


class _NotLinear(Exception):
    """The cheaper model's prices cannot be applied to sums exactly: reprice call by call."""


# What repricing a model's calls found: (calls, their cost, on the cheaper model, price sources),
# or None when a call cannot be priced on the cheaper model.
Repriced = tuple[int, int, int, set[str]] | None


def _reprice(pricer: Pricer, p: PricedEvent, cheaper: str) -> Cost:
    event, usage = p.event, p.event.usage
    if usage.reported_cost is not None:
        usage = usage.replace(reported_cost=None)   # a provider-billed cost was for the other model
    return pricer.price(replace(event, model=cheaper, usage=usage))


def _repriced_one_by_one(store: Store, pricer: Pricer, only: Filters, cheaper: str) -> Repriced:
    calls = cost = alternative = 0
    sources: set[str] = set()
    for p in store.events(only):
        if not p.cost.priced:
            continue            # unpriced calls cost an unknown amount: nothing to compare them with
        other = _reprice(pricer, p, cheaper)
        if not other.priced:
            return None
        calls += 1
        cost += p.cost.total
        alternative += other.total
        if other.price is not None:
            sources.add(other.price.source)
    return calls, cost, alternative, sources


def _repriced_from_sums(store: Store, pricer: Pricer, only: Filters, provider: str, cheaper: str) -> Repriced:
    """``_repriced_one_by_one`` from the rollups' token sums per UTC day (and the tags price overrides
    look at), priced as sums, and the few unusual calls one by one: the same figures, exactly.

    A plain call (ledger/unusual_tables.py) is priced at its model's rates for its day, whatever
    its size, so a day's plain calls cost their summed tokens at those rates. Raises
    ``_NotLinear`` when the cheaper model's prices are not linear that way (``Pricer.price_sum``).
    """
    keys = sorted({s.key for o in pricer.book.overrides for s in o.scope})
    by = ["day", *(f"tag:{k}" for k in keys)]
    groups = {tuple(a.key): a.totals.values[:] for a in store.aggregate(only, by, UTC_ZONE, fields=_SUMMED)}
    calls = cost = alternative = 0
    sources: set[str] = set()
    day_of = label_function("day", UTC_ZONE)
    for p in store.unusual_events(only):
        event = p.event
        key = (day_of(to_us(event.ts)), *(event.tags.get(k) for k in keys))
        sums = groups[key]
        sums[0] -= 1
        for i, bucket in _BUCKET_INDEX:
            sums[i] -= getattr(event.usage, bucket)
        sums[_COST_INDEX] -= p.cost.total
        if not p.cost.priced:
            continue
        other = _reprice(pricer, p, cheaper)
        if not other.priced:
            return None
        calls += 1
        cost += p.cost.total
        alternative += other.total
        if other.price is not None:
            sources.add(other.price.source)
    for (day, *values), sums in groups.items():
        n = sums[0]
        if not n:
            continue
        counts: dict[str, Any] = {bucket: sums[i] for i, bucket in _BUCKET_INDEX}
        tags = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        ts = datetime.combine(date.fromisoformat(str(day)), time(), UTC)
        summed = pricer.price_sum(UsageEvent("sum", ts, provider, cheaper, Usage(**counts), tags=tags), n, LONG_PROMPT)
        if summed is None:
            raise _NotLinear
        if not summed.priced:
            return None
        calls += n
        cost += sums[_COST_INDEX]
        alternative += summed.total
        if summed.price is not None:
            sources.add(summed.price.source)
    return calls, cost, alternative, sources


def _caching(name: str | None, t: Totals, whole: int) -> Recommendation | None:
    read, written = t["cache_read_tokens"], t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"]
    prompt = t["input_tokens"] + read + written
    if t.requests < MIN_CALLS or not prompt or read * 100 >= prompt * LOW_CACHE_SHARE:
        return None
    agent = name or "(none)"
    text = (f"agent {agent}: {t.requests:,} calls, only {read * 100 // prompt}% of input read from cache; "
            "prompt caching of its repeated context would pay")
    basis = (f"{read:,} of {prompt:,} input tokens read from cache over {t.requests:,} calls "
             f"(suggested below {LOW_CACHE_SHARE}%, from {MIN_CALLS} calls)")
    return Recommendation("prompt-caching", f"agent {agent}", t.requests, t.cost, share(t.cost, whole), text, basis,
                          agent=name)


def recommendations(store: Store, pricer: Pricer, filters: Filters, tz: ZoneInfo) -> Recommendations:
    """What the calls ``filters`` selects suggest: cheaper models (largest saving first), then prompt caching."""
    # One grouping of the rollups serves both kinds: by model, and by agent.
    by_model: dict[tuple[str | None, ...], Totals] = {}
    by_agent: dict[tuple[str | None, ...], Totals] = {}
    for a in store.aggregate(filters, ["provider", "model", "agent"], tz, fields=_SHARES):
        for groups, key in ((by_model, a.key[:2]), (by_agent, a.key[2:])):
            totals = groups.get(key)
            if totals is None:
                groups[key] = totals = Totals()
            totals.merge(a.totals)
    whole = sum(t.cost for t in by_model.values())
    models: list[Recommendation] = []
    for key, totals in sorted(by_model.items(), key=lambda r: -r[1].cost):
        provider, model = key[0] or "", key[1] or ""
        cheaper = CHEAPER.get(model)
        if cheaper is None or not whole or totals.cost * 100 < whole * MIN_SHARE_PERCENT:
            continue
        found = _cheaper_model(store, pricer, filters, provider, model, cheaper, whole)
        if found is not None:
            models.append(found)
    models.sort(key=lambda r: (-(r.savings or 0), r.subject))
    caching = [r for key, totals in sorted(by_agent.items(), key=lambda a: (-a[1].cost, a[0]))
               if (r := _caching(key[0], totals, whole)) is not None]
    return Recommendations(Range(filters.since, filters.until), tz, whole, (*models, *caching))


def recommend(store: Store, pricer: Pricer, filters: Filters, tz: ZoneInfo) -> Sequence[str]:
    """The recommendations as sentences (``spendtag budget show``)."""
    return [r.text for r in recommendations(store, pricer, filters, tz).items]
