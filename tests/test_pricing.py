"""List-price cases worked out by hand from published rates (as bundled in genai-prices 0.2.3).

Every expected cost is computed here from the per-MTok literals, never read back from the
pricer: ``mtok(rate, tokens)`` is tokens x USD-per-million in pico-USD.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from spendtag.pricing import PRICE_DATA_VERSION, Pricer
from spendtag.usage import Usage, UsageEvent


def mtok(usd_per_million: str, tokens: int) -> int:
    """Hand arithmetic: USD per million tokens x tokens, in pico-USD (must be exact)."""
    value = Decimal(usd_per_million) * tokens * 10**6
    assert value == value.to_integral_value()
    return int(value)


def per_k(usd_per_thousand: str, requests: int) -> int:
    return int(Decimal(usd_per_thousand) * requests * 10**9)


def ev(provider: str, model: str, ts: datetime, **usage: object) -> UsageEvent:
    return UsageEvent("e1", ts, provider, model, Usage(**usage))  # type: ignore[arg-type]


MAY_2025 = datetime(2025, 5, 1, 12, tzinfo=UTC)
NOV_2025 = datetime(2025, 11, 3, 9, tzinfo=UTC)
NOV_2026 = datetime(2026, 11, 2, 9, tzinfo=UTC)   # after genai-prices' batch variants start (2026-10-14)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


# -- OpenAI gpt-4o: $2.50 input, $1.25 cached input, $10 output per MTok; web search $10 / 1k calls.

def test_gpt4o_standard_with_cache_and_web_search(pricer: Pricer) -> None:
    cost = pricer.price(ev("openai", "gpt-4o", MAY_2025, input_tokens=12_000, cache_read_tokens=30_000,
                           output_tokens=1_500, reasoning_tokens=0, web_search_requests=3))
    expected = {
        "input_tokens": mtok("2.50", 12_000),
        "cache_read_tokens": mtok("1.25", 30_000),
        "output_tokens": mtok("10", 1_500),
        "web_search_requests": per_k("10", 3),
    }
    assert cost.priced
    assert dict(cost.components) == expected
    assert cost.total == sum(expected.values())
    assert cost.total == 30_000_000_000 + 37_500_000_000 + 15_000_000_000 + 30_000_000_000  # $0.1125
    assert cost.price is not None
    assert cost.price.provider == "openai" and cost.price.model == "gpt-4o"
    assert cost.price.source == PRICE_DATA_VERSION
    assert cost.price.price_date == "2025-05-01"
    assert cost.price.rates["input_tokens"] == "0.0000025"
    assert cost.price.rates["web_search_requests"] == "0.01"


def test_gpt4o_batch_is_half_before_and_after_the_data_has_a_batch_price(pricer: Pricer) -> None:
    # Batch API: 50% of $2.50 / $10 = $1.25 / $5; the batch table has no cached rate, so cached
    # input stays at $1.25 (as genai-prices' own batch variant from 2026-10-14 reads).
    usage: dict[str, Any] = {"input_tokens": 100_000, "cache_read_tokens": 8_000, "output_tokens": 20_000,
                             "service_tier": "batch"}
    expected = mtok("1.25", 100_000) + mtok("1.25", 8_000) + mtok("5", 20_000)
    before = pricer.price(ev("openai", "gpt-4o", MAY_2025, **usage))
    after = pricer.price(ev("openai", "gpt-4o", NOV_2026, **usage))
    assert before.total == after.total == expected
    assert before.price is not None and after.price is not None
    assert "documented batch discount" in before.price.note      # spendtag's rule: no batch price in data yet
    assert after.price.note == "batch"                           # genai-prices' batch variant
    standard = pricer.price(ev("openai", "gpt-4o", MAY_2025, input_tokens=100_000, cache_read_tokens=8_000,
                               output_tokens=20_000))
    assert standard.total == mtok("2.50", 100_000) + mtok("1.25", 8_000) + mtok("10", 20_000)


# -- Anthropic claude-sonnet-4-5: $3 input, $3.75 5m write, $6 1h write, $0.30 read, $15 output;
#    above 200k total input: $6 / $7.50 / $12 / $0.60 / $22.50; web search $10 / 1k.

def test_sonnet_45_all_buckets(pricer: Pricer) -> None:
    cost = pricer.price(ev("anthropic", "claude-sonnet-4-5", NOV_2025, input_tokens=2_000,
                           cache_write_5m_tokens=10_000, cache_write_1h_tokens=4_000,
                           cache_read_tokens=50_000, output_tokens=3_000, web_search_requests=2))
    expected = {
        "input_tokens": mtok("3", 2_000),
        "cache_read_tokens": mtok("0.30", 50_000),
        "cache_write_5m_tokens": mtok("3.75", 10_000),
        "cache_write_1h_tokens": mtok("6", 4_000),
        "output_tokens": mtok("15", 3_000),
        "web_search_requests": per_k("10", 2),
    }
    assert dict(cost.components) == expected
    assert cost.total == sum(expected.values())
    assert cost.price is not None and cost.price.note == ""


def test_sonnet_45_long_context_tier_applies_to_every_bucket(pricer: Pricer) -> None:
    # Total input = 150k + 40k + 20k = 210k > 200k: the whole request moves to the tier rates.
    cost = pricer.price(ev("anthropic", "claude-sonnet-4-5", NOV_2025, input_tokens=150_000,
                           cache_read_tokens=40_000, cache_write_5m_tokens=20_000, output_tokens=5_000))
    assert cost.total == (mtok("6", 150_000) + mtok("0.60", 40_000) + mtok("7.50", 20_000)
                          + mtok("22.50", 5_000))
    assert cost.price is not None and "long context >200k" in cost.price.note
    # Exactly 200k total input is not above the threshold: base rates.
    at = pricer.price(ev("anthropic", "claude-sonnet-4-5", NOV_2025, input_tokens=200_000, output_tokens=1))
    assert at.total == mtok("3", 200_000) + mtok("15", 1)


def test_sonnet_45_batch_halves_every_token_price(pricer: Pricer) -> None:
    # Message Batches: 50% of standard, cache reads and writes included: $1.50 / $0.15 / $1.875 / $3 / $7.50.
    usage: dict[str, Any] = {"input_tokens": 40_000, "cache_read_tokens": 10_000, "cache_write_5m_tokens": 8_000,
             "cache_write_1h_tokens": 2_000, "output_tokens": 6_000, "service_tier": "batch"}
    expected = (mtok("1.50", 40_000) + mtok("0.15", 10_000) + mtok("1.875", 8_000) + mtok("3", 2_000)
                + mtok("7.50", 6_000))
    assert pricer.price(ev("anthropic", "claude-sonnet-4-5", NOV_2025, **usage)).total == expected
    assert pricer.price(ev("anthropic", "claude-sonnet-4-5", NOV_2026, **usage)).total == expected


def test_claude_1h_write_without_a_1h_price_is_twice_input(pricer: Pricer) -> None:
    # claude-2 lists only $8 input / $24 output; Anthropic prices 1h cache writes at 2x input = $16.
    cost = pricer.price(ev("anthropic", "claude-2", NOV_2025, input_tokens=1_000, cache_write_1h_tokens=5_000,
                           output_tokens=100))
    assert cost.components["cache_write_1h_tokens"] == mtok("16", 5_000)
    assert cost.total == mtok("8", 1_000) + mtok("16", 5_000) + mtok("24", 100)
    assert cost.price is not None and "2x input" in cost.price.note
    plain = pricer.price(ev("anthropic", "claude-2", NOV_2025, input_tokens=1_000))
    assert plain.price is not None and "2x input" not in plain.price.note   # named only when used


def test_opus_46_us_inference_is_1_1x(pricer: Pricer) -> None:
    # claude-opus-4-6 from 2026-03-13: $5 input, $25 output; US-only inference x1.1 -> $5.50 / $27.50.
    ts = datetime(2026, 4, 1, tzinfo=UTC)
    us = pricer.price(ev("anthropic", "claude-opus-4-6", ts, input_tokens=10_000, output_tokens=1_000,
                         inference_geo="us"))
    glob = pricer.price(ev("anthropic", "claude-opus-4-6", ts, input_tokens=10_000, output_tokens=1_000,
                           inference_geo="global"))
    assert us.total == mtok("5.50", 10_000) + mtok("27.50", 1_000)
    assert glob.total == mtok("5", 10_000) + mtok("25", 1_000)
    assert us.price is not None and "x1.1" in us.price.note
    # Sonnet 4.5 is older than Opus 4.6: no geo premium.
    sonnet = pricer.price(ev("anthropic", "claude-sonnet-4-5", ts, input_tokens=10_000, inference_geo="us"))
    assert sonnet.total == mtok("3", 10_000)


# -- Google gemini-2.5-pro: $1.25 in / $10 out / $0.125 cached up to 200k prompt tokens,
#    $2.50 / $15 / $0.25 above. gemini-2.5-flash: $0.30 in, $2.50 out, $0.03 cached, $1 audio in.

def test_gemini_25_pro_below_and_above_200k(pricer: Pricer) -> None:
    below = pricer.price(ev("gemini", "gemini-2.5-pro", NOV_2025, input_tokens=100_000,
                            cache_read_tokens=50_000, output_tokens=8_000))
    assert below.total == mtok("1.25", 100_000) + mtok("0.125", 50_000) + mtok("10", 8_000)
    above = pricer.price(ev("gemini", "gemini-2.5-pro", NOV_2025, input_tokens=180_000,
                            cache_read_tokens=50_000, output_tokens=8_000))
    assert above.total == mtok("2.50", 180_000) + mtok("0.25", 50_000) + mtok("15", 8_000)
    assert above.price is not None and above.price.provider == "google"


def test_gemini_25_flash_text_and_audio(pricer: Pricer) -> None:
    cost = pricer.price(ev("vertex", "gemini-2.5-flash", NOV_2025, input_tokens=20_000,
                           cache_read_tokens=5_000, input_audio_tokens=3_000, output_tokens=2_000))
    assert dict(cost.components) == {
        "input_tokens": mtok("0.30", 20_000),
        "cache_read_tokens": mtok("0.03", 5_000),
        "output_tokens": mtok("2.50", 2_000),
        "input_audio_tokens": mtok("1", 3_000),
    }


def test_audio_without_an_audio_price_costs_the_text_rate_and_says_so(pricer: Pricer) -> None:
    # gpt-4o lists no audio price; genai-prices bills such tokens at the text rate ($2.50 / $10).
    cost = pricer.price(ev("openai", "gpt-4o", MAY_2025, input_audio_tokens=1_000, output_audio_tokens=100))
    assert cost.total == mtok("2.50", 1_000) + mtok("10", 100)
    assert cost.price is not None
    assert "input audio at the text input rate" in cost.price.note
    assert "output audio at the text output rate" in cost.price.note


# -- Effective-dated prices.

def test_o3_price_cut_on_2025_06_10(pricer: Pricer) -> None:
    # o3: $10 in / $40 out until 2025-06-09, then $2 / $8 from 2025-06-10 (UTC); cached $0.50 throughout.
    usage: dict[str, Any] = {"input_tokens": 50_000, "cache_read_tokens": 10_000, "output_tokens": 5_000}
    before = pricer.price(ev("openai", "o3", datetime(2025, 6, 9, 23, 59, tzinfo=UTC), **usage))
    after = pricer.price(ev("openai", "o3", datetime(2025, 6, 10, 0, 0, tzinfo=UTC), **usage))
    assert before.total == mtok("10", 50_000) + mtok("0.50", 10_000) + mtok("40", 5_000)
    assert after.total == mtok("2", 50_000) + mtok("0.50", 10_000) + mtok("8", 5_000)
    assert before.price is not None and before.price.price_date == "2025-06-09"


def test_event_time_zone_is_normalised_to_utc_for_the_price_date(pricer: Pricer) -> None:
    from datetime import timedelta, timezone

    # 2025-06-09 20:00 at UTC-5 is 2025-06-10 01:00 UTC: the new o3 price.
    ts = datetime(2025, 6, 9, 20, tzinfo=timezone(timedelta(hours=-5)))
    cost = pricer.price(ev("openai", "o3", ts, input_tokens=1_000))
    assert cost.total == mtok("2", 1_000)


def test_deepseek_off_peak_window(pricer: Pricer) -> None:
    # deepseek-chat: $0.27 in / $1.10 out from 00:30 to 16:30 UTC, half ($0.135 / $0.55) off-peak.
    usage: dict[str, Any] = {"input_tokens": 100_000, "output_tokens": 10_000}
    peak = pricer.price(ev("deepseek", "deepseek-chat", datetime(2025, 11, 3, 9, tzinfo=UTC), **usage))
    off = pricer.price(ev("deepseek", "deepseek-chat", datetime(2025, 11, 3, 17, tzinfo=UTC), **usage))
    edge = pricer.price(ev("deepseek", "deepseek-chat", datetime(2025, 11, 3, 16, 30, tzinfo=UTC), **usage))
    assert peak.total == mtok("0.27", 100_000) + mtok("1.10", 10_000)
    assert off.total == edge.total == mtok("0.135", 100_000) + mtok("0.55", 10_000)


# -- Tiers and modifiers without a list price.

def test_openai_flex_before_genai_prices_dates_it_uses_its_flex_rates(pricer: Pricer) -> None:
    # o3 flex: $1 in / $4 out / $0.25 cached (genai-prices from 2026-10-12). o3's standard price on
    # 2025-11-03 is the one of 2026-10-12 ($2 / $8 / $0.50), so its flex rates held then too
    # (spendtag's tier table); Batch rates would bill the cached input at $0.50.
    cost = pricer.price(ev("openai", "o3", NOV_2025, input_tokens=10_000, cache_read_tokens=4_000,
                           output_tokens=1_000, service_tier="flex"))
    assert cost.total == mtok("1", 10_000) + mtok("0.25", 4_000) + mtok("4", 1_000)
    assert cost.price is not None and "flex at the rates genai-prices lists from 2026-10-12" in cost.price.note


def test_openai_flex_where_no_flex_price_is_known_is_billed_at_batch_rates(pricer: Pricer) -> None:
    # o3 before its 2025-06-10 price cut: the flex premium on $10 / $40 is not in any data, so
    # flex is Batch: 50% of $10 / $40 (documented "flex = batch rates").
    cost = pricer.price(ev("openai", "o3", MAY_2025, input_tokens=10_000, output_tokens=1_000,
                           service_tier="flex"))
    assert cost.total == mtok("5", 10_000) + mtok("20", 1_000)
    assert cost.price is not None and "flex at batch rates" in cost.price.note


def test_openai_priority_uses_the_priority_rates_while_the_standard_price_is_unchanged(pricer: Pricer) -> None:
    # o3 priority: $3.50 in (genai-prices from 2026-10-12; OpenAI's page lists the same since launch).
    later = pricer.price(ev("openai", "o3", NOV_2026, input_tokens=10_000, service_tier="priority"))
    assert later.total == mtok("3.50", 10_000)
    earlier = pricer.price(ev("openai", "o3", NOV_2025, input_tokens=10_000, service_tier="priority"))
    assert earlier.total == mtok("3.50", 10_000) and earlier.priced
    assert earlier.price is not None and earlier.price.rates["input_tokens"] == "0.0000035"
    assert "priority at the rates genai-prices lists from 2026-10-12" in earlier.price.note
    assert "spendtag tier table" in earlier.price.note


def test_priority_without_a_known_priority_price_is_unpriced_with_a_reason(pricer: Pricer) -> None:
    # Before o3's 2025-06-10 cut its standard price differs from the one the priority rates are
    # set against, and gpt-5-nano has no priority price at all: neither is guessed.
    for model, ts in (("o3", MAY_2025), ("gpt-5-nano", NOV_2026)):
        cost = pricer.price(ev("openai", model, ts, input_tokens=10_000, service_tier="priority"))
        assert not cost.priced and cost.total == 0
        assert cost.price is not None and cost.price.note.startswith("unpriced: service_tier priority")


def test_web_search_on_a_model_without_a_search_fee_is_unpriced_not_free(pricer: Pricer) -> None:
    cost = pricer.price(ev("deepseek", "deepseek-chat", NOV_2025, input_tokens=1_000, web_search_requests=1))
    assert not cost.priced
    assert cost.price is not None and "web_search_requests has no price" in cost.price.note


def test_provider_reported_cost_is_used_as_is(pricer: Pricer) -> None:
    cost = pricer.price(ev("openrouter", "anthropic/claude-sonnet-4.5", NOV_2025, input_tokens=1_000,
                           output_tokens=100, reported_cost=4_567_000_000))
    assert dict(cost.components) == {"reported": 4_567_000_000}
    assert cost.total == 4_567_000_000 and cost.priced
    assert cost.price is not None and cost.price.source == "provider-reported"
    assert cost.price.rates  # list rates kept for reference


# -- Unknown models.

def test_unknown_model_is_unpriced_not_zero(pricer: Pricer) -> None:
    cost = pricer.price(ev("openai", "gpt-nonexistent-9000", NOV_2025, input_tokens=1_000, output_tokens=10))
    assert cost.priced is False
    assert cost.price is None
    assert cost.components == {}


def test_unknown_provider_falls_back_to_matching_the_model_name(pricer: Pricer) -> None:
    cost = pricer.price(ev("some-gateway", "claude-sonnet-4-5", NOV_2025, input_tokens=1_000))
    assert cost.total == mtok("3", 1_000)
    assert cost.price is not None and "matched from the model name" in cost.price.note


def test_resolve_and_describe(pricer: Pricer) -> None:
    rates = pricer.resolve("anthropic", "claude-sonnet-4-5", NOV_2025, Usage(input_tokens=250_000))
    assert rates is not None
    assert rates.rates["input_tokens"] == Decimal("0.000006")          # $6/MTok long-context tier
    assert rates.price_date == "2025-11-03" and rates.source == PRICE_DATA_VERSION
    assert pricer.resolve("openai", "gpt-nonexistent", NOV_2025, Usage(input_tokens=1)) is None
    view = pricer.describe("gemini", "gemini-2.5-pro", NOV_2025)
    assert view is not None
    assert view["provider"] == "google" and view["model"] == "gemini-2.5-pro"
    assert view["rates"]["input_tokens"] == "1.25" and view["rates"]["web_search_requests"] == "35"
    assert view["tiers"] == [{"above_input_tokens": 200_000, "rates": {
        "input_tokens": "2.5", "cache_read_tokens": "0.25", "cache_write_5m_tokens": "2.5",
        "cache_write_1h_tokens": "2.5", "output_tokens": "15", "input_audio_tokens": "2.5",
        "output_audio_tokens": "15", "web_search_requests": "35"}}]
    assert view["contexts"]["batch"]["rates"]["input_tokens"] == "0.625"
    assert pricer.describe(None, "definitely-not-a-model", NOV_2025) is None
