"""Reconciliation with known injected differences: a day of calls not captured, a mispriced and an unpriced model."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_event
from pull_support import Store, open_store

from spendtag.guard.alerts import ConsoleChannel
from spendtag.providers_api.mapping import Rules
from spendtag.providers_api.model import CostRow, Fetched, UsageRow
from spendtag.reconcile import drift_alert, reconcile
from spendtag.usage import Usage

SONNET, HAIKU, OPUS = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"
DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
USD = 10**12
AT = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "ledger.db")


def _provider(store: Store, usage: list[UsageRow], costs: list[CostRow], days: list[date] = DAYS) -> None:
    since, until = date(2026, 3, 1), date(2026, 4, 1)
    missing = [d for d in (date(2026, 3, i) for i in range(1, 32)) if d not in days]
    store.save_provider_pull("anthropic", since, until, Fetched("usage", usage, days, missing, 1), AT)
    store.save_provider_pull("anthropic", since, until, Fetched("cost", costs, days, missing, 1), AT)


def _cost_lines(day: date, model: str, input_usd: str, output_usd: str) -> list[CostRow]:
    return [CostRow("anthropic", day, int(Decimal(input_usd) * USD), model=model, bucket="input_tokens",
                    token_type="uncached_input_tokens", cost_type="tokens", workspace="wrk_a"),
            CostRow("anthropic", day, int(Decimal(output_usd) * USD), model=model, bucket="output_tokens",
                    token_type="output_tokens", cost_type="tokens", workspace="wrk_a")]


def _seed(store: Store) -> None:
    """Provider: sonnet, haiku every day; opus on day 1. Ledger: no sonnet on day 2, haiku 20% cheap, opus unpriced."""
    usage, costs = [], []
    for day in DAYS:
        usage.append(UsageRow("anthropic", day, SONNET, api_key_id="apikey_acme", workspace="wrk_a",
                              service_tier="standard", input_tokens=1000, output_tokens=100))
        usage.append(UsageRow("anthropic", day, HAIKU, api_key_id="apikey_globex", workspace="wrk_a",
                              service_tier="standard", input_tokens=2000, output_tokens=200))
        costs += _cost_lines(day, SONNET, "0.003", "0.0015") + _cost_lines(day, HAIKU, "0.002", "0.001")
    usage.append(UsageRow("anthropic", DAYS[0], OPUS, api_key_id="apikey_acme", workspace="wrk_a",
                          input_tokens=1000, output_tokens=100))
    costs += _cost_lines(DAYS[0], OPUS, "0.015", "0.0075")
    _provider(store, usage, costs)

    events = []
    for i, day in enumerate(DAYS):
        ts = datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC)   # late in the UTC day
        if day != DAYS[1]:                                                 # day 2's sonnet calls were never captured
            events.append(make_event(f"s{i}", ts, model=SONNET, usage=Usage(input_tokens=1000, output_tokens=100),
                                     cost=4_500_000_000, tags={"client": "acme"}))
        events.append(make_event(f"h{i}", ts, model=HAIKU, usage=Usage(input_tokens=2000, output_tokens=200),
                                 cost=2_400_000_000, tags={"client": "globex"}))      # priced 20% below the bill
    events.append(make_event("o0", datetime(2026, 3, 1, 8, tzinfo=UTC), model=OPUS,
                             usage=Usage(input_tokens=1000, output_tokens=100), priced=False, tags={"client": "acme"}))
    events.append(make_event("other-provider", datetime(2026, 3, 1, 8, tzinfo=UTC), provider="openai",
                             model="gpt-4o", cost=7 * USD))                             # not anthropic's: ignored
    store.record(events)


def _row(lines: list, key: str) -> tuple:  # type: ignore[type-arg]
    line = next(x for x in lines if x.key == key)
    return line.ledger_cost, line.provider_cost, line.difference, [c.text for c in line.causes]


def test_reconcile_names_missing_calls_mispriced_and_unpriced_models(store: Store) -> None:
    _seed(store)
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 4, 1), period="2026-03")

    assert [d.key for d in rec.days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert _row(rec.days, "2026-03-01") == (6_900_000_000, 30_000_000_000, 23_100_000_000, [
        "claude-haiku-4-5: price differs: the provider bills 25.0% more than the ledger's price for the same tokens",
        "claude-opus-4-1: missing price: 1 unpriced requests of claude-opus-4-1 in the ledger (counted as $0)",
    ])
    assert _row(rec.days, "2026-03-02") == (2_400_000_000, 7_500_000_000, 5_100_000_000, [
        "claude-haiku-4-5: price differs: the provider bills 25.0% more than the ledger's price for the same tokens",
        "claude-sonnet-4-5: calls not captured: the provider counted 1,100 tokens more (no spendtag record at all)",
    ])
    assert _row(rec.days, "2026-03-03") == (6_900_000_000, 7_500_000_000, 600_000_000, [
        "claude-haiku-4-5: price differs: the provider bills 25.0% more than the ledger's price for the same tokens",
    ])

    assert [m.key for m in rec.models] == ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"]
    assert _row(rec.models, "claude-sonnet-4-5") == (9_000_000_000, 13_500_000_000, 4_500_000_000, [
        "calls not captured on 2026-03-02"])
    assert _row(rec.models, "claude-haiku-4-5") == (7_200_000_000, 9_000_000_000, 1_800_000_000, [
        "price differs: the provider bills 25.0% more than the ledger's price for the same tokens on all 3 days "
        "(check the model's price or a tier)"])
    assert _row(rec.models, "claude-opus-4-1") == (0, 22_500_000_000, 22_500_000_000, [
        "missing price on 2026-03-01"])

    assert (rec.total.ledger_cost, rec.total.provider_cost, rec.total.difference) == (
        16_200_000_000, 45_000_000_000, 28_800_000_000)
    assert rec.total.percent == 64 and rec.drift == 64
    assert rec.not_pulled == [date(2026, 3, i) for i in range(4, 32)]


def test_by_key_compares_the_keys_mapped_tags_with_the_ledger(store: Store) -> None:
    _seed(store)
    rules = Rules.from_config({"mapping": {"anthropic:api_key:apikey_acme": {"client": "acme"}}})
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 4, 1), rules=rules)
    acme = next(k for k in rec.keys if k.key == "apikey_acme")
    assert acme.tags == {"client": "acme"}
    # Provider: sonnet x3 + opus; ledger: acme's anthropic events (sonnet on days 1 and 3, opus unpriced).
    assert (acme.provider_cost, acme.ledger_cost) == (36_000_000_000, 9_000_000_000)
    globex = next(k for k in rec.keys if k.key == "apikey_globex")
    assert globex.provider_cost == 9_000_000_000 and not globex.tags
    assert [c.kind for c in globex.causes] == ["unmapped"]


def test_a_steady_lower_bill_is_named_a_discount_and_tiers_are_named(store: Store) -> None:
    usage, costs, events = [], [], []
    for i, day in enumerate(DAYS):
        usage.append(UsageRow("anthropic", day, SONNET, service_tier="batch" if i == 2 else "standard",
                              input_tokens=1000, output_tokens=100))
        costs += _cost_lines(day, SONNET, "0.00255", "0.001275")          # 15% below list
        ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        events.append(make_event(f"s{i}", ts, model=SONNET, usage=Usage(input_tokens=1000, output_tokens=100),
                                 cost=4_500_000_000))
    _provider(store, usage, costs)
    store.record(events)
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 3, 4))
    (model,) = rec.models
    assert model.difference == -675_000_000 * 3
    assert [c.text for c in model.causes][0] == (
        "discount: the provider bills 15.0% less than the ledger's price for the same tokens on all 3 days "
        "(a negotiated discount: add a price override)")
    assert "batch tier: the provider reports 1,100 tokens at the batch tier" in [c.text for c in rec.cells[2].causes]
    assert rec.not_pulled == []


def test_matching_ledger_names_no_cause_and_days_not_pulled_are_left_out(store: Store) -> None:
    usage = [UsageRow("anthropic", DAYS[0], SONNET, input_tokens=1000, output_tokens=100)]
    _provider(store, usage, _cost_lines(DAYS[0], SONNET, "0.003", "0.0015"), days=[DAYS[0]])
    store.record([make_event("a", datetime(2026, 3, 1, 1, tzinfo=UTC), model=SONNET,
                             usage=Usage(input_tokens=1000, output_tokens=100), cost=4_500_000_000),
                  make_event("b", datetime(2026, 3, 2, 1, tzinfo=UTC), model=SONNET, cost=1_000_000)])
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 3, 3))
    assert [(d.key, d.pulled, [c.kind for c in d.causes]) for d in rec.days] == [
        ("2026-03-01", True, []), ("2026-03-02", False, ["not pulled"])]
    assert rec.total.difference == 0 and rec.drift == 0
    assert rec.not_pulled == [DAYS[1]]


def test_drift_alert_fires_once_through_the_channels(store: Store) -> None:
    _seed(store)
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 4, 1), period="2026-03")
    out = io.StringIO()
    channels = {"console": ConsoleChannel(stream=out)}
    alert = drift_alert(store, rec, Decimal(5), channels, now=AT)
    assert alert is not None and alert.id == "drift:anthropic:2026-03" and alert.kind == "drift"
    assert "Spend drift for scope provider=anthropic (5%) in 2026-03." in out.getvalue()
    assert "anthropic billed $0.04; spendtag's ledger shows $0.02 (+64.0% difference)" in out.getvalue()
    assert drift_alert(store, rec, Decimal(5), channels, now=AT) is None          # once per provider and period
    (stored,) = [a for a in store.alerts() if a.kind == "drift"]
    assert stored.alert_id == "drift:anthropic:2026-03"
    assert [d.ok for d in store.deliveries("drift:anthropic:2026-03")] == [True]
    assert drift_alert(store, rec, Decimal(80), channels) is None                  # under the threshold
