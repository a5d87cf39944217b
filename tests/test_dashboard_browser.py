"""The dashboard in a real browser: Debian's chromium driven by Playwright against `spendtag serve`.

Every page loads without console errors and shows the numbers its ``/api/v1`` twin returns (the
seeded ledger of tests/dashboard_seed.py, March 2026); filters, sorting, paging, export, sign-in
and a client's shared link are used by clicking. A full-page screenshot of every page goes to
``$SPENDTAG_ARTIFACTS`` (else a temporary directory, printed). Without chromium the module
skips, unless ``SPENDTAG_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dashboard_seed import seed
from test_proxy_helpers import free_port

from spendtag.ledger import open_store
from spendtag.server.dashboard.access import create_token

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402

MARCH = "period=2026-03"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# The dashboard serves no favicon, so chromium's automatic /favicon.ico request logs a 404 console error on
# its first page. Ignored here only; test_pages_name_an_icon_or_serve_one keeps the bug visible until fixed.
FAVICON = "/favicon.ico"


def _chromium() -> str:
    found = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and os.path.exists(p)), None)
    if found is None:
        if os.environ.get("SPENDTAG_REQUIRE_BROWSER") == "1":
            pytest.fail("SPENDTAG_REQUIRE_BROWSER=1 but there is no chromium (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium); set SPENDTAG_REQUIRE_BROWSER=1 to fail")
    return found


# -- the ledger, the servers, the browser -------------------------------------------------------------

@dataclass
class Ledger:
    db: Path
    config: Path
    share_token: str


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    root = tmp_path_factory.mktemp("dashboard-browser")
    db, config = root / "ledger.db", root / "config.toml"
    config.write_text('tz = "UTC"\n', encoding="utf-8")
    seed(db)
    store = open_store(f"sqlite:///{db}")
    try:
        token, _ = create_token(store, "acme-link", "client", ("client", "acme"))
    finally:
        store.close()
    return Ledger(db, config, token)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return self.base + path

    def api(self, path: str, token: str | None = None) -> Any:
        """The JSON the API answers for ``path`` (which starts with /api/v1)."""
        request = urllib.request.Request(self.url(path))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _serve(ledger: Ledger, *extra: str) -> Iterator[Server]:
    port = free_port()
    log = ledger.db.parent / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDTAG_")}
    env["SPENDTAG_CONFIG"] = str(ledger.config)
    # spendtag.cli.entry has no `if __name__ == "__main__"`: call its main() as the console script does.
    code = "import sys; sys.argv[0] = 'spendtag'; from spendtag.cli.entry import main; main()"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-c", code, "--db", str(ledger.db), "serve", "--port", str(port),
                                  *extra], env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", child, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(server.url("/static/style.css"), timeout=2).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"spendtag serve did not come up:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield server
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture(scope="module")
def server(ledger: Ledger) -> Iterator[Server]:
    yield from _serve(ledger)


@pytest.fixture(scope="module")
def guarded(ledger: Ledger) -> Iterator[Server]:
    """The same ledger served with an admin token: nothing without signing in."""
    yield from _serve(ledger, "--token", "secret")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = _chromium()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = Path(os.environ["SPENDTAG_ARTIFACTS"]) if os.environ.get("SPENDTAG_ARTIFACTS") else \
        tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {where}")
    return where


@dataclass
class Tab:
    """A page that remembers every console error, uncaught exception and CSP violation it saw."""

    page: Page
    shots: Path
    errors: list[str] = field(default_factory=list)
    favicon_errors: list[str] = field(default_factory=list)

    def visit(self, base: str, path: str, *, status: int = 200) -> Page:
        response = self.page.goto(base + path)
        assert response is not None and response.status == status, (path, response and response.status)
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture
def tab(browser: Browser, shots: Path) -> Iterator[Tab]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    tab = Tab(context.new_page(), shots)
    tab.page.set_default_timeout(10_000)      # a missing element fails soon instead of after 30 s

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            url = message.location.get("url", "")
            (tab.favicon_errors if urlsplit(url).path == FAVICON else tab.errors).append(f"{message.text} ({url})")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
    yield tab
    context.close()


# -- reading numbers off a page ------------------------------------------------------------------------

def usd_attr(page: Page, selector: str) -> str | None:
    return page.locator(selector).get_attribute("data-usd")


def column(page: Page, table: str, attr: str = "data-usd") -> list[str | None]:
    """Each body row's first cell carrying ``attr``: the exact amount the row shows (None: no amount, unpriced)."""
    cells = page.locator(f"#{table} tbody tr td[{attr}]")
    return [cells.nth(i).get_attribute(attr) or None for i in range(cells.count())]


def first_cells(page: Page, table: str) -> list[str]:
    cells = page.locator(f"#{table} tbody tr td:first-child")
    return [cells.nth(i).inner_text().strip() for i in range(cells.count())]


def shown(amount: str) -> str:
    """How the pages print an exact amount: dollars and cents, thousands grouped."""
    return f"${Decimal(amount):,.2f}"


def shown_cost(totals: dict[str, Any]) -> str:
    """How the pages print a total: its unpriced calls counted beside the amount, never as $0."""
    unpriced = totals.get("unpriced_requests", 0)
    if totals["cost_usd"] is None:
        return f"— ({unpriced:,} unpriced)"
    return shown(totals["cost_usd"]) + (f" + {unpriced:,} unpriced" if unpriced else "")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def priced_total(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r["cost_usd"]) for r in rows if r["priced"] == "true"), Decimal(0))


# -- every page: 200, no console errors, the API's numbers ---------------------------------------------

def check_overview(page: Page, fetch: Callable[[str], Any], query: str) -> None:
    api = fetch(f"/api/v1/overview?{query}")
    assert usd_attr(page, "#total-cost") == api["total"]["cost_usd"]
    assert page.locator("#total-cost").inner_text() == shown_cost(api["total"])
    assert usd_attr(page, "#previous-cost") == api["previous"]["cost_usd"]
    assert usd_attr(page, "#untagged-cost") == api["untagged"]["cost_usd"]
    assert page.locator("#unpriced-count").inner_text() == str(api["unpriced"]["requests"])
    for key in ("model", "agent", "provider"):
        assert column(page, f"by-{key}") == [r["cost_usd"] for r in api[f"by_{key}"]], key
        assert first_cells(page, f"by-{key}") == [r["label"] for r in api[f"by_{key}"]], key


def test_overview_for_march(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/?{MARCH}")
    check_overview(page, server.api, MARCH)
    # The seeded ledger's own figures: acme 3.50 + globex 1.25 + untagged 0.40; February 2.00.
    assert usd_attr(page, "#total-cost") == "5.15"
    assert page.locator("#total-cost").inner_text() == "$5.15 + 1 unpriced"    # the unknown model's call
    assert usd_attr(page, "#previous-cost") == "2.00"
    assert usd_attr(page, "#untagged-cost") == "0.40"
    assert page.locator("#unpriced-count").inner_text() == "1"
    assert "ft:custom-model" in page.locator("#by-model").inner_text()
    assert page.locator("svg").count() >= 1        # the stacked chart is inline SVG, no script
    tab.shot("overview-2026-03")
    tab.assert_clean()


def test_overview_default_period(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/")
    check_overview(page, server.api, "range=this-month")
    tab.shot("overview-this-month")
    tab.assert_clean()


def test_client_list(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/tags/client?{MARCH}")
    api = server.api(f"/api/v1/tags/client?{MARCH}")
    assert first_cells(page, "tag-values") == [r["label"] for r in api] == ["acme", "globex", "(untagged)"]
    assert column(page, "tag-values") == [r["cost_usd"] for r in api] == ["3.50", "1.25", "0.40"]
    page.get_by_role("link", name="acme", exact=True).click()
    assert urlsplit(page.url).path == "/tags/client/acme" and query_of(page.url)["period"] == ["2026-03"]
    assert usd_attr(page, "#total-cost") == "3.50"
    tab.shot("clients-2026-03")
    tab.assert_clean()


def test_client_page(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/tags/client/acme?{MARCH}")
    api = server.api(f"/api/v1/summary?key=client&value=acme&{MARCH}")
    assert usd_attr(page, "#total-cost") == api["total"]["cost_usd"] == "3.50"
    assert page.locator("#total-cost").inner_text() == "$3.50"
    assert usd_attr(page, "#previous-cost") == api["previous"]["cost_usd"] == "2.00"
    assert column(page, "by-model") == [r["cost_usd"] for r in api["by_model"]]
    assert first_cells(page, "sessions") == [s["session"] for s in api["sessions"]]
    assert first_cells(page, "invoices") == [i["number"] for i in api["invoices"]] == ["INV-2026-0001"]
    assert "globex" not in page.content()
    tab.shot("client-acme-2026-03")
    tab.assert_clean()


def test_sessions(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/sessions?{MARCH}")
    api = server.api(f"/api/v1/sessions?{MARCH}")
    assert first_cells(page, "sessions") == [s["session"] for s in api["sessions"]]
    assert column(page, "sessions") == [s["cost_usd"] for s in api["sessions"]]
    assert sorted(zip(first_cells(page, "sessions"), column(page, "sessions"), strict=True)) == [
        ("s-acme-1", "1.50"), ("s-acme-2", "2.00"), ("s-globex", "1.25")]
    page.get_by_role("link", name="s-acme-1").click()
    assert urlsplit(page.url).path == "/sessions/s-acme-1"
    tab.shot("sessions-2026-03")
    tab.assert_clean()


def test_session_detail(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/sessions/s-acme-2")
    api = server.api("/api/v1/sessions/s-acme-2")
    assert usd_attr(page, "#session-cost") == api["cost_usd"] == "2.00"
    assert page.locator("#session-cost").inner_text() == "$2.00"
    assert page.locator("#calls tbody tr").count() == len(api["calls"]) == 2
    tab.shot("session-s-acme-2")
    tab.assert_clean()


def test_events(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/events?{MARCH}")
    api = server.api(f"/api/v1/events?{MARCH}")
    assert column(page, "events") == [e["cost_usd"] for e in api["events"]]
    assert page.locator("#page-info").inner_text() == f"page 1 of 1 · {api['total']} in all" == "page 1 of 1 · 8 in all"
    assert "unpriced" in page.locator("#events").inner_text()     # the unpriced call says so, never $0
    tab.shot("events-2026-03")
    tab.assert_clean()


@pytest.mark.parametrize("event_id", ["a3", "u1"])
def test_event_detail(tab: Tab, server: Server, event_id: str) -> None:
    page = tab.visit(server.base, f"/events/{event_id}")
    api = server.api(f"/api/v1/events/{event_id}")
    cost = page.locator("#event-cost").inner_text()
    assert cost == ("unpriced" if not api["priced"] else f"${api['cost_usd']}")
    assert cost == {"a3": "$1.75", "u1": "unpriced"}[event_id]
    tab.shot(f"event-{event_id}")
    tab.assert_clean()


def test_budgets(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/budgets")
    api = server.api("/api/v1/budgets")
    rows = page.locator("#budgets tbody tr[data-budget]")
    assert [rows.nth(i).get_attribute("data-budget") for i in range(rows.count())] == [b["name"] for b in api]
    assert column(page, "budgets") == [b["spent_usd"] for b in api]
    assert page.locator("#alerts tbody tr").count() == 1
    tab.shot("budgets")
    tab.assert_clean()


def test_alerts(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/alerts")
    api = server.api("/api/v1/alerts")
    assert page.locator("#alerts tbody tr").count() == len(api) == 1
    assert "acme-monthly passed 50%" in page.locator("#alerts").inner_text()
    assert shown(api[0]["spent_usd"]) == "$3.50" and "$3.50" in page.locator("#alerts").inner_text()
    tab.shot("alerts")
    tab.assert_clean()


def test_invoices(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/invoices")
    api = server.api("/api/v1/invoices")
    assert first_cells(page, "invoices") == [i["number"] for i in api] == ["INV-2026-0001", "INV-2026-0002"]
    dues = page.locator("#invoices tbody td.num")
    assert [dues.nth(i).inner_text() for i in range(dues.count())] == [f"{i['currency']} {i['total_due']}"
                                                                       for i in api]
    states = page.locator("#invoices tbody td.status")
    assert [states.nth(i).inner_text() for i in range(states.count())] == [i["status"] for i in api]
    assert {i["status"] for i in api} <= {"issued", "sent", "paid", "void", "overdue"}
    page.get_by_role("link", name="INV-2026-0001").click()
    assert urlsplit(page.url).path == "/invoices/INV-2026-0001"
    tab.shot("invoices")
    tab.assert_clean()


def test_invoice(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/invoices/INV-2026-0001")
    api = server.api("/api/v1/invoices/INV-2026-0001")
    text = page.locator("body").inner_text()
    assert api["number"] in text and api["client"] in text and api["total_due"] in text
    assert "globex" not in page.content()
    tab.shot("invoice-INV-2026-0001")
    tab.assert_clean()


def test_keys(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/keys")
    api = server.api("/api/v1/keys")
    assert first_cells(page, "keys") == [k["name"] for k in api] == ["acme-key"]
    assert "sk-st-abc…" in page.locator("#keys").inner_text()
    tab.shot("keys")
    tab.assert_clean()


# -- using the pages: filter, sort, page, export ----------------------------------------------------------

def test_filter_form_narrows_the_overview_to_one_client(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/")
    form = page.locator("form.filters")
    form.locator("select[name=range]").select_option("")          # "custom…": a month of one's own
    form.locator("input[name=period]").fill("2026-03")
    form.locator("input[name=tag]").fill("client=acme")
    with page.expect_navigation() as sent:
        form.get_by_role("button", name="Apply").click()
    assert sent.value is not None and sent.value.status == 200, (page.url, sent.value and sent.value.status)
    query = query_of(page.url)
    assert query["period"] == ["2026-03"] and query["tag"] == ["client=acme"]
    check_overview(page, server.api, "period=2026-03&tag=client%3Dacme")
    assert usd_attr(page, "#total-cost") == "3.50"
    tab.assert_clean()


def test_typing_a_month_is_enough(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, "/events")
    form = page.locator("form.filters")
    form.locator("input[name=period]").fill("2026-03")
    with page.expect_navigation() as sent:
        form.get_by_role("button", name="Apply").click()
    assert sent.value is not None and sent.value.status == 200, (page.url, sent.value and sent.value.status)
    assert page.locator("#page-info").inner_text() == "page 1 of 1 · 8 in all"


def test_filters_in_the_url_sort_page_and_export(tab: Tab, server: Server, tmp_path: Path) -> None:
    query = f"{MARCH}&tag=client%3Dacme"
    page = tab.visit(server.base, f"/events?{query}&per_page=2")
    assert page.locator("input[name=period]").input_value() == "2026-03"      # the form shows the URL's filters
    assert page.locator("input[name=tag]").input_value() == "client=acme"
    assert page.locator("#page-info").inner_text() == "page 1 of 2 · 4 in all"
    first = column(page, "events")

    page.get_by_role("link", name="next ›").click()
    assert query_of(page.url)["page"] == ["2"] and query_of(page.url)["tag"] == ["client=acme"]
    assert page.locator("#page-info").inner_text() == "page 2 of 2 · 4 in all"
    second = column(page, "events")
    api = server.api(f"/api/v1/events?{query}&per_page=500")
    assert first + second == [e["cost_usd"] for e in api["events"]]      # newest first, nothing lost or repeated
    tab.shot("events-acme-page-2")

    page.locator("#events thead").get_by_role("link", name="cost").click()     # costliest first, back to page 1
    assert query_of(page.url)["order"] == ["-cost"] and "page" not in query_of(page.url)
    assert column(page, "events") == ["1.75", "1.00"]

    with page.expect_download() as info:
        page.locator("#export-csv").click()
    download = info.value
    assert download.suggested_filename == "spendtag-events-20260301-20260401.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = csv_rows(saved)
    # Exactly what the filters show, every page of it: acme's four March calls, $3.50.
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in api["events"]) == \
        ["a1", "a2", "a3", "a4"]
    assert {r["tag:client"] for r in rows} == {"acme"}
    assert priced_total(rows) == Decimal(server.api(f"/api/v1/summary?value=acme&{MARCH}")["total"]["cost_usd"])
    assert priced_total(rows) == Decimal("3.50")
    tab.assert_clean()


def test_export_of_everything_keeps_the_unpriced_call_out_of_the_total(tab: Tab, server: Server,
                                                                       tmp_path: Path) -> None:
    page = tab.visit(server.base, f"/events?{MARCH}")
    with page.expect_download() as info:
        page.locator("#export-csv").click()
    info.value.save_as(tmp_path / "events.csv")
    rows = csv_rows(tmp_path / "events.csv")
    assert len(rows) == 8 and [r["event_id"] for r in rows if r["priced"] != "true"] == ["u1"]
    assert priced_total(rows) == Decimal(server.api(f"/api/v1/overview?{MARCH}")["total"]["cost_usd"]) == \
        Decimal("5.15")
    tab.assert_clean()


def test_events_json_export(tab: Tab, server: Server, tmp_path: Path) -> None:
    page = tab.visit(server.base, f"/events?{MARCH}")
    with page.expect_download() as info:
        page.locator("#export-json").click()
    info.value.save_as(tmp_path / "events.json")
    events = json.loads((tmp_path / "events.json").read_text(encoding="utf-8"))
    assert sorted(e["event_id"] for e in events) == sorted(e["event_id"] for e in
                                                           server.api(f"/api/v1/events?{MARCH}")["events"])


def test_client_page_json_export(tab: Tab, server: Server, tmp_path: Path) -> None:
    page = tab.visit(server.base, f"/tags/client/acme?{MARCH}")
    with page.expect_download() as info:
        page.locator("#export-json").click()
    assert info.value.suggested_filename.endswith(".json")
    info.value.save_as(tmp_path / "acme.json")
    events = json.loads((tmp_path / "acme.json").read_text(encoding="utf-8"))
    assert sorted(e["event_id"] for e in events) == ["a1", "a2", "a3", "a4"]
    assert sum((Decimal(e["cost_usd"]) for e in events), Decimal(0)) == Decimal(usd_attr(page, "#total-cost") or "nan")
    tab.assert_clean()


def test_client_page_export(tab: Tab, server: Server, tmp_path: Path) -> None:
    page = tab.visit(server.base, f"/tags/client/acme?{MARCH}")
    with page.expect_download() as info:
        page.locator("#export-csv").click()
    saved = tmp_path / "acme.csv"
    info.value.save_as(saved)
    rows = csv_rows(saved)
    assert {r["tag:client"] for r in rows} == {"acme"} and len(rows) == 4
    assert priced_total(rows) == Decimal(usd_attr(page, "#total-cost") or "nan") == Decimal("3.50")
    tab.assert_clean()


def test_pages_name_an_icon_or_serve_one(tab: Tab, server: Server) -> None:
    # Chromium asks once per profile, so only the first test's page sees the 404: ask directly.
    page = tab.visit(server.base, f"/?{MARCH}")
    assert page.locator("link[rel~=icon]").count() > 0 or page.request.get(server.url(FAVICON)).status == 200


# -- a client's shared link -----------------------------------------------------------------------------

def test_share_link_shows_one_client_only(tab: Tab, server: Server, ledger: Ledger) -> None:
    # The config has no terms: acme is billed pass-through in USD, so the billed amount is the cost (as
    # `spendtag invoice` drafts it); no raw cost is marked on the page (tests/test_share_client_prices.py).
    page = tab.visit(server.base, f"/share/{ledger.share_token}?{MARCH}")
    api = server.api(f"/api/v1/client?{MARCH}", token=ledger.share_token)
    assert api["value"] == "acme" and api["cost"] is None
    assert page.locator("#billed-total").get_attribute("data-amount") == api["billed"]["total"] == "3.50"
    assert page.locator("#billed-total").inner_text() == "USD 3.50"
    assert page.locator("#previous-billed").get_attribute("data-amount") == api["previous"]["billed"]["total"]
    assert api["previous"]["billed"]["total"] == "2.00"
    assert column(page, "billed-items", "data-amount") == [i["amount"] for i in api["billed"]["items"]]
    assert first_cells(page, "by-model") == [r["label"] for r in api["by_model"]]
    html = page.content()
    assert "globex" not in html.lower() and "INV-2026-0002" not in html and "data-usd" not in html
    assert page.locator("header nav").count() == 0        # no way into the staff pages
    tab.shot("share-acme-2026-03")

    page.get_by_role("link", name="INV-2026-0001").click()
    assert urlsplit(page.url).path == f"/share/{ledger.share_token}/invoices/INV-2026-0001"
    assert "INV-2026-0001" in page.locator("body").inner_text()
    assert "globex" not in page.content().lower()
    tab.shot("share-acme-invoice")
    tab.assert_clean()


def test_share_link_default_period(tab: Tab, server: Server, ledger: Ledger) -> None:
    # acme's calls are all in February and March 2026: this month has none. The page says so, and when the
    # last one was; the API answers 404 with the same words, never a 200 of $0.00.
    page = tab.visit(server.base, f"/share/{ledger.share_token}")
    said = f"no calls for client=acme in {datetime.now(UTC):%Y-%m} (last call 2026-03-20)"
    assert page.locator("#notice").inner_text() == said
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.api("/api/v1/client?range=this-month", token=ledger.share_token)
    assert refused.value.code == 404
    assert json.loads(refused.value.read())["detail"] == said
    assert "globex" not in page.content().lower()
    tab.assert_clean()


def test_share_link_month_box(tab: Tab, server: Server, ledger: Ledger) -> None:
    page = tab.visit(server.base, f"/share/{ledger.share_token}")
    page.locator("input[name=period]").fill("2026-03")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Show").click()
    assert sent.value is not None and sent.value.status == 200, (page.url, sent.value and sent.value.status)
    assert page.locator("#billed-total").get_attribute("data-amount") == "3.50"


# -- signing in ------------------------------------------------------------------------------------------

def test_sign_in(tab: Tab, guarded: Server) -> None:
    page = tab.visit(guarded.base, f"/?{MARCH}", status=401)
    assert page.locator("form.login").count() == 1
    assert page.locator("#total-cost").count() == 0 and "$5.15" not in page.content()
    with pytest.raises(urllib.error.HTTPError) as refused:
        guarded.api(f"/api/v1/overview?{MARCH}")
    assert refused.value.code == 401
    tab.shot("sign-in")

    page.locator("input[name=token]").fill("not-it")
    with page.expect_navigation():
        page.get_by_role("button", name="Open the dashboard").click()
    assert "That token is not valid." in page.locator("main").inner_text()

    page.locator("input[name=token]").fill("secret")
    with page.expect_navigation():
        page.get_by_role("button", name="Open the dashboard").click()
    assert urlsplit(page.url).path == "/" and query_of(page.url) == {"period": ["2026-03"]}   # back where we were
    cookie = next(c for c in page.context.cookies() if c["name"] == "spendtag_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    check_overview(page, lambda path: guarded.api(path, token="secret"), MARCH)
    assert usd_attr(page, "#total-cost") == "5.15"
    page.get_by_role("link", name="Events").click()                  # the cookie opens the other pages too
    assert page.locator("#page-info").inner_text() == "page 1 of 1 · 8 in all"
    tab.shot("signed-in-overview")
    # The 401 of the sign-in page itself is a console error in chromium; everything after it must be clean.
    assert all(re.search(r"status of 401", e) for e in tab.errors), tab.errors

