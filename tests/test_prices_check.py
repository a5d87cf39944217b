"""Unpriced, then fixed: `prices check` suggests a complete card; once added and repriced, nothing is unpriced."""

from __future__ import annotations

import json
import os
import re
import shlex
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.pricing import Pricer
from spendtag.report.unpriced import FILL_IN, suggest
from spendtag.usage import PricedEvent, Usage, UsageEvent

TS = datetime(2026, 3, 14, 10, tzinfo=UTC)
# Every bucket a rate card can price, on a model nobody knows.
LOCAL = Usage(input_tokens=1_000, cache_read_tokens=500, cache_write_5m_tokens=40, cache_write_1h_tokens=70,
              output_tokens=300, reasoning_tokens=100, input_audio_tokens=20, output_audio_tokens=30,
              web_search_requests=2)
# What the test fills in for FILL-IN, per config key (USD per MTok; web searches per 1k).
FILLED = {"input": "2", "cache_read": "0.2", "cache_write_5m": "2.5", "cache_write_1h": "4", "output": "8",
          "input_audio": "10", "output_audio": "20", "web_search": "10", "reasoning": "3"}


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result.output


def seed(events: list[UsageEvent]) -> None:
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        pricer = Pricer()
        store.record([PricedEvent(e, pricer.price(e)) for e in events])
    finally:
        store.close()


def events() -> list[UsageEvent]:
    return [
        UsageEvent("local-1", TS, "local", "my-llm", LOCAL),
        UsageEvent("local-2", TS, "local", "my-llm", Usage(input_tokens=7, output_tokens=1)),
        # deepseek-chat has list rates but no web-search fee: the searching call is unpriced.
        UsageEvent("ds-1", TS, "deepseek", "deepseek-chat",
                   Usage(input_tokens=10_000, output_tokens=1_000, web_search_requests=3)),
        UsageEvent("ds-2", TS, "deepseek", "deepseek-chat", Usage(input_tokens=10_000, output_tokens=1_000)),
        UsageEvent("ok", TS, "anthropic", "claude-sonnet-4-5", Usage(input_tokens=1_000, output_tokens=100)),
    ]


def fill(text: str) -> str:
    """The suggestion with each FILL-IN replaced by the test's rate for that key (comments dropped)."""
    out = []
    for line in text.splitlines():
        m = re.match(rf'(\w+) = "{FILL_IN}"', line)
        out.append(f'{m[1]} = "{FILLED[m[1]]}"' if m else line)
    return "\n".join(out) + "\n"


def usd(per_mtok: str, tokens: int) -> Decimal:
    return Decimal(per_mtok) * tokens / 10**6


def test_the_toml_suggestion_names_every_bucket_and_after_reprice_nothing_is_unpriced() -> None:
    seed(events())
    toml = run("prices", "check", "--toml")
    local = toml[toml.index('model = "my-llm"'):]
    local = local[:local.index("note =")]
    # Every bucket the calls used; reasoning is billed as output (the model has no reasoning price).
    assert [line.split(" = ")[0] for line in local.splitlines()[2:]] == [
        "input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "input_audio", "output_audio",
        "web_search"]
    assert 'model = "deepseek-chat"\nprovider = "deepseek"\ninput = "0.27"\noutput = "1.1"\nweb_search = "FILL-IN"' \
        in toml
    Path(os.environ["SPENDTAG_CONFIG"]).write_text(fill(toml))

    out = run("reprice", "--period", "2026-03", "--yes")
    assert "revised 4 events" in out     # ds-2 too: same cost, now from the card
    assert run("prices", "check") == "all 5 recorded calls are priced (3 models)\n"
    rows = {r["event_id"]: r for r in json.loads(run("export", "--format", "json"))}
    assert all(r["priced"] for r in rows.values())
    expected = (usd("2", 1_000) + usd("0.2", 500) + usd("2.5", 40) + usd("4", 70) + usd("8", 300)
                + usd("10", 20) + usd("20", 30) + Decimal("10") * 2 / 1000)
    assert Decimal(rows["local-1"]["cost_usd"]) == expected
    assert Decimal(rows["local-2"]["cost_usd"]) == usd("2", 7) + usd("8", 1)
    deepseek = usd("0.27", 10_000) + usd("1.1", 1_000)
    assert Decimal(rows["ds-1"]["cost_usd"]) == deepseek + Decimal("10") * 3 / 1000
    assert Decimal(rows["ds-2"]["cost_usd"]) == deepseek      # the card replaced its list price, at the same rates


def test_the_command_suggestion_applied_then_repriced_leaves_nothing_unpriced() -> None:
    seed(events())
    commands = [line for line in run("prices", "check").splitlines() if line.startswith("spendtag prices override")]
    assert len(commands) == 2
    for command in commands:
        words = shlex.split(command)[1:]
        filled = [FILLED[words[i - 1][2:].replace("-", "_")] if w == FILL_IN else w for i, w in enumerate(words)]
        run(*filled)
    run("reprice", "--period", "2026-03", "--yes")
    assert run("prices", "check") == "all 5 recorded calls are priced (3 models)\n"


def test_a_card_with_input_and_output_only_would_leave_calls_unpriced() -> None:
    """Why the suggestion names every bucket: a card prices only what it names."""
    seed(events())
    run("prices", "override", "my-llm", "--input", "2", "--output", "8")
    run("reprice", "--period", "2026-03", "--yes")
    assert "my-llm" in run("prices", "check")
    assert "Unpriced models" in run("prices", "check", "--strict", code=1)


def test_fill_in_left_in_is_refused_never_zero() -> None:
    seed(events())
    Path(os.environ["SPENDTAG_CONFIG"]).write_text(run("prices", "check", "--toml"))
    result = CliRunner().invoke(cli, ["reprice", "--period", "2026-03", "--dry-run"])
    assert result.exit_code != 0 and "FILL-IN" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["prices", "override", "my-llm", "--input", FILL_IN])
    assert result.exit_code != 0 and "--input 'FILL-IN' is not a number" in result.output


def test_tier_unpriced_calls_get_no_guessed_rates_and_reasoning_where_billed_apart() -> None:
    # sonar-deep-research bills reasoning at $3 (output $8); priority has no price in the data.
    seed([UsageEvent("p", TS, "perplexity", "sonar-deep-research",
                     Usage(input_tokens=100, output_tokens=50, reasoning_tokens=20, service_tier="priority"))])
    toml = run("prices", "check", "--toml")
    assert toml.splitlines()[3:6] == [
        'input = "FILL-IN"   # USD per million tokens; list rate 2 (standard tier)',
        'output = "FILL-IN"   # USD per million tokens; list rate 8 (standard tier)',
        'reasoning = "FILL-IN"   # USD per million tokens; list rate 3 (standard tier)']
    Path(os.environ["SPENDTAG_CONFIG"]).write_text(fill(toml))
    run("reprice", "--period", "2026-03", "--yes")
    (row,) = json.loads(run("export", "--format", "json"))
    assert Decimal(row["cost_usd"]) == usd("2", 100) + usd("8", 30) + usd("3", 20)


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_store_unpriced_sums_the_buckets_per_model_and_reason(store: Store) -> None:
    pricer = Pricer()
    store.record([PricedEvent(e, pricer.price(e)) for e in events()])
    uses = {(u.provider, u.model, u.reason): u for u in store.unpriced()}
    assert set(uses) == {("local", "my-llm", None), ("deepseek", "deepseek-chat",
                         "unpriced: web_search_requests has no price for deepseek-chat (genai-prices 0.2.5); "
                         "add a price override")}
    local = uses[("local", "my-llm", None)]
    assert local.requests == 2 and local.first == local.last == TS
    assert local.tokens["input_tokens"] == 1_007 and local.tokens["web_search_requests"] == 2
    assert local.tokens["reasoning_tokens"] == 100 and local.tokens["output_audio_tokens"] == 30
    (card,) = [s for s in suggest(store.unpriced(), store.models(), pricer) if s.model == "deepseek-chat"]
    assert card.requests == 1 and card.priced_requests == 1 and not card.complete
    assert card.rates == {"input_tokens": "0.27", "output_tokens": "1.1", "web_search_requests": None}


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_reasoning_billed_apart_is_in_the_output_component_and_round_trips(store: Store) -> None:
    # sonar-deep-research: $8 output, $3 reasoning. 50 output tokens, 20 of them reasoning.
    event = UsageEvent("r", TS, "perplexity", "sonar-deep-research",
                       Usage(input_tokens=100, output_tokens=50, reasoning_tokens=20))
    cost = Pricer().price(event)
    assert dict(cost.components) == {"input_tokens": 200_000_000, "output_tokens": 30 * 8_000_000 + 20 * 3_000_000}
    assert cost.price is not None and cost.price.rates["reasoning_tokens"] == "0.000003"
    store.record([PricedEvent(event, cost)])
    (back,) = store.events(Filters())
    assert back.cost == cost
