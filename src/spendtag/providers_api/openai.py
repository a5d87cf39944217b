"""OpenAI Admin API: ``organization/usage/completions`` and ``organization/costs``, 1-day UTC buckets.

Pitfalls handled here (see FORMATS.md section 4.2): ``input_tokens`` *includes* cached,
cache-write and (uncached) audio tokens and ``output_tokens`` includes audio, so those are
subtracted into spendtag's disjoint buckets; cost ``amount.value`` is a float in **dollars**,
read through ``Decimal(repr(value))``; costs have no model grouping, the model is the part of
``line_item`` before ``", "``; times are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from spendtag.bounds import MAX_TIME, MIN_TIME
from spendtag.money import from_decimal
from spendtag.providers_api.collect import collect
from spendtag.providers_api.http import AdminClient
from spendtag.providers_api.model import OTHER, WEB_SEARCH, CostRow, Fetched, UsageRow, as_str, count
from spendtag.providers_api.model import amount as amount_of

DEFAULT_BASE_URL = "https://api.openai.com"
KEY_ENV = "OPENAI_ADMIN_KEY"
USAGE_PATH = "/v1/organization/usage/completions"
COST_PATH = "/v1/organization/costs"
USAGE_GROUPS = ("model", "project_id", "api_key_id", "batch", "service_tier")
COST_GROUPS = ("line_item", "project_id")
PAGE_LIMIT = "31"
# The kind after "<model>, " in a cost line item -> spendtag bucket.
_LINE_KINDS = {
    "input": "input_tokens",
    "cached input": "cache_read_tokens",
    "cache write": "cache_write_5m_tokens",
    "output": "output_tokens",
    "audio input": "input_audio_tokens",
    "audio output": "output_audio_tokens",
}


def client(key: str, base_url: str = DEFAULT_BASE_URL, **options: Any) -> AdminClient:
    return AdminClient(base_url, {"authorization": f"Bearer {key}"}, **options)


def _unix(day: date) -> str:
    return str(int(datetime.combine(day, time(0), tzinfo=UTC).timestamp()))


def _bucket_day(bucket: Mapping[str, Any]) -> date:
    start = bucket.get("start_time")
    if type(start) is not int or not MIN_TIME.timestamp() <= start < MAX_TIME.timestamp():
        raise ValueError(f"a bucket has no start_time within 2000-2100: {str(start)[:40]}")
    return datetime.fromtimestamp(start, UTC).date()


def _minus(total: int, parts: Mapping[str, int], what: str) -> int:
    rest = total - sum(parts.values())
    if rest < 0:
        raise ValueError(f"{what} is smaller than its parts {dict(parts)}")
    return rest


def usage_row(day: date, r: Mapping[str, Any]) -> UsageRow:
    cached = count(r, "input_cached_tokens")
    long_writes = count(r, "input_cache_write_12h_tokens")
    writes = max(count(r, "input_cache_write_tokens"), count(r, "input_cache_write_30m_tokens") + long_writes)
    audio_in, audio_out = count(r, "input_audio_tokens"), count(r, "output_audio_tokens")
    tier = "batch" if r.get("batch") is True else as_str(r.get("service_tier"))
    return UsageRow(
        provider="openai", day=day, model=as_str(r.get("model")), api_key_id=as_str(r.get("api_key_id")),
        workspace=as_str(r.get("project_id")), service_tier=tier,
        input_tokens=_minus(count(r, "input_tokens"), {"input_cached_tokens": cached,
                                                       "input_cache_write_tokens": writes,
                                                       "input_audio_tokens": audio_in}, "input_tokens"),
        cache_read_tokens=cached,
        cache_write_5m_tokens=writes - long_writes,
        cache_write_1h_tokens=long_writes,
        output_tokens=_minus(count(r, "output_tokens"), {"output_audio_tokens": audio_out}, "output_tokens"),
        input_audio_tokens=audio_in,
        output_audio_tokens=audio_out,
        requests=count(r, "num_model_requests"),
    )


def dollars_to_pico(value: object) -> int:
    """A dollar float as the API sent it -> pico-USD, via its shortest repr (never float arithmetic)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"cost amount must be a number of dollars, got {str(value)[:40]!r}")
    if not abs(value) <= 1_000_000:   # (NaN fails this too)
        raise ValueError(f"cost amount {str(value)[:40]} is beyond the bound of $1,000,000 for one cost line of a day")
    return from_decimal(Decimal(repr(value)))


def split_line_item(line_item: str) -> tuple[str, str]:
    """``"gpt-4o-mini-2024-07-18, cached input"`` -> (model, kind); a line with no model -> ("", line)."""
    model, sep, kind = line_item.rpartition(", ")
    return (model.strip(), kind.strip()) if sep else ("", line_item.strip())


def cost_row(day: date, r: Mapping[str, Any]) -> CostRow:
    money = r.get("amount") or {}
    if not isinstance(money, Mapping):
        raise ValueError(f"amount must be an object, got {str(money)[:40]!r}")
    currency = as_str(money.get("currency")) or "usd"
    if currency.lower() != "usd":
        raise ValueError(f"cost in {currency}: only USD is supported")
    line = as_str(r.get("line_item"))
    model, kind = split_line_item(line)
    base = kind.lower().replace(" (batch)", "").strip()
    bucket = _LINE_KINDS.get(base, OTHER) if model else (WEB_SEARCH if "web search" in base else OTHER)
    quantity = r.get("quantity")
    return CostRow(
        provider="openai", day=day, amount=amount_of(dollars_to_pico(money.get("value")), "cost amount"),
        description=line, model=model,
        workspace=as_str(r.get("project_id")), service_tier="batch" if "batch" in kind.lower() else "",
        cost_type=kind, bucket=bucket,
        quantity="" if quantity is None else format(Decimal(repr(quantity)).normalize(), "f"), currency="USD",
    )


def _params(since: date, until: date, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("start_time", _unix(since)), ("end_time", _unix(until)), ("bucket_width", "1d"), ("limit", PAGE_LIMIT),
            *(("group_by", g) for g in groups)]


def fetch_usage(api: AdminClient, since: date, until: date) -> Fetched:
    return collect(api, "usage", USAGE_PATH, _params(since, until, USAGE_GROUPS), since, until, _bucket_day, usage_row)


def fetch_costs(api: AdminClient, since: date, until: date) -> Fetched:
    return collect(api, "cost", COST_PATH, _params(since, until, COST_GROUPS), since, until, _bucket_day, cost_row)
