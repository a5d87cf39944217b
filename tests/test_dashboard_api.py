"""Every dashboard route and API call, in process through the ASGI app, on a seeded ledger with exact values."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from dashboard_seed import seed, seeded
from fastapi import FastAPI
from fastapi.testclient import TestClient

from spendtag import settings
from spendtag.cli.main import cli
from spendtag.server.dashboard.app import Combined, create_app
from spendtag.server.intake.app import create_app as create_intake

MARCH = "period=2026-03"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with seeded(tmp_path_factory.mktemp("dashboard")) as db:
        yield db


@pytest.fixture(scope="module")
def app(ledger: Path) -> FastAPI:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(ledger.parent / "config.toml"))
        return create_app(str(ledger), settings.load({"db": str(ledger)}))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def get(client: TestClient, path: str, status: int = 200) -> object:
    response = client.get(path)
    assert response.status_code == status, response.text
    return response.json()


def rows_by(doc: dict[str, object], key: str) -> dict[object, str]:
    return {r[key]: r["cost_usd"] for r in doc["rows"]}  # type: ignore[index, attr-defined]


# -- reports: the same document as the CLI --------------------------------------------------------

def test_report_matches_the_cli_json_exactly(client: TestClient, ledger: Path) -> None:
    doc = get(client, f"/api/v1/report?by=client&{MARCH}")
    assert isinstance(doc, dict)
    assert rows_by(doc, "client") == {"acme": "3.50", "globex": "1.25", None: "0.40"}
    assert doc["total"]["cost_usd"] == "5.15" and doc["total"]["requests"] == 8
    assert doc["unpriced"] == [{"provider": "openai", "model": "ft:custom-model", "requests": 1}]
    cli_doc = CliRunner().invoke(cli, ["--db", str(ledger), "report", "--by", "client", "--period", "2026-03",
                                       "--format", "json"], catch_exceptions=False)
    assert json.loads(cli_doc.output) == doc


def test_report_two_keys_and_filters(client: TestClient) -> None:
    doc = get(client, f"/api/v1/report?by=client,model&{MARCH}&tag=client=acme")
    assert isinstance(doc, dict)
    got = {(r["client"], r["model"]): r["cost_usd"] for r in doc["rows"]}
    assert got == {("acme", "claude-sonnet-4-5"): "3.00", ("acme", "claude-haiku-4-5"): "0.50",
                   (None, None): "0.00"}                       # the untagged row is always shown
    doc = get(client, f"/api/v1/report?by=agent&{MARCH}&provider=openai")
    assert isinstance(doc, dict)
    assert rows_by(doc, "agent") == {"coder": "1.25", "summariser": None}      # its one call is unpriced: not $0
    doc = get(client, "/api/v1/report?by=month")
    assert isinstance(doc, dict)
    assert rows_by(doc, "month") == {"2026-02": "2.00", "2026-03": "5.15"}


@pytest.mark.parametrize(("query", "message"), [
    ("by=a,b,c", "at most two keys"),
    ("period=2026-13", "2026-13"),
    ("tag==acme", "tag"),
    ("since=2026-03-10&until=2026-03-01", "after its start"),
    ("range=next-year", "unknown period 'next-year'"),
])
def test_bad_filters_get_a_400_saying_what_is_wrong(client: TestClient, query: str, message: str) -> None:
    response = client.get(f"/api/v1/report?{query}")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_empty_form_fields_mean_no_condition_and_explicit_dates_win(client: TestClient) -> None:
    doc = get(client, "/api/v1/report?by=client&period=2026-03&range=this-month&tag=&agent=&model=&since=&tz=")
    assert isinstance(doc, dict)
    assert doc["total"]["cost_usd"] == "5.15" and doc["period"]["since"] == "2026-03-01T00:00:00+00:00"
    assert get(client, "/api/v1/events?range=&period=2026-03&agent=")["total"] == 8  # type: ignore[index]


def test_out_of_range_parameters_are_refused_by_the_schema(client: TestClient) -> None:
    assert client.get("/api/v1/events?per_page=0").status_code == 422
    assert client.get("/api/v1/events?order=model").status_code == 422
    bad = client.get("/api/v1/events?min_cost=abc")
    assert bad.status_code == 400 and "cost bound: not an amount: 'abc'" in bad.json()["detail"]


# -- overview ---------------------------------------------------------------------------------

def test_overview_for_march(client: TestClient) -> None:
    doc = get(client, f"/api/v1/overview?{MARCH}")
    assert isinstance(doc, dict)
    assert doc["total"]["cost_usd"] == "5.15"
    assert doc["previous"]["cost_usd"] == "2.00" and doc["previous"]["since"] == "2026-02-01T00:00:00Z"
    assert doc["change_percent"] == "157.5"
    assert doc["forecast"] is None                              # March is over: nothing to project
    assert doc["untagged"] == {"key": "client", "requests": 2, "unpriced_requests": 1, "cost_usd": "0.40",
                               "share_percent": "7.8"}
    assert doc["unpriced"]["requests"] == 1
    assert {r["label"]: r["cost_usd"] for r in doc["by_model"]} == {
        "claude-sonnet-4-5": "3.40", "gpt-4.1": "1.25", "claude-haiku-4-5": "0.50", "ft:custom-model": None}
    assert {r["label"]: r["cost_usd"] for r in doc["by_provider"]} == {"anthropic": "3.90", "openai": "1.25"}
    chart = doc["chart"]
    assert chart["group"] == "day" and len(chart["buckets"]) == 31
    totals = {s["name"]: s["total_usd"] for s in chart["series"]}
    assert totals == {"acme": "3.50", "globex": "1.25", "(untagged)": "0.40"}
    day2 = chart["buckets"].index("2026-03-02")
    assert next(s for s in chart["series"] if s["name"] == "acme")["cost_usd"][day2] == "1.50"
    assert sum(Decimal(c) for s in chart["series"] for c in s["cost_usd"] if c is not None) == Decimal("5.15")
    # The day of the one unpriced (untagged) call has no amount, and says why: never $0.
    untagged = next(s for s in chart["series"] if s["name"] == "(untagged)")
    day21 = chart["buckets"].index("2026-03-21")
    assert (untagged["cost_usd"][day21], untagged["requests"][day21], untagged["unpriced_requests"][day21]) == (
        None, 1, 1)
    assert sorted(b["name"] for b in doc["budgets"]) == ["acme-monthly", "everyone"]


def test_overview_by_agent_is_exact(client: TestClient) -> None:
    doc = get(client, f"/api/v1/overview?{MARCH}")
    assert isinstance(doc, dict)
    assert {r["label"]: r["cost_usd"] for r in doc["by_agent"]} == {
        "coder": "3.15", "planner": "2.00", "summariser": None}


def test_overview_stacks_by_any_key_and_defaults_to_this_month(client: TestClient) -> None:
    doc = get(client, f"/api/v1/overview?{MARCH}&stack=model")
    assert isinstance(doc, dict)
    assert {s["name"]: s["total_usd"] for s in doc["chart"]["series"]} == {
        "claude-sonnet-4-5": "3.40", "gpt-4.1": "1.25", "claude-haiku-4-5": "0.50", "ft:custom-model": None}
    now = get(client, "/api/v1/overview")
    assert isinstance(now, dict)
    assert now["total"]["cost_usd"] == "0.00" and now["forecast"] is not None   # this month: nothing yet


def test_anomalies_are_marked_on_the_chart(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from spendtag.ledger import open_store
    from spendtag.ledger.store import AlertRecord

    db = tmp_path / "a.db"
    seed(db)
    store = open_store(str(db))
    store.add_alert(AlertRecord("anomaly:client=acme:2026-03-09T10:spend", "anomaly", None, "2026-03-09 10:00 UTC",
                                "spend", 0, None, datetime(2026, 3, 9, 11, tzinfo=UTC),
                                {"message": "acme spent 9x its usual", "scope": "client=acme"}))
    store.close()
    c = TestClient(create_app(str(db), settings.load({"db": str(db)})))
    doc = get(c, f"/api/v1/overview?{MARCH}")
    assert isinstance(doc, dict)
    assert doc["anomalies"] == [{"hour": "2026-03-09T10:00:00Z", "bucket": "2026-03-09", "kind": "spend",
                                 "scope": "client=acme", "message": "acme spent 9x its usual"}]
    page = c.get(f"/?{MARCH}").text
    assert 'class="anomaly"' in page and "acme spent 9x its usual" in page


# -- one client ----------------------------------------------------------------------------------

def test_summary_of_one_client(client: TestClient) -> None:
    doc = get(client, f"/api/v1/summary?value=acme&{MARCH}")
    assert isinstance(doc, dict)
    assert (doc["key"], doc["value"]) == ("client", "acme")
    assert doc["total"]["cost_usd"] == "3.50" and doc["total"]["requests"] == 4
    assert doc["previous"]["cost_usd"] == "2.00" and doc["change_percent"] == "75.0"
    assert [b["name"] for b in doc["budgets"]] == ["acme-monthly"]      # not the budget over everyone
    assert [i["number"] for i in doc["invoices"]] == ["INV-2026-0001"]
    assert [s["session"] for s in doc["sessions"]] == ["s-acme-2", "s-acme-1"]
    assert [e["event_id"] for e in doc["top_calls"]] == ["a3", "a1", "a2", "a4"]
    assert {r["label"]: r["cost_usd"] for r in doc["by_model"]} == {"claude-sonnet-4-5": "3.00",
                                                                     "claude-haiku-4-5": "0.50"}


def test_tags_and_values(client: TestClient) -> None:
    assert get(client, f"/api/v1/tags?{MARCH}") == ["client", "project"]
    values = get(client, f"/api/v1/tags/client?{MARCH}")
    assert isinstance(values, list)
    assert [(v["value"], v["cost_usd"], v["share_percent"]) for v in values] == [
        ("acme", "3.50", "68.0"), ("globex", "1.25", "24.3"), (None, "0.40", "7.8")]


# -- tables ----------------------------------------------------------------------------------------

def test_events_sorted_paginated_and_cost_bounded(client: TestClient) -> None:
    doc = get(client, f"/api/v1/events?{MARCH}&order=-cost&per_page=3")
    assert isinstance(doc, dict)
    assert [e["event_id"] for e in doc["events"]] == ["a3", "g1", "a1"]
    assert (doc["total"], doc["pages"], doc["page"]) == (8, 3, 1)
    page3 = get(client, f"/api/v1/events?{MARCH}&order=-cost&per_page=3&page=3")
    assert isinstance(page3, dict)
    assert [e["event_id"] for e in page3["events"]] == ["a4", "u1"]     # ties by event_id, descending
    bounded = get(client, f"/api/v1/events?{MARCH}&order=ts&min_cost=0.50&max_cost=1")
    assert isinstance(bounded, dict)
    assert [e["event_id"] for e in bounded["events"]] == ["a1", "a2", "g1"] and bounded["total"] == 3
    acme = get(client, f"/api/v1/events?{MARCH}&tag=client=acme&agent=planner&order=ts")
    assert isinstance(acme, dict)
    assert [e["event_id"] for e in acme["events"]] == ["a3", "a4"]


def test_one_event_with_its_price(client: TestClient) -> None:
    doc = get(client, "/api/v1/events/a4")
    assert isinstance(doc, dict)
    assert doc["cost_usd"] == "0.25" and doc["priced"] is True
    assert doc["tokens"] == {"input": 1000, "cache_read": 5000, "cache_write": 0, "output": 200, "reasoning": 0}
    assert doc["price"]["source"] == "test" and doc["tags"] == {"client": "acme"}
    unpriced = get(client, "/api/v1/events/u1")
    assert isinstance(unpriced, dict)
    assert unpriced["priced"] is False and unpriced["cost_usd"] is None
    assert client.get("/api/v1/events/nope").status_code == 404


def test_sessions_sorted_paginated_and_cost_bounded(client: TestClient) -> None:
    doc = get(client, f"/api/v1/sessions?{MARCH}&sort=cost")
    assert isinstance(doc, dict)
    assert [(s["session"], s["cost_usd"]) for s in doc["sessions"]] == [
        ("s-acme-2", "2.00"), ("s-acme-1", "1.50"), ("s-globex", "1.25")]
    second = get(client, f"/api/v1/sessions?{MARCH}&sort=cost&per_page=1&page=2")
    assert isinstance(second, dict)
    assert [s["session"] for s in second["sessions"]] == ["s-acme-1"] and second["total"] == 3
    bounded = get(client, f"/api/v1/sessions?{MARCH}&min_cost=1.30")
    assert isinstance(bounded, dict)
    assert [s["session"] for s in bounded["sessions"]] == ["s-acme-2", "s-acme-1"] and bounded["total"] == 2
    recent = get(client, f"/api/v1/sessions?{MARCH}")
    assert isinstance(recent, dict)
    assert [s["session"] for s in recent["sessions"]] == ["s-acme-2", "s-globex", "s-acme-1"]


def test_one_session(client: TestClient) -> None:
    doc = get(client, "/api/v1/sessions/s-acme-1")
    assert isinstance(doc, dict)
    assert doc["cost_usd"] == "1.50" and doc["requests"] == 2 and doc["agents"] == ["coder"]
    assert [c["event_id"] for c in doc["calls"]] == ["a1", "a2"]
    assert {r["label"]: r["cost_usd"] for r in doc["by_model"]} == {"claude-sonnet-4-5": "1.00",
                                                                     "claude-haiku-4-5": "0.50"}
    assert client.get("/api/v1/sessions/nope").status_code == 404


# -- budgets, alerts, invoices, keys -------------------------------------------------------------------

def test_budgets_alerts_invoices_keys(client: TestClient) -> None:
    budgets = get(client, "/api/v1/budgets")
    assert isinstance(budgets, list)
    acme = next(b for b in budgets if b["name"] == "acme-monthly")
    assert Decimal(acme["limit_usd"]) == 5
    assert acme["scope"] == "client=acme" and [t["label"] for t in acme["thresholds"]][0] == "50%"
    alerts = get(client, "/api/v1/alerts")
    assert isinstance(alerts, list)
    assert [(a["alert_id"], a["spent_usd"], a["message"]) for a in alerts] == [
        ("acme-monthly:2026-03:50%", "3.50", "acme-monthly passed 50%")]
    invoices = get(client, "/api/v1/invoices")
    assert isinstance(invoices, list)
    assert [(i["number"], i["client"], i["total_due"]) for i in invoices] == [
        ("INV-2026-0001", "acme", "3.50"), ("INV-2026-0002", "globex", "1.25")]
    assert [i["number"] for i in get(client, "/api/v1/invoices?client=globex")] == ["INV-2026-0002"]  # type: ignore[union-attr]
    one = get(client, "/api/v1/invoices/INV-2026-0001")
    assert isinstance(one, dict)
    assert one["document"]["number"] == "INV-2026-0001" and one["document"]["client"] == "acme"
    assert client.get("/api/v1/invoices/INV-2099-0001").status_code == 404
    keys = client.get("/api/v1/keys")
    assert keys.json() == [{"key_id": "vk_1", "name": "acme-key", "prefix": "sk-st-abc", "tags": {"client": "acme"},
                            "budget": None, "created_at": "2026-03-01T00:00:00Z", "revoked_at": None,
                            "active": True}]
    assert "0" * 64 not in keys.text                                  # never the key's hash


# -- export ---------------------------------------------------------------------------------------------

def test_export_is_exactly_what_the_filters_show(client: TestClient) -> None:
    response = client.get(f"/api/v1/export?{MARCH}&tag=client=acme&format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="spendtag-events-20260301-20260401.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["event_id"] for r in rows] == ["a1", "a2", "a3", "a4"]
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("3.50")
    as_json = client.get(f"/api/v1/export?{MARCH}&tag=client=acme&format=json").json()
    assert [r["event_id"] for r in as_json] == ["a1", "a2", "a3", "a4"]
    lines = client.get(f"/api/v1/export?{MARCH}&format=jsonl&min_cost=1").text.splitlines()
    assert [json.loads(x)["event_id"] for x in lines] == ["a1", "g1", "a3"]


def test_export_neutralises_cells_a_spreadsheet_would_run(tmp_path: Path) -> None:
    from conftest import make_event

    from spendtag.ledger import open_store

    db = tmp_path / "x.db"
    store = open_store(str(db))
    store.record([make_event("x1", tags={"client": "=HYPERLINK(\"http://x\")"})])
    store.close()
    c = TestClient(create_app(str(db), settings.load({"db": str(db)})))
    rows = list(csv.DictReader(io.StringIO(c.get("/api/v1/export?format=csv").text)))
    assert rows[0]["tag:client"] == "'=HYPERLINK(\"http://x\")"


# -- pages -------------------------------------------------------------------------------------------------

def test_overview_page_shows_the_api_numbers(client: TestClient) -> None:
    html = client.get(f"/?{MARCH}").text
    unpriced = '<span class="warn" title="calls with no price, not in this total">+ 1 unpriced</span>'
    assert f'id="total-cost" data-usd="5.15">$5.15 {unpriced}<' in html
    assert 'id="previous-cost" data-usd="2.00">$2.00<' in html
    assert f'id="untagged-cost" data-usd="0.40">$0.40 {unpriced}<' in html
    assert 'id="unpriced-count">1<' in html
    assert "157.5%" in html
    # The unknown model is never shown as $0: no amount, and how many calls have none.
    assert ('data-usd=""><span class="warn" title="calls with no price: their cost is unknown, not $0">'
            '— (1 unpriced)</span>') in html
    assert 'data-series="acme" data-bucket="2026-03-02" data-cost="1.50"' in html
    assert 'href="/api/v1/overview?period=2026-03"' in html


@pytest.mark.parametrize(("path", "expected"), [
    (f"/tags/client?{MARCH}", ['href="/tags/client/acme?period=2026-03"', "$3.50", "$1.25", "(untagged)"]),
    (f"/tags/client/acme?{MARCH}", ['data-usd="3.50">$3.50<', "INV-2026-0001", "s-acme-2", "acme-monthly",
                                    'id="export-csv" href="/api/v1/export?period=2026-03&amp;tag=client%3Dacme'
                                    '&amp;format=csv"']),
    (f"/events?{MARCH}&order=-cost&per_page=3", ["page 1 of 3 · 8 in all", 'href="/events/a3"', "$1.75"]),
    ("/events/a4", ['id="event-cost">$0.25<', "cache read 5,000", "client=acme"]),
    (f"/sessions?{MARCH}&sort=cost", ['href="/sessions/s-acme-2"', "$2.00", "page 1 of 1 · 3 in all"]),
    ("/sessions/s-acme-1", ['data-usd="1.50">$1.50<', 'href="/events/a1"', 'href="/events/a2"']),
    ("/budgets", ['data-budget="acme-monthly"', "client=acme", "acme-monthly passed 50%"]),
    ("/alerts", ["acme-monthly passed 50%"]),
    ("/invoices", ['href="/invoices/INV-2026-0001"', "globex", "3.50"]),
    ("/invoices/INV-2026-0001", ["INV-2026-0001", "acme"]),
    ("/keys", ["acme-key", "sk-st-abc", "vk_1"]),
])
def test_every_page_renders_with_exact_values(client: TestClient, path: str, expected: list[str]) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    for text in expected:
        assert text in response.text, text
    assert "content-security-policy" in response.headers


def test_missing_things_and_bad_filters_on_pages(client: TestClient) -> None:
    assert client.get("/events/nope").status_code == 404
    assert client.get("/sessions/nope").status_code == 404
    assert client.get("/invoices/nope").status_code == 404
    bad = client.get("/events?period=2026-13")
    assert bad.status_code == 400 and "2026-13" in bad.text


def test_openapi_document_lists_every_api_route(client: TestClient) -> None:
    doc = get(client, "/api/v1/openapi.json")
    assert isinstance(doc, dict)
    assert set(doc["paths"]) == {f"/api/v1{p}" for p in (
        "/me", "/overview", "/report", "/summary", "/client", "/tags", "/tags/{key}", "/events", "/events/{event_id}",
        "/sessions", "/sessions/{session_id}", "/budgets", "/alerts", "/invoices", "/invoices/{number}", "/keys",
        "/export", "/recommendations")}
    params = {p["name"] for p in doc["paths"]["/api/v1/report"]["get"]["parameters"]}
    assert {"by", "tag", "agent", "model", "provider", "project", "session", "source", "since", "until", "period",
            "range", "tz"} <= params


# -- one port for everything -----------------------------------------------------------------------------------

def test_one_port_serves_the_dashboard_and_the_intake(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    combined = Combined(create_app(str(db), settings.load({"db": str(db)})), create_intake(str(db)))
    with TestClient(combined) as c:   # runs the lifespan: the intake's writer starts and stops
        batch = {"events": [{"event_id": "e1", "ts": "2026-03-14T10:00:00Z", "provider": "anthropic",
                             "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1000, "output_tokens": 100},
                             "tags": {"client": "acme"}}]}
        posted = c.post("/v1/events", json=batch)
        assert posted.status_code == 200 and posted.json()["inserted"] == 1, posted.text
        assert c.get("/healthz").json()["recorded"] == 1
        doc = c.get("/api/v1/report?by=client").json()
        assert doc["rows"][0]["client"] == "acme" and doc["total"]["cost_usd"] == "0.0045"
        assert c.get("/").status_code == 200


def test_the_dashboard_on_postgresql_shows_the_same_numbers(client: TestClient, ledger: Path, pg_url: str) -> None:
    from spendtag.ledger import open_store
    from spendtag.ledger.copy import copy_ledger

    source, target = open_store(str(ledger)), open_store(pg_url)
    copied = copy_ledger(source, target)
    assert copied.ok and copied.inserted == 9, copied.differences
    source.close()
    target.close()
    on_pg = TestClient(create_app(pg_url, settings.load({"db": pg_url})))
    for path in (f"/api/v1/report?by=client,model&{MARCH}", f"/api/v1/overview?{MARCH}",
                 f"/api/v1/summary?value=acme&{MARCH}", f"/api/v1/events?{MARCH}&order=-cost&per_page=3&page=2",
                 f"/api/v1/sessions?{MARCH}&sort=cost", "/api/v1/sessions/s-acme-1", "/api/v1/events/a4",
                 "/api/v1/invoices", "/api/v1/alerts", "/api/v1/keys", f"/api/v1/tags/client?{MARCH}"):
        assert on_pg.get(path).json() == client.get(path).json(), path
    export = f"/api/v1/export?{MARCH}&format=csv"
    assert on_pg.get(export).text == client.get(export).text


def test_one_port_routes_provider_paths_to_the_proxy(tmp_path: Path) -> None:
    """With --proxy, whatever is neither the dashboard's nor the intake's goes to the proxy."""
    from fastapi.responses import PlainTextResponse

    seen: list[str] = []

    class FakeProxy:
        async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
            seen.append(str(scope["path"]))
            await PlainTextResponse("proxied")(scope, receive, send)  # type: ignore[arg-type]

        async def startup(self) -> None:
            seen.append("startup")

        async def shutdown(self) -> None:
            seen.append("shutdown")

    db = tmp_path / "one.db"
    combined = Combined(create_app(str(db), settings.load({"db": str(db)})), create_intake(str(db)), FakeProxy())
    with TestClient(combined) as c:
        assert c.post("/openai/v1/chat/completions", json={}).text == "proxied"
        assert c.get("/anthropic/v1/models").text == "proxied"
        assert c.get("/metrics").text == "proxied"
        assert c.get("/api/v1/me").json()["role"] == "admin"
        assert c.get("/healthz").json()["status"] == "ok"               # the intake's
        assert c.get("/events").status_code == 200                      # the dashboard's page
    assert seen == ["startup", "/openai/v1/chat/completions", "/anthropic/v1/models", "/metrics", "shutdown"]
