"""Money: int pico-USD, exact at every edge, rounded to cents only for people."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.money import (
    PICO_PER_USD,
    MoneyError,
    exact_str,
    format_usd,
    from_decimal,
    parse_usd,
    round_cents,
    to_decimal,
)
from spendtag.report import exports
from spendtag.usage import COST_COMPONENTS, PricedEvent

# Decimal's default context keeps 28 significant digits, so exactness is promised up to there
# (1e16 USD); the ledger's own ceiling (SQLite int64) is far below that.
EXACT_LIMIT = 10**28 - 1
picos = st.integers(min_value=-EXACT_LIMIT, max_value=EXACT_LIMIT)
FAST = settings(max_examples=200, deadline=None)


# -- parsing and converting -------------------------------------------------------------------


@FAST
@given(picos)
def test_decimal_with_at_most_12_places_round_trips_exactly(pico: int) -> None:
    usd = Decimal(pico).scaleb(-12)          # every Decimal with <= 12 decimals is one of these
    assert parse_usd(usd) == pico
    assert parse_usd(str(usd)) == pico
    assert to_decimal(parse_usd(usd)) == usd
    assert parse_usd(to_decimal(pico)) == pico


@FAST
@given(st.integers(min_value=-10**16, max_value=10**16), st.integers(min_value=0, max_value=11))
def test_decimal_string_with_fewer_places_round_trips(units: int, places: int) -> None:
    text = str(Decimal(units).scaleb(-places))
    assert to_decimal(parse_usd(text)) == Decimal(text)


@pytest.mark.parametrize("value", [0.1, 1.0, 0.0, float("nan")])
def test_floats_are_refused_with_a_clear_error(value: float) -> None:
    with pytest.raises(MoneyError, match="binary float"):
        parse_usd(value)  # type: ignore[arg-type]


def test_bool_is_not_an_amount() -> None:
    with pytest.raises(MoneyError):
        parse_usd(True)


@pytest.mark.parametrize(
    ("text", "pico"),
    [
        ("49.00", 49 * PICO_PER_USD),
        ("$1,250.5", 1_250_500_000_000_000),
        (" 0.000000000001 ", 1),
        ("-3", -3 * PICO_PER_USD),
        ("1_000", 1000 * PICO_PER_USD),
        (7, 7 * PICO_PER_USD),
        (Decimal("0.01"), 10_000_000_000),
    ],
)
def test_parse_usd_examples(text: str | int | Decimal, pico: int) -> None:
    assert parse_usd(text) == pico


@pytest.mark.parametrize("text", ["abc", "", "$", "1.2.3", "12 USD"])
def test_parse_usd_rejects_non_amounts(text: str) -> None:
    with pytest.raises(MoneyError, match="not an amount"):
        parse_usd(text)


@pytest.mark.parametrize("text", ["0.0000000000001", "1.0000000000005", Decimal("1E-13")])
def test_parse_usd_refuses_amounts_finer_than_a_pico(text: str | Decimal) -> None:
    with pytest.raises(MoneyError, match="finer than 1e-12"):
        parse_usd(text)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-inf"])
def test_parse_usd_refuses_non_finite(text: str) -> None:
    with pytest.raises(MoneyError, match="not a finite amount"):
        parse_usd(text)


def test_from_decimal_rounds_half_even_below_a_pico_unless_exact() -> None:
    assert from_decimal(Decimal("0.0000000000005")) == 0
    assert from_decimal(Decimal("0.0000000000015")) == 2
    assert from_decimal(Decimal("0.0000000000025")) == 2
    with pytest.raises(MoneyError):
        from_decimal(Decimal("0.0000000000025"), exact=True)


def test_to_decimal_keeps_cents_and_every_significant_digit() -> None:
    assert str(to_decimal(0)) == "0.00"
    assert str(to_decimal(1_500_000_000_000)) == "1.50"
    assert str(to_decimal(2_290_000_000)) == "0.00229"
    assert str(to_decimal(1)) == "1E-12"        # exact_str is the no-exponent form
    assert to_decimal(-1) == Decimal("-0.000000000001")


# -- rounding and display ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "cents"),
    [
        ("0.005", "0.00"),
        ("0.015", "0.02"),
        ("0.025", "0.02"),
        ("0.035", "0.04"),
        ("0.005000000001", "0.01"),
        ("-0.005", "0.00"),
        ("-0.015", "-0.02"),
        ("1234.565", "1234.56"),
    ],
)
def test_round_cents_is_half_even(usd: str, cents: str) -> None:
    result = round_cents(parse_usd(usd))
    assert result == Decimal(cents)
    assert result.as_tuple().exponent == -2


@FAST
@given(picos)
def test_round_cents_is_within_half_a_cent(pico: int) -> None:
    assert abs(round_cents(pico) * PICO_PER_USD - pico) <= PICO_PER_USD // 200


@pytest.mark.parametrize(
    ("pico", "shown"),
    [
        (0, "$0.00"),
        (1_234_567_000_000_000, "$1,234.57"),
        (1_234_565_000_000_000, "$1,234.56"),
        (-1_500_000_000_000, "-$1.50"),
        (5_000_000_000, "$0.005000"),
        (2_290_000_000, "$0.002290"),
        (1, "$0.000000000001"),
        (999_999, "$0.000000999999"),
        (-5_000_000_000, "-$0.005000"),
        (10**18, "$1,000,000.00"),
    ],
)
def test_format_usd_examples(pico: int, shown: str) -> None:
    assert format_usd(pico) == shown


def test_format_usd_with_explicit_places() -> None:
    assert format_usd(1_234_567_891_234_567, places=4) == "$1,234.5679"
    assert format_usd(5_000_000_000, places=4) == "$0.0050"


@FAST
@given(st.one_of(picos, st.integers(min_value=-10, max_value=10)))
def test_exact_str_is_exact_and_has_no_exponent(pico: int) -> None:
    text = exact_str(pico)
    assert "e" not in text.lower()
    assert Decimal(text) * PICO_PER_USD == pico
    assert from_decimal(Decimal(text), exact=True) == pico
    assert "." in text and len(text.split(".")[1]) >= 2


@pytest.mark.parametrize(
    ("pico", "text"),
    [
        (1, "0.000000000001"),
        (-1, "-0.000000000001"),
        (10**27, "1000000000000000.00"),
        (123_456_789_012_345_678_901_234_567, "123456789012345.678901234567"),
        (2_290_000_000, "0.00229"),
        (1_000_000_000_000, "1.00"),
    ],
)
def test_exact_str_examples(pico: int, text: str) -> None:
    assert exact_str(pico) == text


# -- through the ledger and the exports -------------------------------------------------------

# Up to 9 events of at most 1e18 pico keeps every SQLite sum inside int64.
costs = st.lists(st.integers(min_value=0, max_value=10**18), min_size=1, max_size=9)


def _events(cost_list: list[int], offsets: list[int]) -> list[PricedEvent]:
    start = datetime(2026, 3, 14, tzinfo=UTC)
    return [
        make_event(f"ev-{i}", start + timedelta(minutes=offsets[i % len(offsets)]), cost=cost,
                   tags={"client": f"c{i % 3}"})
        for i, cost in enumerate(cost_list)
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(costs, st.lists(st.integers(min_value=0, max_value=60 * 24 * 40), min_size=1, max_size=9))
def test_money_round_trips_through_ledger_csv_and_json(tmp_path: Path, cost_list: list[int],
                                                        offsets: list[int]) -> None:
    originals = {p.event.event_id: p for p in _events(cost_list, offsets)}
    db = tmp_path / f"money-{uuid.uuid4().hex}.db"   # tmp_path is shared by every example
    with SQLiteStore(db) as store:
        assert store.record(originals.values()).inserted == len(originals)
        ledger_total = sum(a.totals.cost for a in store.aggregate(Filters()))
        assert ledger_total == sum(cost_list)

        exported: dict[str, list[dict[str, str]]] = {}
        for fmt in ("csv", "json", "jsonl"):
            out = io.StringIO()
            assert exports.write(store, Filters(), fmt, out) == len(originals)
            text = out.getvalue()
            if fmt == "csv":
                exported[fmt] = list(csv.DictReader(io.StringIO(text)))
            elif fmt == "json":
                exported[fmt] = json.loads(text)
            else:
                exported[fmt] = [json.loads(line) for line in text.splitlines()]

    for fmt, rows in exported.items():
        assert len(rows) == len(originals), fmt
        total = 0
        for r in rows:
            cost = originals[r["event_id"]].cost
            got = from_decimal(Decimal(r["cost_usd"]), exact=True)
            assert got == cost.total, fmt
            for comp in COST_COMPONENTS:
                assert from_decimal(Decimal(r[f"cost_{comp}"]), exact=True) == cost.components.get(comp, 0), fmt
            total += got
        assert total == ledger_total, fmt
