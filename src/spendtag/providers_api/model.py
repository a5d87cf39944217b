"""Provider report rows, normalised: what Anthropic's and OpenAI's admin usage and cost APIs said.

These rows are the provider's own account of a UTC day, kept apart from spendtag's event
ledger: they are never turned into events, so nothing is counted twice, and a later pull of
the same day replaces them (the provider may still be revising a recent day).

Token counts use spendtag's **disjoint** buckets (see :mod:`spendtag.usage`): Anthropic's
``uncached_input_tokens`` is already uncached input; OpenAI's ``input_tokens`` includes
cached, cache-write and audio tokens, which are subtracted. Amounts are int pico-USD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from spendtag.bounds import MAX_DAY_AMOUNT, MAX_DAY_COUNT, clean_text
from spendtag.usage import BILLED_TOKEN_BUCKETS

PROVIDERS: tuple[str, ...] = ("anthropic", "openai")
REPORTS: tuple[str, ...] = ("usage", "cost")
# Token and request counters a usage row carries, named as spendtag's buckets.
USAGE_COUNTS: tuple[str, ...] = (*BILLED_TOKEN_BUCKETS, "web_search_requests")
TOKEN_COUNTS: tuple[str, ...] = tuple(c for c in USAGE_COUNTS if c.endswith("_tokens"))
# What a cost row is for, when it is not one of the token buckets.
WEB_SEARCH = "web_search_requests"
OTHER = "other"
# Service tiers that are priced at the plain list price.
STANDARD_TIERS: frozenset[str] = frozenset({"", "standard", "default", "auto"})
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})\Z")


def scope_kind(provider: str) -> str:
    """What the provider calls the grouping above an API key: a workspace or a project."""
    return "project" if provider == "openai" else "workspace"


def model_key(model: str) -> str:
    """A model without its snapshot date (``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``).

    The ledger keeps what a response said and the admin APIs report the snapshot; both name
    the same prices, so reconciliation compares them without the date.
    """
    return _DATE_SUFFIX.sub("", model)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Tokens the provider counted for one UTC day and one grouping (model, key, workspace, tier)."""

    provider: str
    day: date
    model: str = ""
    api_key_id: str = ""
    workspace: str = ""            # Anthropic workspace id, or OpenAI project id ("" = default/none)
    service_tier: str = ""         # standard, batch, priority, flex...; OpenAI batch=true is "batch"
    context_window: str = ""
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    web_search_requests: int = 0
    requests: int | None = None    # OpenAI num_model_requests; Anthropic does not report it

    @property
    def tokens(self) -> int:
        return sum(getattr(self, c) for c in TOKEN_COUNTS)

    def count(self, name: str) -> int:
        value: int = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class CostRow:
    """One line of the provider's bill for a UTC day, in pico-USD exactly."""

    provider: str
    day: date
    amount: int                    # pico-USD
    description: str = ""          # Anthropic description, or OpenAI line_item
    model: str = ""                # "" when the line is not for a model (web search fees)
    workspace: str = ""
    service_tier: str = ""
    context_window: str = ""
    cost_type: str = ""            # Anthropic tokens/web_search/...; OpenAI the line item's kind
    token_type: str = ""
    bucket: str = OTHER            # the spendtag bucket it prices: input_tokens..., web_search_requests or other
    quantity: str = ""             # OpenAI quantity as a decimal string, when given
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class DayStatus:
    """Whether a day's report was pulled completely, and when."""

    provider: str
    report: str                    # usage or cost
    day: date
    complete: bool
    pulled_at: datetime
    error: str = ""


@dataclass(frozen=True, slots=True)
class PullLog:
    """One report read by one pull: the range asked for and how it went."""

    pull_id: str
    provider: str
    report: str
    since: date
    until: date
    at: datetime
    pages: int
    days_complete: int
    days_missing: int
    error: str = ""

    @property
    def complete(self) -> bool:
        return self.days_missing == 0


@dataclass(slots=True)
class Fetched:
    """One report over a range of days: the rows, which days came back whole, and what failed."""

    report: str
    rows: list[UsageRow] | list[CostRow]
    days: list[date]               # complete days (their rows are all in ``rows``)
    missing: list[date]            # days of the range not fully read
    pages: int = 0
    error: str = ""                # why ``missing`` is not empty ("page 3: HTTP 500 after 5 attempts")


@dataclass(slots=True)
class PullResult:
    provider: str
    since: date
    until: date
    reports: list[Fetched] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(not f.missing for f in self.reports)


class ProviderSink(Protocol):
    """Where pulled rows go: replaces the complete days of one report in one transaction."""

    def save_provider_pull(self, provider: str, since: date, until: date, fetched: Fetched,
                           at: datetime) -> None: ...


def day_range(since: date, until: date) -> list[date]:
    """Every day in ``[since, until)``."""
    return [since + timedelta(days=i) for i in range((until - since).days)]


def as_str(value: object) -> str:
    """A dimension as the APIs give it (null for ungrouped) -> a string ("" for null), valid UTF-8."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        raise ValueError(f"a dimension must be text, got {type(value).__name__}")
    return clean_text(str(value))


def count(data: Mapping[str, Any] | None, name: str) -> int:
    """A non-negative integer count from a report row, within a day's bound; null or absent is 0."""
    if data is not None and not isinstance(data, Mapping):
        raise ValueError(f"{name}: expected an object, got {type(data).__name__}")
    value = (data or {}).get(name)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_DAY_COUNT:
        raise ValueError(f"{name} is not a count of one day (0 to {MAX_DAY_COUNT:.0e}): {str(value)[:40]}")
    return value


def amount(pico: int, what: str) -> int:
    """A cost line's amount (pico-USD) when it is within a day's bound."""
    if not -MAX_DAY_AMOUNT <= pico <= MAX_DAY_AMOUNT:
        raise ValueError(f"{what} is beyond the bound of $1,000,000 for one cost line of a day")
    return pico


def complete_days(requested: Sequence[date], seen: Sequence[date], failed: bool) -> tuple[list[date], list[date]]:
    """Split the requested days into (complete, missing): all are complete unless paging stopped early."""
    if not failed:
        return list(requested), []
    got = set(seen)
    return [d for d in requested if d in got], [d for d in requested if d not in got]
