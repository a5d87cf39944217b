"""Anthropic Admin API: ``usage_report/messages`` and ``cost_report``, in 1-day UTC buckets.

Pitfalls handled here (see FORMATS.md section 4.1): ``uncached_input_tokens`` excludes cache
reads and writes (it is spendtag's input bucket as is); cost ``amount`` is a decimal string
in **cents**; dimensions that are not grouped come back null; ``next_page`` is opaque.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from spendtag.bounds import MAX_DAY_AMOUNT, check_time
from spendtag.money import from_decimal
from spendtag.providers_api.collect import collect
from spendtag.providers_api.http import AdminClient, ProviderAPIError
from spendtag.providers_api.model import OTHER, WEB_SEARCH, CostRow, Fetched, UsageRow, amount, as_str, count

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_ADMIN_KEY"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
USAGE_GROUPS = ("model", "workspace_id", "api_key_id", "service_tier", "context_window")
COST_GROUPS = ("workspace_id", "description")
PAGE_LIMIT = "31"              # the most 1-day buckets a page may hold
_TOKEN_TYPES = {
    "uncached_input_tokens": "input_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m_tokens",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h_tokens",
    "output_tokens": "output_tokens",
}
_CENTS = Decimal(100)
_MAX_CENTS = Decimal(MAX_DAY_AMOUNT) / 10**10   # MAX_DAY_AMOUNT pico-USD, in cents


def client(key: str, base_url: str = DEFAULT_BASE_URL, **options: Any) -> AdminClient:
    return AdminClient(base_url, {"x-api-key": key, "anthropic-version": "2023-06-01"}, **options)


def _instant(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def usage_row(day: date, r: Mapping[str, Any]) -> UsageRow:
    writes = r.get("cache_creation") or {}
    return UsageRow(
        provider="anthropic", day=day, model=as_str(r.get("model")), api_key_id=as_str(r.get("api_key_id")),
        workspace=as_str(r.get("workspace_id")), service_tier=as_str(r.get("service_tier")),
        context_window=as_str(r.get("context_window")),
        input_tokens=count(r, "uncached_input_tokens"),
        cache_read_tokens=count(r, "cache_read_input_tokens"),
        cache_write_5m_tokens=count(writes, "ephemeral_5m_input_tokens"),
        cache_write_1h_tokens=count(writes, "ephemeral_1h_input_tokens"),
        output_tokens=count(r, "output_tokens"),
        web_search_requests=count(r.get("server_tool_use"), "web_search_requests"),
    )


def cents_to_pico(amount: object) -> int:
    """``"450.00000"`` (cents, a decimal string) -> 4_500_000_000_000 pico-USD."""
    if not isinstance(amount, str):
        raise ProviderAPIError(f"cost amount must be a decimal string in cents, got {str(amount)[:40]!r}")
    try:
        cents = Decimal(amount[:60])
        if not cents.is_finite() or abs(cents) > _MAX_CENTS:
            raise ProviderAPIError(f"cost amount is beyond the bound of $1,000,000 a line: {amount[:40]!r}")
        return from_decimal(cents / _CENTS)
    except InvalidOperation:
        raise ProviderAPIError(f"cost amount is not a number: {amount[:40]!r}") from None


def cost_row(day: date, r: Mapping[str, Any]) -> CostRow:
    currency = as_str(r.get("currency")) or "USD"
    if currency.upper() != "USD":
        raise ProviderAPIError(f"cost in {currency}: only USD is supported")
    token_type, cost_type = as_str(r.get("token_type")), as_str(r.get("cost_type"))
    bucket = _TOKEN_TYPES.get(token_type, OTHER)
    if cost_type == "web_search":
        bucket = WEB_SEARCH
    return CostRow(
        provider="anthropic", day=day, amount=amount(cents_to_pico(r.get("amount")), "cost amount"),
        description=as_str(r.get("description")),
        model=as_str(r.get("model")), workspace=as_str(r.get("workspace_id")),
        service_tier=as_str(r.get("service_tier")), context_window=as_str(r.get("context_window")),
        cost_type=cost_type, token_type=token_type, bucket=bucket, currency="USD",
    )


def _bucket_day(bucket: Mapping[str, Any]) -> date:
    start = bucket.get("starting_at")
    if not isinstance(start, str):
        raise ProviderAPIError("a bucket has no starting_at")
    try:
        return check_time(datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC), "starting_at").date()
    except (ValueError, OverflowError):   # (a UsageFormatError is a ValueError)
        raise ProviderAPIError(f"a bucket's starting_at is not a time within 2000-2100: {start[:40]!r}") from None


def _params(since: date, until: date, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("starting_at", _instant(since)), ("ending_at", _instant(until)), ("bucket_width", "1d"),
            ("limit", PAGE_LIMIT), *(("group_by[]", g) for g in groups)]


def fetch_usage(api: AdminClient, since: date, until: date) -> Fetched:
    return collect(api, "usage", USAGE_PATH, _params(since, until, USAGE_GROUPS), since, until, _bucket_day, usage_row)


def fetch_costs(api: AdminClient, since: date, until: date) -> Fetched:
    return collect(api, "cost", COST_PATH, _params(since, until, COST_GROUPS), since, until, _bucket_day, cost_row)
