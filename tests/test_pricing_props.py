"""Invariants of the Pricer, checked on random usage, models, dates and tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import genai_prices
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.pricing import PriceBook, PriceOverride, Pricer
from spendtag.usage import Usage, UsageEvent

MODELS = [
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-6"), ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-pro"), ("gemini", "gemini-2.5-flash"),
    ("deepseek", "deepseek-chat"), ("mistral", "mistral-small-latest"), ("anthropic", "claude-2"),
]
PARITY_MODELS = [m for m in MODELS if m[1] != "claude-2"]  # claude-2: spendtag's 1h rule differs on purpose

START = datetime(2025, 1, 1, tzinfo=UTC)
timestamps = st.integers(0, 2 * 365 * 86_400 - 1).map(lambda s: START + timedelta(seconds=s))
counts = st.integers(0, 120_000)


@st.composite
def usages(draw: st.DrawFn, *, max_input: int = 300_000, tiers: bool = True) -> Usage:
    output = draw(counts)
    total_input = draw(st.integers(0, max_input))
    split = sorted(draw(st.lists(st.integers(0, total_input), min_size=4, max_size=4)))
    parts = [b - a for a, b in zip([0, *split], [*split, total_input], strict=True)]
    return Usage(
        input_tokens=parts[0], cache_read_tokens=parts[1], cache_write_5m_tokens=parts[2],
        cache_write_1h_tokens=parts[3], input_audio_tokens=parts[4],
        output_tokens=output, reasoning_tokens=draw(st.integers(0, output)),
        output_audio_tokens=draw(st.integers(0, 2_000)),
        web_search_requests=draw(st.integers(0, 3)),
        service_tier=draw(st.sampled_from([None, "batch", "flex", "priority", "default"])) if tiers else None,
        inference_geo=draw(st.sampled_from([None, "us", "global"])) if tiers else None,
    )


def event(model: tuple[str, str], ts: datetime, usage: Usage) -> UsageEvent:
    return UsageEvent("p", ts, model[0], model[1], usage)


SHARED = Pricer()
DISCOUNTED = Pricer(PriceBook([PriceOverride(1, "*", multiplier=Decimal("0.3333"))]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MODELS), timestamps, usages())
def test_components_sum_to_the_total_and_a_fresh_pricer_agrees(model: tuple[str, str], ts: datetime,
                                                               usage: Usage) -> None:
    e = event(model, ts, usage)
    cost = SHARED.price(e)
    assert sum(cost.components.values()) == cost.total
    assert all(type(v) is int and v >= 0 for v in cost.components.values())
    assert SHARED.price(e) == cost                 # deterministic, and the cached plan agrees...
    assert Pricer().price(e) == cost               # ...with a pricer that resolves from scratch
    if cost.priced:
        assert cost.price is not None and cost.price.price_date == e.ts.date().isoformat()
    else:
        assert cost.total == 0 and not cost.components


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MODELS), timestamps, usages(max_input=90_000, tiers=False),
       usages(max_input=90_000, tiers=False))
def test_cost_is_linear_in_usage(model: tuple[str, str], ts: datetime, u1: Usage, u2: Usage) -> None:
    # Both halves and their sum stay below every long-context threshold, so one rate card applies.
    whole, a, b = (SHARED.price(event(model, ts, u)) for u in (u1 + u2, u1, u2))
    if whole.priced and a.priced and b.priced:
        # List rates have <= 6 decimals per MTok: whole pico per token, so exactly linear.
        for bucket in whole.components.keys() | a.components.keys() | b.components.keys():
            parts = a.components.get(bucket, 0) + b.components.get(bucket, 0)
            assert whole.components.get(bucket, 0) == parts
    whole, a, b = (DISCOUNTED.price(event(model, ts, u)) for u in (u1 + u2, u1, u2))
    if whole.priced and a.priced and b.priced:
        # x0.3333 leaves the integer path: each component is rounded once, so +-1 pico.
        for bucket in whole.components.keys() | a.components.keys() | b.components.keys():
            diff = whole.components.get(bucket, 0) - a.components.get(bucket, 0) - b.components.get(bucket, 0)
            assert abs(diff) <= 1


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARITY_MODELS), timestamps, usages(tiers=False))
def test_standard_tier_matches_genai_prices_to_the_pico(model: tuple[str, str], ts: datetime,
                                                        usage: Usage) -> None:
    cost = SHARED.price(event(model, ts, usage))
    if not cost.priced:   # e.g. web searches on a model without a search fee: genai-prices says $0
        return
    reference = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage.total_input_tokens,          # genai-prices counts input inclusively
            cache_read_tokens=usage.cache_read_tokens,
            cache_audio_read_tokens=0,                      # spendtag has no cached-audio bucket
            cache_write_tokens=usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            input_audio_tokens=usage.input_audio_tokens,
            output_tokens=usage.output_tokens + usage.output_audio_tokens,
            output_audio_tokens=usage.output_audio_tokens,
            web_searches=usage.web_search_requests,
        ),
        model[1], provider_id={"gemini": "google"}.get(model[0], model[0]), genai_request_timestamp=ts,
    )
    assert Decimal(cost.total) == reference.total_price * 10**12
