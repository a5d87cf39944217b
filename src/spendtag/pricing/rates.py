"""List rates from genai-prices' bundled snapshot, mapped onto spendtag's disjoint buckets.

genai-prices counts input *inclusively* (its ``input_tokens`` holds cache reads, cache writes
and audio) and prices a sub-bucket that has no price of its own at its parent's rate. The
chains in ``_CHAINS`` write that fallback out per spendtag bucket, so a disjoint bucket gets
exactly the rate genai-prices would charge for it:

* cache reads without a cache-read price, and cache writes without a cache-write price, cost
  the input rate; 5-minute writes use ``cache_write_mtok`` when there is no 5m-specific price;
* 1-hour writes without a 1h price cost 2x the input rate on Claude models (Anthropic's
  documented rule), otherwise the cache-write rate;
* audio tokens without an audio price cost the text rate of the same direction.

Every such fallback is named in the cost's note when the event uses it. Usage that no rate
covers (web searches on a model with no search fee, tokens on a model with no token price)
makes the event **unpriced**, never $0.

The snapshot is the one bundled with the package, never a downloaded update, so a price
depends only on ``PRICE_DATA_VERSION`` and the event's own timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib.metadata import version

from genai_prices import data as _data
from genai_prices.data_snapshot import DataSnapshot, find_provider_by_id
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    Tier,
    TieredPrices,
    TimeOfDateConstraint,
)

from spendtag.pricing.tiers import earlier_tier, premium
from spendtag.providers import normalise as canonical_provider

PRICE_DATA_VERSION: str = f"genai-prices {version('genai-prices')}"

# Providers that document a 50% Batch discount; used when the data has no batch price for
# the event's date (genai-prices models batch variants only from when they were verified).
BATCH_DISCOUNT_PROVIDERS = frozenset({"openai", "anthropic", "google"})
_HALF = Decimal("0.5")
_US_GEO = Decimal("1.1")

# Token price keys, and the ones a batch discount halves. Anthropic halves every token price
# (FORMATS §2.6); OpenAI's and Google's batch tables keep caching at the standard rate,
# which is how genai-prices' own batch variants for them read.
_TOKEN_KEYS = frozenset({
    "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_5m_mtok",
    "cache_write_1h_mtok", "input_audio_mtok", "output_audio_mtok", "cache_audio_read_mtok",
    "output_reasoning_mtok",
})
_BATCH_KEYS = frozenset({"input_mtok", "output_mtok", "input_audio_mtok", "output_audio_mtok",
                         "output_reasoning_mtok"})

# spendtag bucket -> genai-prices price keys, most specific first ("2x" is the Claude 1h rule).
_CHAINS: dict[str, tuple[str, ...]] = {
    "input_tokens": ("input_mtok",),
    "cache_read_tokens": ("cache_read_mtok", "input_mtok"),
    "cache_write_5m_tokens": ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    "cache_write_1h_tokens": ("cache_write_1h_mtok", "2x", "cache_write_mtok", "input_mtok"),
    "output_tokens": ("output_mtok",),
    "input_audio_tokens": ("input_audio_mtok", "input_mtok"),
    "output_audio_tokens": ("output_audio_mtok", "output_mtok"),
}
_FALLBACK_NOTES: dict[tuple[str, str], str] = {
    ("cache_read_tokens", "input_mtok"): "cache reads at the input rate (no cache-read price)",
    ("cache_write_5m_tokens", "input_mtok"): "cache writes at the input rate (no cache-write price)",
    ("cache_write_1h_tokens", "2x"): "1h cache writes at 2x input (Anthropic rule; no 1h price in data)",
    ("cache_write_1h_tokens", "cache_write_mtok"): "1h cache writes at the cache-write rate (no 1h price)",
    ("cache_write_1h_tokens", "input_mtok"): "1h cache writes at the input rate (no cache-write price)",
    ("input_audio_tokens", "input_mtok"): "input audio at the text input rate (no audio price)",
    ("output_audio_tokens", "output_mtok"): "output audio at the text output rate (no audio price)",
}
_STANDARD_TIERS = frozenset({"", "standard", "default", "auto", "on_demand", "on-demand"})
_TIER_ALIASES = {"fast": "priority", "on_demand_priority": "priority", "on_demand_flex": "flex"}
_OPUS_RE = re.compile(r"claude-opus-(\d+)(?:[-.](\d{1,2}))?(?!\d)")


@dataclass(frozen=True, slots=True)
class Rates:
    """The rates a call is priced with: ``rates`` is USD per unit as an exact Decimal (per token;
    per request for ``web_search_requests`` and ``request_fee``), plus the PriceRef fields."""

    provider: str
    model: str
    rates: Mapping[str, Decimal]
    price_date: str
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ListModel:
    """A model found in the price data."""

    provider: Provider
    model: ModelInfo
    own: bool                         # the provider's own entry: request variants apply (as in genai-prices)
    by_model_name: bool               # provider id unknown; the provider was matched from the model name
    windows: tuple[tuple[time, time], ...]  # time-of-day constraints (UTC) that can change its price


@dataclass(frozen=True, slots=True)
class Resolved:
    """List rates for one (model, price period, context). ``tables[i]`` (USD per unit) applies when
    the event's total input is above ``starts[i-1]`` and at most ``starts[i]``."""

    provider: str
    model: str
    starts: tuple[int, ...]
    tables: tuple[Mapping[str, Decimal], ...]
    fallbacks: tuple[Mapping[str, str], ...]   # per tier: bucket -> note, when that bucket is used
    notes: tuple[str, ...]
    tier_notes: tuple[str, ...] = ()           # per tier: "" or "long context >200k"
    unpriced: str | None = None


class ListPrices:
    """Look-ups in the bundled snapshot, with misses cached like hits."""

    def __init__(self) -> None:
        self._snapshot = DataSnapshot(providers=_data.providers, from_auto_update=False)
        self._found: dict[tuple[str | None, str], ListModel | None] = {}

    def find(self, provider: str | None, model: str) -> ListModel | None:
        key = (provider, model)
        if key not in self._found:
            self._found[key] = self._find(provider, model)
        return self._found[key]

    def _find(self, provider: str | None, model: str) -> ListModel | None:
        pid = canonical_provider(provider) if provider else None
        known = pid is not None and find_provider_by_id(self._snapshot.providers, pid) is not None
        try:
            found_provider, info = self._snapshot.find_provider_model(
                model, None, pid if known else None, None)
        except LookupError:
            return None
        windows: list[tuple[time, time]] = []
        constraints = [] if isinstance(info.prices, ModelPrice) else [c.constraint for c in info.prices]
        constraints += [v.constraint for v in info.price_variants or ()]
        for c in constraints:
            if isinstance(c, TimeOfDateConstraint):
                windows.append((_utc_time(c.start_time), _utc_time(c.end_time)))
        own = any(m is info for m in found_provider.models)
        return ListModel(found_provider, info, own, not known, tuple(windows))

    def resolve(self, found: ListModel, ts: datetime, service_tier: str | None = None,
                speed: str | None = None, inference_geo: str | None = None) -> Resolved:
        """Rates for ``found`` at ``ts`` (UTC) under the response's tier modifiers."""
        info, pid = found.model, found.provider.id
        notes: list[str] = ["provider matched from the model name"] if found.by_model_name else []
        context: dict[str, str] = {}
        scale: list[tuple[frozenset[str], Decimal]] = []
        claude = "claude" in info.id.lower()
        day = ts.date().isoformat()

        def unpriced(reason: str) -> Resolved:
            return Resolved(pid, info.id, (), (), (), tuple(notes), (), f"{reason} ({info.id}, {day})")

        def batch(label: str) -> str | None:
            if found.own and _variant_active(info, ts, "processing", "batch"):
                context["processing"] = "batch"
                notes.append(label)
            elif pid in BATCH_DISCOUNT_PROVIDERS:
                keys = _TOKEN_KEYS if claude else _BATCH_KEYS
                scale.append((keys, _HALF))
                notes.append(f"{label}: 50% ({pid}'s documented batch discount; no batch price in the data)")
            else:
                return f"{label}: the price data has no batch price and {pid} has no documented batch rule"
            return None

        tier = (service_tier or "").strip().lower()
        tier = _TIER_ALIASES.get(tier, tier)
        read_at = ts              # the day whose prices apply (earlier for a tier genai-prices dates late)
        problem: str | None = None
        if tier in _STANDARD_TIERS:
            pass
        elif tier == "scale":
            notes.append("scale tier at list rates")
        elif tier == "batch":
            problem = batch("batch")
        elif tier in ("flex", "priority") and (listed := _tier_price(found, ts, tier)) is not None:
            read_at, note = listed
            context["service_tier"] = tier
            notes.append(note)
        elif tier == "flex":
            if pid == "groq":
                notes.append("flex at on-demand rates (Groq)")
            elif pid == "openai":
                problem = batch("flex at batch rates")
            else:
                problem = "service_tier flex: no flex price in the data"
        elif tier == "priority":
            if claude:
                notes.append("priority tier allocated at list rates (commitments burn down at list weights)")
            else:
                problem = "service_tier priority: no priority price in the data for this date"
        else:
            problem = f"unknown service_tier {service_tier!r}"
        if problem:
            return unpriced(problem)

        speed_value = (speed or "").strip().lower()
        if speed_value == "fast":
            if found.own and _variant_active(info, ts, "speed", "fast"):
                context["speed"] = "fast"
                ratio = _ratio(info.get_prices(ts), info.get_prices(ts, {"speed": "fast"}))
                notes.append(f"fast mode x{ratio} (genai-prices fast price)" if ratio else
                             "fast mode (genai-prices fast price)")
            elif found.own and (known := premium(pid, info.id, "speed", "fast")) is not None:
                scale.append((_TOKEN_KEYS, known.multiplier))
                notes.append(f"fast mode x{known.multiplier} ({known.label})")
            else:
                return unpriced("speed fast: fast mode is premium-priced and neither the data nor spendtag's "
                                "tier table has its price for this model")
        elif speed_value not in ("", "standard", "normal"):
            return unpriced(f"unknown speed {speed!r}")

        if (inference_geo or "").strip().lower() == "us" and _opus_46_or_later(info.id):
            scale.append((_TOKEN_KEYS, _US_GEO))
            notes.append("US-only inference x1.1 (Opus 4.6+)")

        price = info.get_prices(read_at, context or None)
        for keys, factor in scale:
            price = _scaled(price, keys, factor)
        return _tabulate(pid, info.id, price, claude, tuple(notes))


def _tabulate(pid: str, model: str, price: ModelPrice, claude: bool, notes: tuple[str, ...]) -> Resolved:
    values = {k: v for k, v in price.__dict__.items() if not k.startswith("_") and v is not None}
    starts = sorted({t.start for v in values.values() if isinstance(v, TieredPrices) for t in v.tiers})
    tables: list[dict[str, Decimal]] = []
    fallbacks: list[dict[str, str]] = []
    tier_notes: list[str] = []
    for i in range(len(starts) + 1):
        total_input = 0 if i == 0 else starts[i - 1] + 1   # genai-prices: a tier applies above its start
        flat = {k: _at(v, total_input) for k, v in values.items()}
        table: dict[str, Decimal] = {}
        used: dict[str, str] = {}
        for bucket, chain in _CHAINS.items():
            for key in chain:
                if key == "2x":
                    rate = flat["input_mtok"] * 2 if claude and "input_mtok" in flat else None
                else:
                    rate = flat.get(key)
                if rate is not None:
                    table[bucket] = rate.scaleb(-6)
                    if (bucket, key) in _FALLBACK_NOTES:
                        used[bucket] = _FALLBACK_NOTES[(bucket, key)]
                    break
        if "output_reasoning_mtok" in flat:
            table["reasoning_tokens"] = flat["output_reasoning_mtok"].scaleb(-6)
        if "web_searches_kcount" in flat:
            table["web_search_requests"] = flat["web_searches_kcount"].scaleb(-3)
        if "requests_kcount" in flat:
            table["request_fee"] = flat["requests_kcount"].scaleb(-3)
        tables.append(table)
        fallbacks.append(used)
        tier_notes.append("" if i == 0 else f"long context >{_tokens(starts[i - 1])}")
    return Resolved(pid, model, tuple(starts), tuple(tables), tuple(fallbacks), notes, tuple(tier_notes))


def _at(value: Decimal | TieredPrices, total_input: int) -> Decimal:
    if not isinstance(value, TieredPrices):
        return value
    for tier in reversed(value.tiers):
        if total_input > tier.start:
            return tier.price
    return value.base


def _scaled(price: ModelPrice, keys: frozenset[str], factor: Decimal) -> ModelPrice:
    out: dict[str, Decimal | TieredPrices | None] = {}
    for key, value in price.__dict__.items():
        if key in keys and isinstance(value, TieredPrices):
            value = TieredPrices(value.base * factor, [Tier(t.start, t.price * factor) for t in value.tiers])
        elif key in keys and isinstance(value, Decimal):
            value = value * factor
        out[key] = value
    return ModelPrice(**out)


def _variant_active(info: ModelInfo, ts: datetime, key: str, value: str) -> bool:
    for variant in info.price_variants or ():
        if variant.when == {key: value} and (variant.constraint is None or variant.constraint.active(ts)):
            return True
    return False


def _tier_price(found: ListModel, ts: datetime, tier: str) -> tuple[datetime, str] | None:
    """Where genai-prices has ``tier``'s price for a call at ``ts``: the moment to read it at, and the note.

    That is ``ts`` itself while genai-prices' variant is in force; before its start date, the
    start date, if spendtag's tier table says the provider's tier prices held earlier and the
    model's standard price then was the one the variant was set against.
    """
    info = found.model
    if not found.own:
        return None
    if _variant_active(info, ts, "service_tier", tier):
        return ts, tier
    entry = earlier_tier(found.provider.id, tier)
    starts = [v.constraint.start_date for v in info.price_variants or ()
              if v.when == {"service_tier": tier} and isinstance(v.constraint, StartDateConstraint)]
    if entry is None or not starts or min(starts) <= ts.date():
        return None
    at = datetime.combine(min(starts), time(), UTC)
    if info.get_prices(ts) != info.get_prices(at):
        return None      # the standard price changed since: the premium on it is not known
    return at, (f"{tier} at the rates genai-prices lists from {min(starts).isoformat()} "
                f"(standard rates unchanged since; {entry.label})")


def _ratio(standard: ModelPrice, variant: ModelPrice) -> Decimal | None:
    """The one factor between every token price of ``variant`` and ``standard``, if there is one."""
    factors = set()
    for key in _TOKEN_KEYS:
        a, b = getattr(standard, key, None), getattr(variant, key, None)
        if a is None or b is None:
            continue
        if isinstance(a, TieredPrices) or isinstance(b, TieredPrices) or not a:
            return None
        factors.add(b / a)
    return factors.pop().normalize() if len(factors) == 1 else None


def _opus_46_or_later(model_id: str) -> bool:
    match = _OPUS_RE.search(model_id.lower())
    return bool(match) and (int(match[1]), int(match[2] or 0)) >= (4, 6)  # type: ignore[index]


def _utc_time(value: time) -> time:
    if value.tzinfo is None:
        return value
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()


def _tokens(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}"
