"""Recommendations: the cheaper-model saving in exact money, `spendtag recommend`, and the dashboard's page and API.

The expected amounts are worked out by hand from the list prices (genai-prices): gpt-4o-mini
$0.15/$0.60 per million input/output tokens; claude-sonnet-4-5 $3/$15, and $6/$22.50 for a
call with more than 200k input tokens.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.money import parse_usd
from spendtag.periods import zone
from spendtag.pricing.pricer import Pricer
from spendtag.report.recommendations import recommend, recommendations
from spendtag.usage import Usage

USD = 10**12
UTC_ZONE = zone("UTC")


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.stdout


def record(events: list[Any]) -> None:
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        store.record(events)
    finally:
        store.close()


def gpt4o_calls(n: int, at: datetime, **dims: Any) -> list[Any]:
    """``n`` gpt-4o calls of 100k input and 1k output tokens, each recorded at $1.00."""
    return [make_event(f"g{i}-{at:%Y%m%d}-{dims.get('agent', '')}", at - timedelta(minutes=i), provider="openai",
                       model="gpt-4o", usage=Usage(input_tokens=100_000, output_tokens=1_000), cost=USD, **dims)
            for i in range(n)]


# -- the library ----------------------------------------------------------------------------------

def test_the_saving_is_each_call_repriced_on_the_cheaper_model(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    at = datetime(2026, 3, 10, tzinfo=UTC)
    store.record(gpt4o_calls(120, at, agent="summariser"))
    found = recommendations(store, Pricer(), Filters(), UTC_ZONE)
    model, caching = found.items
    # gpt-4o-mini: 100,000 x $0.15/M + 1,000 x $0.60/M = $0.0156 a call; 120 calls = $1.872.
    assert (model.kind, model.subject, model.calls, model.cost) == ("cheaper-model", "openai/gpt-4o", 120, 120 * USD)
    assert (model.alternative, model.alternative_cost, model.savings) == (
        "gpt-4o-mini", parse_usd("1.872"), parse_usd("118.128"))
    assert model.share_percent == Decimal("100.0")
    assert model.text == ("gpt-4o is 100% of this spend ($120.00); the same tokens on gpt-4o-mini would cost $1.87 "
                          "at list price, $118.13 less")
    assert model.basis.startswith("120 calls repriced one by one on gpt-4o-mini: same tokens, tier and date "
                                  "(genai-prices ")
    assert (caching.kind, caching.subject, caching.savings, caching.agent) == ("prompt-caching", "agent summariser",
                                                                               None, "summariser")
    assert caching.basis == ("0 of 12,000,000 input tokens read from cache over 120 calls "
                             "(suggested below 20%, from 100 calls)")
    assert found.total == 120 * USD and found.savings == parse_usd("118.128")
    assert recommend(store, Pricer(), Filters(), UTC_ZONE) == [model.text, caching.text]
    store.close()


def test_a_long_context_tier_applies_only_to_the_calls_that_were_long(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    at = datetime(2026, 3, 10, tzinfo=UTC)
    store.record([
        make_event("long", at, provider="anthropic", model="claude-opus-4-1",
                   usage=Usage(input_tokens=300_000, output_tokens=1_000), cost=5 * USD),
        make_event("short", at, provider="anthropic", model="claude-opus-4-1",
                   usage=Usage(input_tokens=1_000, output_tokens=1_000), cost=USD),
    ])
    (model,) = recommendations(store, Pricer(), Filters(), UTC_ZONE).items
    # long: 300,000 x $6/M + 1,000 x $22.50/M = $1.8225; short: 1,000 x $3/M + 1,000 x $15/M = $0.018.
    # (The two calls' tokens priced as one would all take the long-context rates: $1.851.)
    assert model.alternative == "claude-sonnet-4-5"
    assert model.alternative_cost == parse_usd("1.8405") and model.savings == 6 * USD - parse_usd("1.8405")
    store.close()


def test_no_line_for_a_small_share_an_unpriced_call_or_a_model_without_a_cheaper_one(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    at = datetime(2026, 3, 10, tzinfo=UTC)
    store.record([
        make_event("big", at, provider="anthropic", model="claude-haiku-4-5", cost=95 * USD),      # no cheaper one
        make_event("small", at, provider="openai", model="gpt-4o", cost=5 * USD),                 # 5% < 10%
        make_event("unpriced", at, provider="openai", model="gpt-4o", priced=False),
    ])
    assert recommendations(store, Pricer(), Filters(), UTC_ZONE).items == ()
    store.close()


# -- spendtag recommend ---------------------------------------------------------------------------

def test_recommend_json_csv_and_table() -> None:
    now = datetime.now(UTC)
    record(gpt4o_calls(120, now - timedelta(days=1), agent="=summariser"))
    record(gpt4o_calls(50, now - timedelta(days=40), agent="old"))       # outside the default last 30 days
    doc = json.loads(run("recommend", "--format", "json"))
    assert doc["total_cost_usd"] == "120.00" and doc["savings_usd"] == "118.128"
    first = doc["recommendations"][0]
    assert {k: first[k] for k in ("kind", "subject", "calls", "cost_usd", "share_percent", "alternative",
                                  "alternative_cost_usd", "savings_usd")} == {
        "kind": "cheaper-model", "subject": "openai/gpt-4o", "calls": 120, "cost_usd": "120.00",
        "share_percent": "100.0", "alternative": "gpt-4o-mini", "alternative_cost_usd": "1.872",
        "savings_usd": "118.128"}
    assert [r["kind"] for r in doc["recommendations"]] == ["cheaper-model", "prompt-caching"]
    everything = json.loads(run("recommend", "--format", "json", "--since", "2000-01-01"))
    assert everything["total_cost_usd"] == "170.00" and everything["recommendations"][0]["calls"] == 170

    rows = list(csv.DictReader(io.StringIO(run("recommend", "--format", "csv"))))
    assert [(r["kind"], r["subject"], r["savings_usd"]) for r in rows] == [
        ("cheaper-model", "openai/gpt-4o", "118.128"), ("prompt-caching", "agent =summariser", "")]
    assert rows[1]["agent"] == "'=summariser"              # a spreadsheet shows it as text, never a formula

    table = run("recommend")
    assert "Recommendations · " in table and "spend $120.00" in table
    assert "gpt-4o-mini" in table and "$118.13" in table
    assert table.rstrip().endswith("cheaper models would have saved $118.13 on this spend")
    none = run("recommend", "--tag", "client=nobody")
    assert none.splitlines()[1].startswith("no recommendations: no model with a cheaper one of its family")


def test_recommend_takes_the_report_filters() -> None:
    now = datetime.now(UTC)
    record(gpt4o_calls(10, now - timedelta(days=2), agent="a", tags={"client": "acme"}))
    record(gpt4o_calls(30, now - timedelta(days=3), agent="b", tags={"client": "globex"}))
    doc = json.loads(run("recommend", "--tag", "client=acme", "--format", "json"))
    assert doc["total_cost_usd"] == "10.00"
    assert doc["recommendations"][0]["calls"] == 10 and doc["recommendations"][0]["savings_usd"] == "9.844"
    doc = json.loads(run("recommend", "--agent", "b", "--format", "json"))
    assert doc["recommendations"][0]["calls"] == 30
    assert "--tag SELECTOR" in run("recommend", "--help") and "--this-month" in run("recommend", "--help")


def test_budget_show_keeps_its_recommendation_lines() -> None:
    run("budget", "set", "team", "--monthly", "1000")
    record(gpt4o_calls(120, datetime.now(UTC) - timedelta(minutes=1), agent="summariser"))
    out = run("budget", "show", "team")
    assert ("recommendation: gpt-4o is 100% of this spend ($120.00); the same tokens on gpt-4o-mini would cost "
            "$1.87 at list price, $118.13 less") in out


# -- the dashboard: API and page, in process ---------------------------------------------------------

@pytest.fixture
def dashboard() -> Any:
    from fastapi.testclient import TestClient

    from spendtag import settings
    from spendtag.server.dashboard.app import create_app

    db = os.environ["SPENDTAG_DB"]
    return TestClient(create_app(db, settings.load({"db": db})))


def test_the_api_answers_what_the_cli_prints(dashboard: Any) -> None:
    record(gpt4o_calls(120, datetime(2026, 3, 10, tzinfo=UTC), agent="summariser", tags={"client": "acme"}))
    for query, args in (("period=2026-03", ["--period", "2026-03"]),
                        ("period=2026-03&tag=client=acme", ["--period", "2026-03", "--tag", "client=acme"]),
                        ("since=2026-03-10T00:00:00Z&until=2026-03-10T00:30:00Z",
                         ["--since", "2026-03-10T00:00:00Z", "--until", "2026-03-10T00:30:00Z"])):
        response = dashboard.get(f"/api/v1/recommendations?{query}")
        assert response.status_code == 200, response.text
        assert response.json() == json.loads(run("recommend", *args, "--format", "json")), query
    assert dashboard.get("/api/v1/recommendations?period=2026-03").json()["savings_usd"] == "118.128"
    last30 = dashboard.get("/api/v1/recommendations").json()          # as the CLI: the last 30 days by default
    assert last30 == json.loads(run("recommend", "--format", "json"))


def test_the_page_shows_the_api_figures(dashboard: Any) -> None:
    record(gpt4o_calls(120, datetime(2026, 3, 10, tzinfo=UTC), agent="summariser"))
    html = dashboard.get("/recommendations?period=2026-03").text
    assert '<tr data-kind="cheaper-model" data-subject="openai/gpt-4o">' in html
    assert 'data-savings-usd="118.128">$118.13</td>' in html and 'data-alternative-usd="1.872">$1.87</td>' in html
    assert 'id="rec-savings" data-usd="118.128"' in html
    assert 'href="/api/v1/recommendations?period=2026-03' in html
    assert 'aria-current="page">Recommendations</a>' in html


def test_a_client_link_cannot_see_recommendations(dashboard: Any) -> None:
    from spendtag.server.dashboard.access import create_token

    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        token, _ = create_token(store, "acme-link", "client", ("client", "acme"))
    finally:
        store.close()
    response = dashboard.get("/api/v1/recommendations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_serve_with_the_proxy_routes_the_page_to_the_dashboard(dashboard: Any) -> None:
    from spendtag.server.dashboard.app import Combined

    proxy = object()
    combined = Combined(dashboard.app, proxy=proxy)  # type: ignore[arg-type]
    assert combined.route("/recommendations") is dashboard.app and combined.route("/v1/chat/completions") is proxy
