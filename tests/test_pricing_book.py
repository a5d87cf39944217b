"""Price overrides: rate cards, multipliers, date ranges, tag scope, precedence, config errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from spendtag.errors import ConfigError, PricingError
from spendtag.pricing import PriceBook, PriceOverride, Pricer
from spendtag.tags import Selector
from spendtag.usage import Usage, UsageEvent


def mtok(usd_per_million: str, tokens: int) -> int:
    value = Decimal(usd_per_million) * tokens * 10**6
    return int(value.to_integral_value())


def ev(model: str, ts: datetime, *, provider: str = "openai", tags: dict[str, str] | None = None,
       **usage: object) -> UsageEvent:
    return UsageEvent("e", ts, provider, model, Usage(**usage), tags=tags or {})  # type: ignore[arg-type]


TS = datetime(2026, 2, 10, 15, tzinfo=UTC)


def test_rate_card_prices_a_custom_model() -> None:
    event = ev("ft:gpt-4o:acme:v3", TS, input_tokens=10_000, output_tokens=2_000)
    assert Pricer().price(event).priced is False
    book = PriceBook([PriceOverride(1, "ft:gpt-4o*", rates={"input_tokens": Decimal("3.75"),
                                                             "output_tokens": Decimal("15")})])
    cost = Pricer(book).price(event)
    assert cost.priced
    assert cost.total == mtok("3.75", 10_000) + mtok("15", 2_000)
    assert cost.price is not None and cost.price.source == "override #1"
    assert cost.price.rates == {"input_tokens": "0.00000375", "output_tokens": "0.000015"}


def test_rate_card_missing_a_used_bucket_is_unpriced_and_zero_rates_are_free() -> None:
    free_card = {"input_tokens": Decimal(0), "output_tokens": Decimal(0)}
    book = PriceBook([PriceOverride(4, "my-local-*", rates=free_card)])
    pricer = Pricer(book)
    free = pricer.price(ev("my-local-llama", TS, provider="ollama", input_tokens=5_000, output_tokens=500))
    assert free.priced and free.total == 0
    cached = pricer.price(ev("my-local-llama", TS, provider="ollama", input_tokens=5, cache_read_tokens=100))
    assert not cached.priced
    assert cached.price is not None and "cache_read_tokens has no price" in cached.price.note


def test_multiplier_applies_only_inside_its_date_range() -> None:
    # gpt-4o list: $2.50 in / $10 out; 15% negotiated discount in Q1 2026 -> $2.125 / $8.50.
    book = PriceBook([PriceOverride(2, "gpt-4o", provider="openai", multiplier=Decimal("0.85"),
                                    valid_from=date(2026, 1, 1), valid_until=date(2026, 4, 1))])
    pricer = Pricer(book)
    usage: dict[str, Any] = {"input_tokens": 100_000, "output_tokens": 10_000}
    inside = pricer.price(ev("gpt-4o", TS, **usage))
    assert inside.total == mtok("2.125", 100_000) + mtok("8.50", 10_000)
    assert inside.price is not None and "x0.85 override #2" in inside.price.note
    list_price = mtok("2.50", 100_000) + mtok("10", 10_000)
    def at(when: datetime) -> int:
        return pricer.price(ev("gpt-4o", when, **usage)).total

    assert at(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == list_price
    assert at(datetime(2026, 4, 1, tzinfo=UTC)) == list_price          # valid_until is exclusive
    assert at(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == inside.total


def test_multiplier_off_the_integer_path_rounds_half_even_per_component() -> None:
    # $2.50 x 0.3333 = $0.83325/MTok = 833,250 pico/token: still whole; $0.125 x 0.3333 is not.
    book = PriceBook([PriceOverride(3, "gemini-2.5-pro", multiplier=Decimal("0.3333"))])
    cost = Pricer(book).price(ev("gemini-2.5-pro", TS, provider="google", cache_read_tokens=7))
    exact = Decimal("0.125") * Decimal("0.3333") * 7 * 10**6     # 291637.5 pico
    assert cost.total == 291_638 == int(exact.to_integral_value())  # half-even: .5 -> even 291638


def test_scope_by_tag_only_touches_matching_events() -> None:
    acme_only = (Selector.parse("client=acme"),)
    book = PriceBook([PriceOverride(5, "claude-*", multiplier=Decimal("0.5"), scope=acme_only)])
    pricer = Pricer(book)
    acme = pricer.price(ev("claude-sonnet-4-5", TS, provider="anthropic", tags={"client": "acme"},
                           input_tokens=1_000))
    other = pricer.price(ev("claude-sonnet-4-5", TS, provider="anthropic", tags={"client": "globex"},
                            input_tokens=1_000))
    untagged = pricer.price(ev("claude-sonnet-4-5", TS, provider="anthropic", input_tokens=1_000))
    assert acme.total == mtok("1.50", 1_000)
    assert other.total == untagged.total == mtok("3", 1_000)


def test_later_override_wins_and_card_then_multiplier_both_apply() -> None:
    book = PriceBook([
        PriceOverride(1, "my-model", rates={"input_tokens": Decimal("1")}),
        PriceOverride(2, "my-*", rates={"input_tokens": Decimal("2")}),
        PriceOverride(3, "my-model", multiplier=Decimal("0.9")),
        PriceOverride(4, "*", multiplier=Decimal("0.5")),
    ])
    event = ev("my-model", TS, provider="local", input_tokens=1_000_000)
    card, mult = book.match(event)
    assert card is not None and card.id == 2
    assert mult is not None and mult.id == 4
    assert Pricer(book).price(event).total == mtok("1", 1_000_000)   # $2 card x 0.5


def test_rate_card_beats_a_provider_reported_cost_and_multiplier_scales_it() -> None:
    ts = datetime(2025, 11, 3, tzinfo=UTC)
    event = ev("anthropic/claude-sonnet-4.5", ts, provider="openrouter", input_tokens=1_000,
               reported_cost=9_000)
    half = PriceOverride(1, "anthropic/*", multiplier=Decimal("0.5"))
    discounted = Pricer(PriceBook([half])).price(event)
    assert dict(discounted.components) == {"reported": 4_500}
    one_dollar = PriceOverride(2, "anthropic/*", rates={"input_tokens": Decimal("1")})
    card = Pricer(PriceBook([one_dollar])).price(event)
    assert dict(card.components) == {"input_tokens": mtok("1", 1_000)}
    waived = PriceOverride(3, "anthropic/*", multiplier=Decimal("0"))
    assert Pricer(PriceBook([waived])).price(event).total == 0        # an explicit 0 is free, not 1


def test_override_validation() -> None:
    with pytest.raises(PricingError, match="exactly one of rates"):
        PriceOverride(1, "x", rates={"input_tokens": Decimal(1)}, multiplier=Decimal("0.9"))
    with pytest.raises(PricingError, match="exactly one of rates"):
        PriceOverride(1, "x")
    with pytest.raises(PricingError, match="unknown bucket"):
        PriceOverride(1, "x", rates={"prompt_tokens": Decimal(1)})
    with pytest.raises(PricingError, match="before"):
        PriceOverride(1, "x", multiplier=Decimal(1), valid_from=date(2026, 2, 1),
                      valid_until=date(2026, 1, 1))


def test_from_config_reads_strings_ints_and_toml_floats_exactly() -> None:
    book = PriceBook.from_config([
        {"model": "ft:gpt-4o*", "provider": "openai", "input": 3.75, "output": "15", "cache_read": 1,
         "web_search": "25", "from": "2026-01-01", "until": date(2026, 4, 1), "scope": ["client=acme"],
         "note": "fine-tune"},
        {"model": "gpt-4o", "multiplier": 0.85},
    ])
    card, mult = book.overrides
    assert card.id == 1 and mult.id == 2
    assert card.rates == {"input_tokens": Decimal("3.75"), "output_tokens": Decimal("15"),
                          "cache_read_tokens": Decimal("1"), "web_search_requests": Decimal("25")}
    assert mult.multiplier == Decimal("0.85")        # not 0.84999999999999997779...
    assert card.valid_from == date(2026, 1, 1) and card.valid_until == date(2026, 4, 1)
    assert [str(s) for s in card.scope] == ["client=acme"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"input": 1}, "model is missing"),
    ({"model": "m", "input": 1, "multiplier": "0.9"}, "both rates and a multiplier"),
    ({"model": "m"}, "sets no price"),
    ({"model": "m", "input": "cheap"}, "input must be a non-negative number"),
    ({"model": "m", "input": -1}, "input must be a non-negative number"),
    ({"model": "m", "input": True}, "got a boolean"),
    ({"model": "m", "multiplier": "0.9", "from": "next week"}, "from must be a date"),
    ({"model": "m", "multiplier": "0.9", "from": "2026-03-01", "until": "2026-01-01"}, "must be before"),
    ({"model": "m", "multiplier": "0.9", "scope": ["=acme"]}, "bad scope"),
    ({"model": "m", "multiplier": "0.9", "typo": 1}, "unknown key"),
])
def test_from_config_errors_name_the_entry_and_the_fix(entry: dict[str, object], message: str) -> None:
    good = {"model": "ok", "multiplier": "1"}
    with pytest.raises(ConfigError, match=message) as info:
        PriceBook.from_config([good, entry], path="spendtag.toml")
    text = str(info.value)
    assert text.startswith("spendtag.toml: price override #2")
    assert "(fix: " in text and info.value.fix
