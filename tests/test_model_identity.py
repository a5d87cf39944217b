"""One model, many ids: overrides, filters and report groups on claude-sonnet-4-5 cover its dated ids."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import make_event

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.pricing import PriceBook, PriceOverride, Pricer
from spendtag.pricing.identity import model_name
from spendtag.report.breakdown import build
from spendtag.usage import PricedEvent, Usage, UsageEvent

TS = datetime(2026, 3, 14, 10, tzinfo=UTC)
ZONE = ZoneInfo("UTC")
USAGE = Usage(input_tokens=100_000, output_tokens=10_000)         # $0.30 + $0.15 at claude-sonnet-4-5's $3 / $15
SONNET_IDS = ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-sonnet-4.5")


def _db() -> str:
    return os.environ["SPENDTAG_DB"]


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("provider", "model", "name"), [
    ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic", "claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("google", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),        # Vertex's dated id
    (None, "claude-opus-4-6-20260205", "claude-opus-4-6"),
    ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),                 # priced apart: a model of its own
    ("local", "my-finetune-v3", "my-finetune-v3"),                        # unknown: as reported
])
def test_model_name_is_genai_prices_resolution(provider: str | None, model: str, name: str) -> None:
    assert model_name(provider, model) == name


# -- overrides ---------------------------------------------------------------------------------

def price(book: PriceBook, model: str, provider: str = "anthropic") -> Any:
    return Pricer(book).price(UsageEvent("e", TS, provider, model, USAGE))


def test_an_override_on_the_undated_id_applies_to_dated_ids_and_aliases() -> None:
    book = PriceBook([PriceOverride(1, "claude-sonnet-4-5", multiplier=Decimal("0.5"), note="negotiated")])
    for model in (*SONNET_IDS, "claude-sonnet-4-5@20250929"):
        cost = price(book, model, "google" if "@" in model else "anthropic")
        assert cost.total == 225_000_000_000, model                    # half of $0.45
        assert "x0.5 override #1 (negotiated)" in cost.price.note
    assert price(book, "claude-sonnet-4-6").total == 450_000_000_000    # another model: list price


def test_an_override_on_a_dated_id_applies_to_that_id_only() -> None:
    book = PriceBook([PriceOverride(1, "claude-sonnet-4-5-20250929", rates={"input_tokens": Decimal(1),
                                                                            "output_tokens": Decimal(2)})])
    assert price(book, "claude-sonnet-4-5-20250929").total == 120_000_000_000   # $0.10 + $0.02
    assert price(book, "claude-sonnet-4-5").total == 450_000_000_000
    assert price(book, "claude-sonnet-4.5").total == 450_000_000_000


def test_a_glob_override_matches_the_name_too() -> None:
    book = PriceBook([PriceOverride(1, "claude-sonnet-4-*", multiplier=Decimal("0.5"))])
    assert price(book, "claude-sonnet-4.5").total == 225_000_000_000


def test_describe_lists_an_undated_override_for_a_dated_id() -> None:
    book = PriceBook([PriceOverride(1, "claude-sonnet-4-5", multiplier=Decimal("0.9"))])
    view = Pricer(book).describe("anthropic", "claude-sonnet-4-5-20250929", TS)
    assert view is not None and [o["id"] for o in view["overrides"]] == [1]


def test_prices_override_then_reprice_reaches_dated_calls() -> None:
    store = open_store(_db())
    try:
        pricer = Pricer()
        events = [UsageEvent(f"e{i}", TS, "anthropic", model, USAGE) for i, model in enumerate(SONNET_IDS)]
        events.append(UsageEvent("other", TS, "anthropic", "claude-haiku-4-5", USAGE))
        store.record([PricedEvent(e, pricer.price(e)) for e in events])
    finally:
        store.close()
    run("prices", "override", "claude-sonnet-4-5", "--multiplier", "0.5", "--note", "negotiated")
    out = run("reprice", "--period", "2026-03", "--model", "claude-sonnet-4-5", "--yes")
    assert out.endswith("revised 3 events; previous costs kept as revisions. Issued invoices keep their prices.\n")
    rows = {r["model"]: r for r in json.loads(run("export", "--format", "json"))}
    for model in SONNET_IDS:
        assert rows[model]["cost_usd"] == "0.225" and "x0.5 override #1 (negotiated)" in rows[model]["price_note"]
    assert rows["claude-haiku-4-5"]["cost_usd"] == "0.15"             # $0.10 + $0.05: not in the filter


# -- filters and reports (both stores) -----------------------------------------------------------

@pytest.fixture
def seeded(store: Store) -> Store:
    store.record([
        make_event("a", TS, model="claude-sonnet-4-5", cost=100, tags={"client": "acme"}),
        make_event("b", TS, model="claude-sonnet-4-5-20250929", cost=200, tags={"client": "acme"}),
        make_event("c", TS, model="claude-sonnet-4.5", cost=400, tags={"client": "globex"}),
        make_event("d", TS, model="claude-haiku-4-5-20251001", cost=800, tags={"client": "acme"}),
        make_event("e", TS, provider="local", model="llama-local", cost=1_600),
        make_event("f", TS, provider="openai", model="gpt-4o-2024-05-13", cost=3_200),
    ])
    return store


def costs(store: Store, by: list[str], **kw: Any) -> dict[tuple[str | None, ...], int]:
    report = build(store, by, Filters(**kw.pop("filters", {})), ZONE, **kw)
    return {r.key: r.totals.cost for r in report.rows if r.totals.requests}


def test_report_by_model_groups_the_ids_of_one_model(seeded: Store) -> None:
    assert costs(seeded, ["model"]) == {("claude-sonnet-4-5",): 700, ("claude-haiku-4-5",): 800,
                                        ("llama-local",): 1_600, ("gpt-4o-2024-05-13",): 3_200}
    assert costs(seeded, ["model"], exact_models=True) == {
        ("claude-sonnet-4-5",): 100, ("claude-sonnet-4-5-20250929",): 200, ("claude-sonnet-4.5",): 400,
        ("claude-haiku-4-5-20251001",): 800, ("llama-local",): 1_600, ("gpt-4o-2024-05-13",): 3_200}
    assert costs(seeded, ["client", "model"]) == {
        ("acme", "claude-sonnet-4-5"): 300, ("globex", "claude-sonnet-4-5"): 400, ("acme", "claude-haiku-4-5"): 800,
        (None, "llama-local"): 1_600, (None, "gpt-4o-2024-05-13"): 3_200}
    assert costs(seeded, ["provider", "model"])[("anthropic", "claude-sonnet-4-5")] == 700


def test_a_model_filter_on_the_undated_id_covers_dated_ids(seeded: Store) -> None:
    sonnet = {"dims": {"model": ("claude-sonnet-4-5",)}}
    assert costs(seeded, ["client"], filters=sonnet) == {("acme",): 300, ("globex",): 400}
    assert costs(seeded, ["model"], filters=sonnet, exact_models=True) == {
        ("claude-sonnet-4-5",): 100, ("claude-sonnet-4-5-20250929",): 200, ("claude-sonnet-4.5",): 400}
    dated = {"dims": {"model": ("claude-sonnet-4-5-20250929",)}}
    assert costs(seeded, ["model"], filters=dated, exact_models=True) == {("claude-sonnet-4-5-20250929",): 200}
    assert [p.event.event_id for p in seeded.events(Filters(dims={"model": ("claude-haiku-4-5",)}))] == ["d"]


def test_cli_report_and_api_report_group_by_model_unless_asked_not_to() -> None:
    store = open_store(_db())
    try:
        store.record([make_event("a", TS, model="claude-sonnet-4-5", cost=10**12, tags={"client": "acme"}),
                      make_event("b", TS, model="claude-sonnet-4-5-20250929", cost=2 * 10**12)])
    finally:
        store.close()
    grouped = json.loads(run("report", "--by", "model", "--period", "2026-03", "--format", "json"))
    assert [(r["model"], r["cost_usd"]) for r in grouped["rows"]] == [("claude-sonnet-4-5", "3.00")]
    split = json.loads(run("report", "--by", "model", "--period", "2026-03", "--format", "json", "--exact-models"))
    assert [(r["model"], r["cost_usd"]) for r in split["rows"]] == [("claude-sonnet-4-5-20250929", "2.00"),
                                                                     ("claude-sonnet-4-5", "1.00")]
    top = run("top", "--by", "model", "--period", "2026-03")
    assert "claude-sonnet-4-5-20250929" not in top and "claude-sonnet-4-5" in top
    compared = run("compare", "--period", "2026-03", "--exact-models", "!client", "client=acme")
    assert "claude-sonnet-4-5-20250929" in compared

    from fastapi.testclient import TestClient

    from spendtag import settings
    from spendtag.server.dashboard.app import create_app

    client = TestClient(create_app(_db(), settings.load({"db": _db()})))
    for query, expected in (("", [("claude-sonnet-4-5", "3.00")]),
                            ("&exact_models=true", [("claude-sonnet-4-5-20250929", "2.00"),
                                                    ("claude-sonnet-4-5", "1.00")])):
        doc = client.get(f"/api/v1/report?by=model&period=2026-03{query}").json()
        assert [(r["model"], r["cost_usd"]) for r in doc["rows"]] == expected


def test_names_are_kept_in_the_user_cache_so_a_later_process_needs_no_price_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from spendtag.pricing import identity

    def fresh_process() -> None:
        model_name.cache_clear()
        monkeypatch.setattr(identity, "_names", None)

    fresh_process()
    path = identity._cache_file()
    assert str(path).startswith(os.environ["HOME"])           # the test's own home (conftest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")                                # a damaged cache is ignored, then rewritten
    assert model_name("anthropic", "claude-opus-4-6-20260205") == "claude-opus-4-6"
    assert json.loads(path.read_text()) == {"anthropic\nclaude-opus-4-6-20260205": "claude-opus-4-6"}

    fresh_process()

    def no_data(provider: str | None, model: str) -> str:
        raise AssertionError("the price data was loaded")

    monkeypatch.setattr(identity, "_resolve", no_data)
    assert model_name("anthropic", "claude-opus-4-6-20260205") == "claude-opus-4-6"
    fresh_process()


def test_a_model_filter_on_the_undated_id_is_not_refused_when_only_dated_calls_exist() -> None:
    """The filter takes the model's name (pricing.identity), so the 'matches nothing' check must too."""
    store = open_store(_db())
    try:
        store.record([make_event("d", TS, model="claude-sonnet-4-5-20250929", cost=2 * 10**12)])
    finally:
        store.close()
    doc = json.loads(run("report", "--by", "model", "--model", "claude-sonnet-4-5", "--format", "json"))
    assert [(r["model"], r["cost_usd"]) for r in doc["rows"]] == [("claude-sonnet-4-5", "2.00")]
    typo = CliRunner().invoke(cli, ["report", "--model", "claude-sonet-4-5"], env={"COLUMNS": "200"})
    assert typo.exit_code == 2
    assert "no calls with model 'claude-sonet-4-5'; did you mean" in typo.output
