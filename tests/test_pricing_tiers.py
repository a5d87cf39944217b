"""Fast mode and service tiers priced from data: genai-prices, else spendtag's tier table.

The transcript in tests/fixtures/pricing/fast_mode has Claude Code calls with
``usage.speed: "fast"`` on Opus 4.6 and 4.7 (6x, spendtag's table), Opus 4.8 (2x,
genai-prices' own fast price) and standard calls beside them, a standard call first on each
day so that the fast calls after it meet the import's resolved-price shortcut. ccusage prices fast calls too;
its figures for this transcript are below, and spendtag must agree to the micro-dollar.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from genai_prices import data as genai_data
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.cli.main import cli
from spendtag.money import exact_str
from spendtag.pricing import PriceBook, PriceOverride, Pricer
from spendtag.pricing.tiers import EARLIER_TIERS, FAST_MODE
from spendtag.report import exports
from spendtag.usage import BILLED_TOKEN_BUCKETS, PricedEvent, Usage, UsageEvent

FAST_TRANSCRIPTS = Path(__file__).parent / "fixtures" / "pricing" / "fast_mode" / "projects"

# ccusage's figures for that transcript, per call (one fast call per model and day), in USD as
# its JSON prints them. Obtained on 2026-12-07 with ccusage 20.0.24 (npm, linux-x64 binary):
#   CLAUDE_CONFIG_DIR=tests/fixtures/pricing/fast_mode ccusage claude daily --json --offline --timezone UTC
# bench/ccusage_compare.py runs it again where ccusage is installed and compares.
CCUSAGE_20_0_24 = {
    ("2026-05-04", "claude-opus-4-6-fast"): "0.7803914999999999",
    ("2026-05-05", "claude-opus-4-6-fast"): "0.7038150000000001",
    ("2026-05-04", "claude-opus-4-7-fast"): "1.2611985",
    ("2026-05-05", "claude-opus-4-7-fast"): "0.051975",
    ("2026-11-02", "claude-opus-4-8-fast"): "0.33875",
    ("2026-05-04", "claude-opus-4-6"): "0.12276875",
    ("2026-05-04", "claude-opus-4-7"): "0.023175",
}
CCUSAGE_TOTAL = "3.2820737500000003"


def agrees(ours: Decimal, theirs: str) -> bool:
    """Within a micro-dollar; in fact within ccusage's binary-float noise (its sums are floats)."""
    return abs(ours - Decimal(theirs)) < Decimal("1e-12")


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def mtok(usd_per_million: str, tokens: int) -> Decimal:
    return Decimal(usd_per_million) * tokens / 10**6


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def test_claude_code_fast_calls_are_priced_at_6x_and_agree_with_ccusage() -> None:
    run("import", "claude-code", str(FAST_TRANSCRIPTS))
    rows = json.loads(run("export", "--format", "json"))
    assert len(rows) == 7 and all(r["priced"] for r in rows)
    ours: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        fast = "fast mode" in r["price_note"]
        key = (r["time_utc"][:10], r["model"] + ("-fast" if fast else ""))
        assert key not in ours
        ours[key] = Decimal(r["cost_usd"])
    assert set(ours) == set(CCUSAGE_20_0_24)
    for key, theirs in CCUSAGE_20_0_24.items():
        assert agrees(ours[key], theirs), (key, ours[key], theirs)
    assert agrees(sum(ours.values(), Decimal(0)), CCUSAGE_TOTAL)

    # And exactly tokens x 6 x the standard rates ($5 in, $0.50 cached, $6.25 5m write, $10 1h write, $25 out).
    by_time = {r["time_utc"]: r for r in rows}
    first = by_time["2026-05-04T09:00:01Z"]
    assert Decimal(first["cost_usd"]) == 6 * (mtok("5", 1234) + mtok("0.5", 45_678) + mtok("6.25", 2_345)
                                              + mtok("25", 3_456))
    assert first["price_note"] == ("fast mode x6 (spendtag tier table: "
                                   "https://platform.claude.com/docs/en/build-with-claude/fast-mode#pricing, "
                                   "checked 2026-12-07)")
    assert json.loads(first["price_rates"]) == {
        "input_tokens": "0.00003", "cache_read_tokens": "0.000003", "cache_write_5m_tokens": "0.0000375",
        "cache_write_1h_tokens": "0.00006", "output_tokens": "0.00015", "input_audio_tokens": "0.00003",
        "output_audio_tokens": "0.00015", "web_search_requests": "0.01"}
    second = by_time["2026-05-05T09:01:07.250000Z"]
    assert Decimal(second["cost_usd"]) == 6 * (mtok("5", 7) + mtok("0.5", 98_765) + mtok("10", 4_321)
                                               + mtok("25", 987))
    standard = by_time["2026-05-04T08:59:00Z"]
    assert "fast" not in standard["price_note"]
    assert Decimal(standard["cost_usd"]) == (mtok("5", 55) + mtok("0.5", 120_000) + mtok("6.25", 1_111)
                                             + mtok("25", 2_222))
    opus48 = by_time["2026-11-02T08:00:00Z"]
    assert opus48["price_note"].startswith("fast mode x2 (genai-prices fast price)")


# -- every known multiplier, applied once, stamped on the event and in its export row ---------

def _ratio(standard: Any, variant: Any) -> Decimal | None:
    """The single factor between every token price two genai-prices ModelPrices share."""
    factors = {getattr(variant, k) / getattr(standard, k) for k in ("input_mtok", "output_mtok", "cache_read_mtok",
                                                                    "cache_write_mtok", "cache_write_1h_mtok")
               if getattr(variant, k, None) is not None and getattr(standard, k, None)}
    return factors.pop().normalize() if len(factors) == 1 else None


def _genai_fast_models() -> list[tuple[str, str, Decimal, str]]:
    found = []
    for provider in genai_data.providers:
        for info in provider.models:
            for variant in info.price_variants or ():
                if variant.when == {"speed": "fast"} and variant.constraint is None:
                    ratio = _ratio(info.get_prices(datetime(2026, 11, 2, tzinfo=UTC)), variant.prices)
                    assert ratio is not None, info.id
                    found.append((provider.id, info.id, ratio, "genai-prices fast price"))
    return found


KNOWN = [(p.provider, p.model, p.multiplier, p.label) for p in FAST_MODE] + _genai_fast_models()
FAST_DAY = datetime(2026, 11, 2, 9, tzinfo=UTC)    # every model above has fast mode on this day
COUNTS = st.integers(0, 3_000_000)


def test_known_multipliers_cover_the_table_and_genai_prices() -> None:
    models = {m for _, m, _, _ in KNOWN}
    assert {"claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5"} <= models
    assert {m: x for _, m, x, _ in KNOWN if m.startswith("claude-opus-4")} == {
        "claude-opus-4-6": 6, "claude-opus-4-7": 6, "claude-opus-4-8": 2}


@given(known=st.sampled_from(KNOWN), i=COUNTS, r=COUNTS, w5=COUNTS, w1=COUNTS, o=COUNTS,
       searches=st.integers(0, 5), geo=st.sampled_from([None, "global", "us"]), dated=st.booleans(),
       book=st.booleans())
@settings(max_examples=300, deadline=None)
def test_every_known_multiplier_is_applied_once_stamped_and_exported(
        pricer: Pricer, known: tuple[str, str, Decimal, str], i: int, r: int, w5: int, w1: int, o: int,
        searches: int, geo: str | None, dated: bool, book: bool) -> None:
    provider, model, multiplier, source = known
    reported = f"{model}-20260101" if dated and model.startswith("claude-opus-4") else model
    # An override for another model sends pricing down the price-book path: same result.
    used = Pricer(PriceBook([PriceOverride(1, "some-other-model", rates={"input_tokens": Decimal(1)})])) \
        if book else pricer

    def price(speed: str | None) -> PricedEvent:
        usage = Usage(input_tokens=i, cache_read_tokens=r, cache_write_5m_tokens=w5, cache_write_1h_tokens=w1,
                      output_tokens=o, web_search_requests=searches, speed=speed, inference_geo=geo)
        event = UsageEvent("e1", FAST_DAY, provider, reported, usage)
        return PricedEvent(event, used.price(event))

    standard, fast = price("standard"), price("fast")
    if not standard.cost.priced:
        assert not fast.cost.priced      # a bucket the model has no price for: unpriced either way
        return
    assert fast.cost.priced
    for bucket in BILLED_TOKEN_BUCKETS:
        assert fast.cost.components.get(bucket, 0) == standard.cost.components.get(bucket, 0) * multiplier
    assert fast.cost.components.get("web_search_requests") == standard.cost.components.get("web_search_requests")
    tokens = sum(standard.cost.components.get(b, 0) for b in BILLED_TOKEN_BUCKETS)
    assert fast.cost.total == standard.cost.total + tokens * (multiplier - 1)

    ref, base = fast.cost.price, standard.cost.price
    assert ref is not None and base is not None
    assert ref.note.count("fast mode") == 1 and f"fast mode x{multiplier} ({source}" in ref.note
    for bucket in BILLED_TOKEN_BUCKETS:
        if bucket in base.rates:
            assert Decimal(ref.rates[bucket]) == Decimal(base.rates[bucket]) * multiplier
    row = exports.row(fast, [])
    assert f"fast mode x{multiplier}" in row["price_note"]
    assert row["cost_usd"] == exact_str(fast.cost.total)
    assert json.loads(row["price_rates"]) == dict(ref.rates)


def test_fast_mode_on_a_model_without_it_stays_unpriced_with_a_reason(pricer: Pricer) -> None:
    cost = pricer.price(UsageEvent("e1", FAST_DAY, "anthropic", "claude-sonnet-4-5",
                                   Usage(input_tokens=10, speed="fast")))
    assert not cost.priced and cost.total == 0
    assert cost.price is not None and "speed fast" in cost.price.note


def test_fast_mode_and_us_inference_stack(pricer: Pricer) -> None:
    # Opus 4.6 fast, US-only inference: $5 x 6 x 1.1 = $33 per MTok input.
    cost = pricer.price(UsageEvent("e1", FAST_DAY, "anthropic", "claude-opus-4-6",
                                   Usage(input_tokens=1_000_000, speed="fast", inference_geo="us")))
    assert cost.total == 33 * 10**12
    assert cost.price is not None and "fast mode x6" in cost.price.note and "x1.1" in cost.price.note


def test_describe_shows_the_fast_rates(pricer: Pricer) -> None:
    view = pricer.describe("anthropic", "claude-opus-4-7", FAST_DAY)
    assert view is not None
    assert view["contexts"]["fast"]["rates"]["input_tokens"] == "30"
    assert view["contexts"]["fast"]["rates"]["output_tokens"] == "150"
    assert view["contexts"]["fast"]["note"].startswith("fast mode x6 (spendtag tier table")


# -- the table against the price data ---------------------------------------------------------

def _model(provider_id: str, model_id: str) -> Any:
    provider = next(p for p in genai_data.providers if p.id == provider_id)
    return next(m for m in provider.models if m.id == model_id)


@pytest.mark.parametrize("entry", FAST_MODE, ids=lambda e: e.model)
def test_genai_prices_has_no_fast_price_for_a_table_entry_yet(entry: Any) -> None:
    """Fails when genai-prices starts pricing it: then its price is used, and the entry should go."""
    info = _model(entry.provider, entry.model)
    assert not [v for v in info.price_variants or () if v.when == dict([entry.when])], (
        f"genai-prices now prices {entry.when} for {entry.model}: check it is x{entry.multiplier} and "
        f"remove the entry from FAST_MODE in spendtag/pricing/tiers.py")


@pytest.mark.parametrize(("entry", "fast", "standard"), [
    (FAST_MODE[0], "anthropic/claude-opus-4.6-fast", "anthropic/claude-opus-4.6"),
    (FAST_MODE[1], "anthropic/claude-opus-4.7-fast", "anthropic/claude-opus-4.7"),
])
def test_table_multiplier_matches_genai_prices_openrouter_fast_entries(entry: Any, fast: str, standard: str) -> None:
    ts = datetime(2026, 5, 4, tzinfo=UTC)
    ratio = _ratio(_model("openrouter", standard).get_prices(ts), _model("openrouter", fast).get_prices(ts))
    assert ratio == entry.multiplier


def test_genai_prices_still_dates_openai_tier_prices_from_its_verification() -> None:
    """Fails when genai-prices models OpenAI's earlier tier history: then EARLIER_TIERS should go."""
    (entry,) = EARLIER_TIERS
    openai = next(p for p in genai_data.providers if p.id == entry.provider)
    starts = set()
    for info in openai.models:
        for v in info.price_variants or ():
            if v.when.get("service_tier") in entry.tiers and info.id in ("gpt-4o", "gpt-5", "o3", "gpt-4.1"):
                assert v.constraint is not None, f"genai-prices now has undated {v.when} prices for {info.id}"
                starts.add(v.constraint.start_date)  # type: ignore[union-attr]
    assert [d.isoformat() for d in starts] == ["2026-10-12"]
