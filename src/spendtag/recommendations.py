"""Recommendations where the data supports them: cheaper models for the same tokens, prompt caching.

Each line states a measured figure (what the same tokens would have cost at a cheaper
model's list price; an agent's cache-read share) rather than a guess at savings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.store import Store
from spendtag.money import format_usd
from spendtag.usage import Usage, UsageEvent

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


def _usage(t: Totals) -> Usage:
    return Usage(input_tokens=t["input_tokens"], cache_read_tokens=t["cache_read_tokens"],
                 cache_write_5m_tokens=t["cache_write_5m_tokens"], cache_write_1h_tokens=t["cache_write_1h_tokens"],
                 output_tokens=t["output_tokens"], reasoning_tokens=t["reasoning_tokens"])


def recommend(store: Store, pricer: Pricer, filters: Filters, tz: ZoneInfo, *,
              now: datetime | None = None) -> list[str]:
    lines: list[str] = []
    rows = store.aggregate(filters, ["provider", "model"], tz)
    total = sum(a.totals.cost for a in rows)
    when = now or datetime.now(UTC)
    for a in sorted(rows, key=lambda r: -r.totals.cost):
        provider, model = a.key[0] or "", a.key[1] or ""
        if not total or a.totals.cost * 100 < total * MIN_SHARE_PERCENT:
            continue
        cheaper = CHEAPER.get(model)
        if cheaper is None:
            continue
        cost = pricer.price(UsageEvent("recommendation", when, provider, cheaper, _usage(a.totals)))
        if cost.priced and cost.total < a.totals.cost:
            lines.append(f"{model} is {a.totals.cost * 100 // total}% of this spend ({format_usd(a.totals.cost)}); "
                         f"the same tokens on {cheaper} would cost {format_usd(cost.total)} at list price")
    for a in store.aggregate(filters, ["agent"], tz):
        t = a.totals
        read, written = t["cache_read_tokens"], t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"]
        prompt = t["input_tokens"] + read + written
        if t.requests >= MIN_CALLS and prompt and read * 100 < prompt * LOW_CACHE_SHARE:
            lines.append(f"agent {a.key[0] or '(none)'}: {t.requests:,} calls, only {read * 100 // prompt}% of input "
                         "read from cache; prompt caching of its repeated context would pay")
    return lines
