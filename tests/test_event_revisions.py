"""An event's earlier costs (``reprice`` revisions): the Store, ``spendtag event``, the API and the event page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_event
from fastapi.testclient import TestClient
from test_billing_cli import billing_commands, fail, run  # noqa: F401 - the fixture wires the commands

from spendtag import settings
from spendtag.ledger import open_store
from spendtag.ledger.store import Store
from spendtag.server.dashboard.app import create_app
from spendtag.usage import Cost, PricedEvent, PriceRef

BASE = datetime(2026, 3, 14, 10, tzinfo=UTC)
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _ref(source: str, note: str = "") -> PriceRef:
    return PriceRef("anthropic", "claude-sonnet-4-5", {"input_tokens": "0.000003"}, "2026-03-14", source, note)


def _priced(event_id: str, total: int, ref: PriceRef | None) -> PricedEvent:
    e = make_event(event_id, BASE, tags={"client": "acme"})
    return PricedEvent(e.event, Cost({"input_tokens": total}, total, ref) if ref else Cost.unpriced())


def test_cost_revisions_number_reason_and_replacement_time(store: Store) -> None:
    store.record([_priced("r1", 300, _ref("genai-prices 0.0.1"))])
    before = datetime.now(UTC)
    assert store.revise([_priced("r1", 0, None)], "model renamed") == 1
    middle = datetime.now(UTC)
    assert store.revise([_priced("r1", 150, _ref("override #2", "x0.5 override #2"))], "negotiated discount") == 1
    after = datetime.now(UTC)
    first, second = store.cost_revisions("r1")
    assert (first.revision, first.cost.total, first.cost.priced, first.cost.price, first.reason) == (
        1, 300, True, _ref("genai-prices 0.0.1"), "model renamed")
    assert (second.revision, second.cost.priced, second.cost.price, second.reason) == (
        2, False, None, "negotiated discount")
    assert before <= first.replaced_at <= middle <= second.replaced_at <= after
    current = store.get_event("r1")
    assert current is not None and current.cost.total == 150
    assert [p.cost for p in store.revisions("r1")] == [first.cost, second.cost]
    assert store.cost_revisions("missing") == []


# -- the CLI -----------------------------------------------------------------------------------------

def _repriced() -> None:
    """a1 ($2.00 at the test-model rate card), then twice repriced: x2 ($4.00), then x3 ($6.00)."""
    run("prices", "override", "test-model", "--input", "1", "--output", "2")
    run("record", "--provider", "local", "--model", "test-model", "--usage",
        '{"input_tokens": 1000000, "output_tokens": 500000}', "--event-id", "a1", "--ts", "2026-03-02T10:00:00Z",
        "--tag", "client=acme", "--agent", "planner")
    run("prices", "override", "test-model", "--multiplier", "2")
    run("reprice", "--period", "2026-03", "--yes", "--reason", "rate card corrected")
    run("prices", "override", "test-model", "--multiplier", "3")
    run("reprice", "--period", "2026-03", "--yes")


def test_event_command_shows_the_current_cost_and_every_earlier_one() -> None:
    _repriced()
    out = STAMP.sub("<when>", run("event", "a1"))
    card = "local/test-model as of 2026-03-02 (override #1; rate card override #1"
    assert out == (
        "event a1 · 2026-03-02 10:00:00 UTC\n"
        "local / test-model · agent planner · source cli · status ok\n"
        "tags: client=acme\n"
        "tokens: input 1,000,000 · output 500,000\n"
        f"cost $6.00 · price {card}; x3 override #3)\n"
        "\n"
        "earlier costs (2, oldest first; each replaced by `spendtag reprice`):\n"
        f"revision   cost  price used{' ' * 78}replaced{' ' * 14}reason\n"
        f"1         $2.00  {card}){' ' * 18}<when>  rate card corrected\n"
        f"2         $4.00  {card}; x2 override #2)  <when>  reprice with current prices\n")
    doc = json.loads(run("event", "a1", "--format", "json"))
    assert doc["cost_usd"] == "6.00" and doc["price"]["note"] == "rate card override #1; x3 override #3"
    assert [(r["revision"], r["cost_usd"], r["cost_components_usd"], r["price"]["rates"], r["reason"])
            for r in doc["revisions"]] == [
        (1, "2.00", {"input_tokens": "1.00", "output_tokens": "1.00"},
         {"input_tokens": "0.000001", "output_tokens": "0.000002"}, "rate card corrected"),
        (2, "4.00", {"input_tokens": "2.00", "output_tokens": "2.00"},
         {"input_tokens": "0.000002", "output_tokens": "0.000004"}, "reprice with current prices")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", r["replaced_at"]) for r in doc["revisions"])


def test_event_command_without_revisions_and_for_an_unknown_id() -> None:
    run("record", "--provider", "acme-ai", "--model", "mystery", "--usage", '{"input_tokens": 5}',
        "--event-id", "u1", "--ts", "2026-03-02T10:00:00Z")
    assert run("event", "u1").splitlines()[-2:] == [
        "cost unpriced · price -", "no earlier costs: this is the only cost recorded for this call"]
    assert fail("event", "nope") == ("error: no event 'nope' in the ledger; event ids are in `spendtag export` "
                                     "and on the dashboard's events page\n")


# -- the API and the page, in process -----------------------------------------------------------------

@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    db = tmp_path / "dash.db"
    store = open_store(str(db))
    store.record([_priced("r1", 1_234_500_000_000_000, _ref("genai-prices 0.0.1"))])      # $1,234.50
    store.revise([_priced("r1", 4_500_000_000, _ref("override #1", "x0.5 override #1"))], "rate card <fixed>")
    store.close()
    yield TestClient(create_app(str(db), settings.load({"db": str(db)})))


def test_api_event_has_its_revisions_in_exact_decimal_strings(client: TestClient) -> None:
    doc = client.get("/api/v1/events/r1").json()
    assert doc["cost_usd"] == "0.0045"
    [rev] = doc["revisions"]
    assert {k: rev[k] for k in ("revision", "priced", "cost_usd", "cost_components_usd", "reason")} == {
        "revision": 1, "priced": True, "cost_usd": "1234.50", "cost_components_usd": {"input_tokens": "1234.50"},
        "reason": "rate card <fixed>"}
    assert rev["price"] == {"provider": "anthropic", "model": "claude-sonnet-4-5", "date": "2026-03-14",
                            "source": "genai-prices 0.0.1", "note": "", "rates": {"input_tokens": "0.000003"}}


def test_event_page_lists_the_revisions_as_people_write_money(client: TestClient) -> None:
    html = client.get("/events/r1").text
    assert 'id="event-cost">$0.0045<' in html
    assert '<td class="num" data-usd="1234.50">$1,234.50</td>' in html
    assert "anthropic/claude-sonnet-4-5 as of 2026-03-14 (genai-prices 0.0.1)" in html
    assert "rate card &lt;fixed&gt;" in html                     # escaped, never markup
    assert 'id="no-revisions"' not in html
