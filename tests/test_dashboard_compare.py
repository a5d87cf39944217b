"""The overview's reading views, in process: like-for-like comparisons at a fixed clock, the tiny-base
rule, empty periods shown as zero, the per-client table (billable as ``run_all`` bills, invoiced
status), forecasts over budget, and every link leading to exactly the calls it counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import make_event
from dashboard_seed import seeded
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from spendtag import settings
from spendtag.bill.build import Request, run_all
from spendtag.bill.config import BillingConfig
from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.money import parse_usd
from spendtag.periods import parse_period, zone
from spendtag.server.dashboard.app import create_app
from spendtag.server.dashboard.views import change, previous_range
from spendtag.tags import Selector

MARCH = "period=2026-03"
UTC_ZONE = zone("UTC")


def usd(text: str) -> int:
    return parse_usd(text)


def app_at(db: Path, now: datetime | None = None) -> TestClient:
    """The dashboard over ``db`` with the config.toml beside it, its clock at ``now`` (default: the real one)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(db.parent / "config.toml"))
        config = settings.load({"db": str(db)})
        return TestClient(create_app(str(db), config, clock=(lambda: now) if now else None))


def get(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text[:300]
    return response.json()


# -- like for like -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """acme: $1 a day at 10:00 through February, $2 a day from 1 to 14 March; globex $0.10 on 2 March."""
    root = tmp_path_factory.mktemp("daily")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(root / "config.toml"))
        db = root / "ledger.db"
        store = open_store(f"sqlite:///{db}")
        events = [make_event(f"f{d}", datetime(2026, 2, d, 10, tzinfo=UTC), cost=usd("1"), tags={"client": "acme"})
                  for d in range(1, 29)]
        events += [make_event(f"m{d}", datetime(2026, 3, d, 10, tzinfo=UTC), cost=usd("2"), tags={"client": "acme"})
                   for d in range(1, 15)]
        events.append(make_event("g1", datetime(2026, 3, 2, 9, tzinfo=UTC), cost=usd("0.10"),
                                 tags={"client": "globex"}))
        store.record(events)
        store.save_budget("acme", Budget("acme", usd("40"), scope=(Selector.parse("client=acme"),)).to_dict())
        store.close()
        yield db


def test_month_to_date_is_compared_with_the_same_days_of_last_month(daily: Path) -> None:
    client = app_at(daily, datetime(2026, 3, 14, 12, tzinfo=UTC))
    doc = get(client, "/api/v1/overview?range=this-month")
    # 1 to 14 March ($2 x 14 + $0.10) against 1 February to 14 February 12:00 ($1 x 14), not all February ($28).
    assert doc["total"]["cost_usd"] == "28.10"
    assert (doc["previous"]["since"], doc["previous"]["until"]) == ("2026-02-01T00:00:00Z", "2026-02-14T12:00:00Z")
    assert doc["previous"]["cost_usd"] == "14.00" and doc["previous"]["like_for_like"] is True
    assert doc["change"] == {"kind": "percent", "percent": "100.7", "delta_usd": "14.10"}
    assert doc["change_percent"] == "100.7"
    acme = next(r for r in doc["clients"]["rows"] if r["value"] == "acme")
    assert acme["previous"]["cost_usd"] == "14.00" and acme["change"]["percent"] == "100.0"
    page = client.get("/?range=this-month").text
    assert "Same days before" in page and "+100.7%" in page


def test_a_closed_month_is_compared_with_the_whole_month_before(daily: Path) -> None:
    doc = get(app_at(daily, datetime(2026, 4, 20, 12, tzinfo=UTC)), "/api/v1/overview?period=2026-03")
    assert doc["previous"]["until"] == "2026-03-01T00:00:00Z" and doc["previous"]["like_for_like"] is False
    assert doc["previous"]["cost_usd"] == "28.00"


@pytest.mark.parametrize(("now", "rng", "since", "until"), [
    # The 31st: February has no such day, so the whole of it.
    (datetime(2026, 3, 31, 8, tzinfo=UTC), "2026-03", datetime(2026, 2, 1, tzinfo=UTC),
     datetime(2026, 3, 1, tzinfo=UTC)),
    # A week: the same hours of the week before.
    (datetime(2026, 3, 11, 15, 30, tzinfo=UTC), "2026-W11", datetime(2026, 3, 2, tzinfo=UTC),
     datetime(2026, 3, 4, 15, 30, tzinfo=UTC)),
    # A day: yesterday up to the same time.
    (datetime(2026, 3, 11, 15, 30, tzinfo=UTC), "2026-03-11", datetime(2026, 3, 10, tzinfo=UTC),
     datetime(2026, 3, 10, 15, 30, tzinfo=UTC)),
    # A year: last year to the same day.
    (datetime(2026, 5, 20, 6, tzinfo=UTC), "2026", datetime(2025, 1, 1, tzinfo=UTC),
     datetime(2025, 5, 20, 6, tzinfo=UTC)),
])
def test_every_kind_of_running_period_is_like_for_like(now: datetime, rng: str, since: datetime,
                                                       until: datetime) -> None:
    before = previous_range(parse_period(rng, UTC_ZONE), UTC_ZONE, now)
    assert before is not None and (before.since, before.until) == (since, until)


def test_like_for_like_follows_the_time_zone() -> None:
    tz = zone("America/New_York")
    now = datetime(2026, 3, 14, 16, tzinfo=UTC)            # 12:00 in New York (EDT)
    before = previous_range(parse_period("2026-03", tz), tz, now)
    assert before is not None
    assert before.since == datetime(2026, 2, 1, 5, tzinfo=UTC)     # midnight EST
    assert before.until == datetime(2026, 2, 14, 17, tzinfo=UTC)   # 12:00 EST on 14 February


# -- tiny bases ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("now", "before", "whole", "kind", "percent"), [
    ("805.00", "0.18", "805.00", "amount", None),        # the "44735.8% change on a $0.18 base"
    ("3.00", "0", "3.00", "new", None),
    ("0", "0", "0", "none", None),
    ("6.00", "5.00", "1000.00", "amount", None),          # under 1% of the total shown
    ("6.00", "5.00", "100.00", "percent", "20.0"),
    ("1.00", "2.00", "2.00", "percent", "-50.0"),
])
def test_changes_on_tiny_bases_are_not_percentages(now: str, before: str, whole: str, kind: str,
                                                    percent: str | None) -> None:
    got = change(usd(now), usd(before), usd(whole))
    assert (got["kind"], got["percent"]) == (kind, percent)
    assert Decimal(got["delta_usd"]) == Decimal(now) - Decimal(before)


@given(st.integers(0, 10 ** 16), st.integers(0, 10 ** 16), st.integers(0, 10 ** 17))
def test_a_percentage_only_ever_has_a_base_of_a_dollar_and_a_hundredth_of_the_total(now: int, before: int,
                                                                                   whole: int) -> None:
    got = change(now, before, whole)
    assert (got["kind"] == "percent") == (before >= 10 ** 12 and before * 100 >= whole)
    assert Decimal(got["delta_usd"]) * 10 ** 12 == now - before


def test_a_tiny_base_is_shown_as_an_amount_on_the_page(daily: Path) -> None:
    client = app_at(daily, datetime(2026, 4, 20, tzinfo=UTC))
    page = client.get("/?period=2026-03").text
    globex = re.search(r'<tr data-client="globex">.*?</tr>', page, re.S)
    assert globex is not None and '<span class="change up">new</span>' in globex.group(0)
    assert not re.search(r"\d%</span>", globex.group(0))


# -- empty periods -------------------------------------------------------------------------------

def test_the_year_chart_has_every_month_empty_ones_as_zero(daily: Path) -> None:
    doc = get(app_at(daily, datetime(2026, 4, 20, tzinfo=UTC)), "/api/v1/overview?period=2026")
    chart = doc["chart"]
    assert chart["group"] == "month" and chart["buckets"] == [f"2026-{m:02d}" for m in range(1, 13)]
    acme = next(s for s in chart["series"] if s["name"] == "acme")
    assert acme["cost_usd"] == ["0.00", "28.00", "28.00", *["0.00"] * 9]


# -- forecasts over budget -----------------------------------------------------------------------

def test_a_forecast_over_budget_is_said_on_the_client_page_and_budgets(daily: Path) -> None:
    client = app_at(daily, datetime(2026, 3, 14, 12, tzinfo=UTC))
    doc = get(client, "/api/v1/summary?value=acme&range=this-month")
    (budget,) = doc["budgets"]
    assert budget["forecast_over"] is True
    assert Decimal(budget["forecast_over_by_usd"]) == Decimal(budget["projected_usd"]) - 40
    page = client.get("/tags/client/acme?range=this-month").text
    card = re.search(r'<div class="card over" id="forecast-card">.*?</div>', page, re.S)
    assert card is not None and "over the acme budget ($40.00) by" in card.group(0)
    assert "forecast over" in client.get("/?range=this-month").text
    row = re.search(r'<tr data-budget="acme">.*?</tr>', client.get("/budgets").text, re.S)
    assert row is not None and 'data-forecast-over="yes"' in row.group(0) and "⚠ over by $" in row.group(0)
    quiet = get(app_at(daily, datetime(2026, 3, 2, 12, tzinfo=UTC)), "/api/v1/summary?value=acme&range=this-month")
    assert quiet["budgets"][0]["forecast_over"] is False and quiet["budgets"][0]["forecast_over_by_usd"] is None


# -- the client table: billable as run_all bills, invoiced status ----------------------------------

BILLING = """tz = "UTC"
[billing]
allocate = "proportional"
[billing.default]
model = "cost-plus"
markup = "30%"
[billing.clients.globex]
model = "fixed-fee"
fee = "100"
usage_cap = "1"
"""


@pytest.fixture(scope="module")
def seeded_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("seeded")
    with seeded(root) as db:
        (root / "config.toml").write_text(BILLING, encoding="utf-8")
        yield db


def test_billable_is_what_run_all_invoices_and_invoiced_is_the_issued_numbers(seeded_ledger: Path) -> None:
    client = app_at(seeded_ledger)
    doc = get(client, f"/api/v1/overview?{MARCH}")
    table = doc["clients"]
    assert table["period"] == "2026-03" and table["billing"] is True
    store = open_store(str(seeded_ledger))
    try:
        config = BillingConfig.from_sections(client.app.state.context.settings.sections, client_key="client")
        req = Request("2026-03", parse_period("2026-03", UTC_ZONE), UTC_ZONE, config, allocation=config.allocation)
        due = {inv.client: f"{inv.total_due:.2f}" for inv in run_all(store, req).invoices}
    finally:
        store.close()
    rows = {r["label"]: r for r in table["rows"]}
    assert {k: r["billable_usd"] for k, r in rows.items()} == {**due, "(untagged)": None}
    # acme: (3.50 + 3.50/4.75 of the $0.40 untagged) x 1.3 = 4.933...;
    # globex: its $100 fee and the $0.36 over its $1 cap.
    assert rows["acme"]["billable_usd"] == "4.93" and rows["globex"]["billable_usd"] == "100.36"
    assert rows["acme"]["invoices"] == ["INV-2026-0001"] and rows["globex"]["invoices"] == ["INV-2026-0002"]
    assert [r["label"] for r in table["rows"]] == ["acme", "globex", "(untagged)"]
    assert rows["acme"]["budget"]["name"] == "acme-monthly"
    page = client.get(f"/?{MARCH}").text
    assert 'data-billable="4.93"' in page and "/invoices/INV-2026-0001" in page


def test_no_invoice_column_figures_for_a_range_that_is_not_a_period(seeded_ledger: Path) -> None:
    doc = get(app_at(seeded_ledger), "/api/v1/overview?since=2026-03-02&until=2026-03-10")
    assert doc["clients"]["period"] is None
    assert all(r["invoices"] == [] for r in doc["clients"]["rows"])


# -- links lead to exactly the calls they count ----------------------------------------------------

def _links(page: str, pattern: str) -> list[str]:
    return [unescape(h) for h in re.findall(pattern, page, re.S)]


def _calls(client: TestClient, href: str) -> tuple[Decimal, int, int]:
    """What the calls page at ``href`` lists: the priced total, the calls, the unpriced calls."""
    parts = urlsplit(href)
    assert parts.path == "/events"
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("per_page", "500")]
    assert client.get(href).status_code == 200
    doc = client.get("/api/v1/events", params=query).json()
    assert doc["total"] == len(doc["events"])
    priced = [Decimal(e["cost_usd"]) for e in doc["events"] if e["priced"]]
    return sum(priced, Decimal(0)), doc["total"], doc["total"] - len(priced)


def test_every_overview_link_leads_to_the_calls_it_counts(seeded_ledger: Path) -> None:
    client = app_at(seeded_ledger)
    doc = get(client, f"/api/v1/overview?{MARCH}")
    page = client.get(f"/?{MARCH}").text
    total = re.search(r'id="card-total" href="([^"]+)"', page)
    assert total and _calls(client, unescape(total.group(1))) == (Decimal("5.15"), 8, 1)
    previous = re.search(r'id="card-previous" href="([^"]+)"', page)
    assert previous and _calls(client, unescape(previous.group(1))) == (Decimal("2.00"), 1, 0)
    untagged = re.search(r'id="card-untagged" href="([^"]+)"', page)
    assert untagged and _calls(client, unescape(untagged.group(1))) == (Decimal("0.40"), 2, 1)
    unpriced = re.search(r'id="card-unpriced" href="([^"]+)"', page)
    assert unpriced and _calls(client, unescape(unpriced.group(1))) == (Decimal(0), 1, 1)
    # The client table: this period and the one before, per row.
    for row in doc["clients"]["rows"]:
        html = re.search(rf'<tr data-client="{re.escape(row["label"])}">(.*?)</tr>', page, re.S)
        assert html is not None
        (now_href,) = _links(html.group(1), r'class="calls" href="([^"]+)"')
        got = _calls(client, now_href)
        assert (got[1], got[2]) == (row["requests"], row["unpriced_requests"])
        assert got[0] == Decimal(row["cost_usd"] or 0)
        (before_href,) = _links(html.group(1), r'class="calls-before" href="([^"]+)"')
        assert _calls(client, before_href)[0] == Decimal(row["previous"]["cost_usd"] or 0)
    # Legend entries and bars: each series, and each day of it.
    legend = dict(re.findall(r'<li data-series="([^"]+)"><a href="([^"]+)"', page))
    for s in doc["chart"]["series"]:
        got = _calls(client, unescape(legend[s["name"]]))
        assert (got[0], got[1]) == (Decimal(s["total_usd"] or 0), sum(s["requests"]))
    bars = re.findall(r'<a href="([^"]+)"><rect[^>]*data-series="([^"]+)" data-bucket="([^"]+)"', page)
    assert len(bars) == sum(1 for s in doc["chart"]["series"] for r in s["requests"] if r)
    for href, name, day in bars:
        s = next(s for s in doc["chart"]["series"] if s["name"] == name)
        i = doc["chart"]["buckets"].index(day)
        got = _calls(client, unescape(href))
        assert (got[0], got[1]) == (Decimal(s["cost_usd"][i] or 0), s["requests"][i]), (name, day)
    # Breakdown rows.
    for key in ("model", "agent", "provider"):
        table = re.search(rf'id="by-{key}">(.*?)</table>', page, re.S)
        assert table is not None
        hrefs = dict((unescape(label), unescape(h)) for h, label in
                     re.findall(r'<tr><td><a href="([^"]+)">([^<]+)</a>', table.group(1)))
        for r in doc[f"by_{key}"]:
            if r["value"] == "(none)":
                continue
            got = _calls(client, hrefs[r["label"]])
            assert (got[0], got[1]) == (Decimal(r["cost_usd"] or 0), r["requests"]), (key, r["label"])


def test_a_chart_folded_into_other_links_to_the_values_it_folded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("SPENDTAG_CONFIG", str(tmp_path / "config.toml"))
    db = tmp_path / "many.db"
    store = open_store(f"sqlite:///{db}")
    start = datetime(2026, 3, 3, 10, tzinfo=UTC)
    store.record([make_event(f"c{i}", start + timedelta(hours=i), cost=usd("1") * (i + 1), tags={"client": f"c{i:02d}"},
                             model=f"model-{i % 10}") for i in range(11)])
    store.close()
    client = app_at(db)
    for stack in ("client", "model"):
        doc = get(client, f"/api/v1/overview?{MARCH}&stack={stack}")
        other = next(s for s in doc["chart"]["series"] if s["name"] == "(other)")
        page = client.get(f"/?{MARCH}&stack={stack}").text
        href = dict(re.findall(r'<li data-series="([^"]+)"><a href="([^"]+)"', page))["(other)"]
        got = _calls(client, unescape(href))
        assert (got[0], got[1]) == (Decimal(other["total_usd"]), sum(other["requests"]))


def test_client_page_links_keep_the_client(seeded_ledger: Path) -> None:
    client = app_at(seeded_ledger)
    page = client.get(f"/tags/client/acme?{MARCH}").text
    total = re.search(r'id="card-total" href="([^"]+)"', page)
    assert total and _calls(client, unescape(total.group(1))) == (Decimal("3.50"), 4, 0)
    legend = dict(re.findall(r'<li data-series="([^"]+)"><a href="([^"]+)"', page))
    assert _calls(client, unescape(legend["claude-haiku-4-5"])) == (Decimal("0.50"), 1, 0)


def test_filters_narrow_the_client_table_but_not_what_an_invoice_bills(seeded_ledger: Path) -> None:
    client = app_at(seeded_ledger)
    whole = {r["label"]: r for r in get(client, f"/api/v1/overview?{MARCH}")["clients"]["rows"]}
    coder = {r["label"]: r for r in get(client, f"/api/v1/overview?{MARCH}&agent=coder")["clients"]["rows"]}
    # acme's coder calls: a1 $1.00 and a2 $0.50; globex's are all coder's; the untagged coder call n1 $0.40.
    assert {k: r["cost_usd"] for k, r in coder.items()} == {"acme": "1.50", "globex": "1.25", "(untagged)": "0.40"}
    assert {k: r["billable_usd"] for k, r in coder.items()} == {k: r["billable_usd"] for k, r in whole.items()}


def test_the_clients_list_links_each_row_to_its_calls(seeded_ledger: Path) -> None:
    client = app_at(seeded_ledger)
    rows = get(client, f"/api/v1/tags/client?{MARCH}")
    page = client.get(f"/tags/client?{MARCH}").text
    hrefs = [unescape(h) for h in re.findall(r'<a class="calls" title="these calls" href="([^"]+)"', page)]
    assert len(hrefs) == len(rows) == 3
    for row, href in zip(rows, hrefs, strict=True):
        assert _calls(client, href) == (Decimal(row["cost_usd"] or 0), row["requests"], row["unpriced_requests"])
