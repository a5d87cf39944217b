"""The one rule for money on screen (``money.screen``), rates per million, and durations."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.money import PICO_PER_USD, format_cost, per_million, screen
from spendtag.periods import duration_text

FAST = settings(max_examples=300, deadline=None)
CENT = PICO_PER_USD // 100
SHOWN = re.compile(r"-?\$\d{1,3}(,\d{3})*\.\d\d\Z")


@pytest.mark.parametrize(("pico", "shown"), [
    (0, "$0.00"),
    (1, "<$0.01"),
    (2_376_000_000, "<$0.01"),            # $0.002376: below a cent, never $0.00 nor six decimals
    (CENT - 1, "<$0.01"),
    (CENT, "$0.01"),
    (15 * CENT // 10, "$0.02"),           # $0.015: half-even to the even cent
    (25 * CENT // 10, "$0.02"),           # $0.025: likewise down
    (25 * CENT // 10 + 1, "$0.03"),       # a pico-USD above the half: up
    (27_478_623_050_000, "$27.48"),
    (1_234_565_000_000_000, "$1,234.56"),
    (-1_500_000_000_000, "-$1.50"),
    (-1, "-<$0.01"),
    (10**18, "$1,000,000.00"),
])
def test_screen_examples(pico: int, shown: str) -> None:
    assert screen(pico) == shown


@FAST
@given(st.integers(min_value=-(10**24), max_value=10**24))
def test_screen_is_cents_rounded_half_even_or_below_a_cent(pico: int) -> None:
    text = screen(pico)
    if pico != 0 and abs(pico) < CENT:
        assert text == ("<$0.01" if pico > 0 else "-<$0.01")
        return
    assert SHOWN.match(text), text
    value = Decimal(text.replace("$", "").replace(",", ""))
    exact = Decimal(pico) / PICO_PER_USD
    assert value == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert abs(value - exact) <= Decimal("0.005")
    assert pico == 0 or value != 0          # a non-zero amount never reads $0.00


@FAST
@given(st.integers(min_value=0, max_value=10**20), st.integers(min_value=1, max_value=10**6),
       st.integers(min_value=0, max_value=10**6))
def test_format_cost_never_shows_unpriced_as_zero(pico: int, requests: int, unpriced: int) -> None:
    unpriced = min(unpriced, requests)
    text = format_cost(pico, requests, unpriced)
    if unpriced == requests:
        assert text == f"— ({unpriced:,} unpriced)"
    elif unpriced:
        assert text == f"{screen(pico)} + {unpriced:,} unpriced"
    else:
        assert text == screen(pico)


@pytest.mark.parametrize(("rate", "bucket", "shown"), [
    ("0.000003", "input_tokens", "$3.00 / M input"),
    ("0.000015", "output_tokens", "$15.00 / M output"),
    ("3E-7", "cache_read_tokens", "$0.30 / M cache read"),
    ("0.00000375", "cache_write_5m_tokens", "$3.75 / M cache write 5m"),
    ("0.000000075", "input_tokens", "$0.075 / M input"),
    ("0.0000000001", "input_tokens", "$0.0001 / M input"),
    ("0.075", "output_tokens", "$75,000.00 / M output"),
    ("0", "input_tokens", "$0.00 / M input"),
    ("0.01", "web_search_requests", "$10.00 / 1k searches"),
    ("0.0005", "request_fee", "$0.50 / 1k requests"),
])
def test_per_million(rate: str, bucket: str, shown: str) -> None:
    assert per_million(rate, bucket) == shown


@FAST
@given(st.integers(min_value=0, max_value=10**12))
def test_per_million_is_exact(micro_per_million: int) -> None:
    # Rates are quoted per million with up to six decimals: the text gives the rate back exactly.
    rate = Decimal(micro_per_million).scaleb(-12)         # USD per token
    text = per_million(rate, "input_tokens")
    assert text.endswith(" / M input")
    shown = Decimal(text.split(" ")[0].replace("$", "").replace(",", ""))
    assert shown.scaleb(-6) == rate


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (573 * 60, "9 h 33 min"), (86_399, "23 h 59 min"), (86_400, "1 d"), (2 * 86_400 + 4 * 3600 + 59, "2 d 4 h"),
    (-5, "0 s"),
])
def test_duration_text(seconds: float, shown: str) -> None:
    assert duration_text(seconds) == shown
