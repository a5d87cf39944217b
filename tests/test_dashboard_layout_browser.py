"""Every dashboard page at 1280 and 390 px in a real browser: a screenshot of each into
``$SPENDTAG_ARTIFACTS`` (else a temporary directory), and at 390 px no page scrolls sideways and
the chart's labels are drawn at a readable size. Clicking on the overview leads to the calls counted.

The ledger, server and browser are those of tests/test_dashboard_browser.py.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from test_dashboard_browser import MARCH, Ledger, Server, browser, ledger, server, shots  # noqa: F401

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page  # noqa: E402

WIDTHS = (1280, 390)
MIN_LABEL_PX = 9.5      # an axis label's drawn font size at 390 px


def pages(share_token: str) -> list[tuple[str, str, int]]:
    """(name, path, status) of every page a user can reach."""
    return [
        ("overview", f"/?{MARCH}", 200),
        ("events", f"/events?{MARCH}", 200),
        ("event", "/events/a3", 200),
        ("tags", f"/tags/client?{MARCH}", 200),
        ("client", f"/tags/client/acme?{MARCH}", 200),
        ("sessions", f"/sessions?{MARCH}", 200),
        ("session", "/sessions/s-acme-2", 200),
        ("budgets", "/budgets", 200),
        ("alerts", "/alerts", 200),
        ("invoices", "/invoices", 200),
        ("invoice", "/invoices/INV-2026-0001", 200),
        ("keys", "/keys", 200),
        ("manage", "/manage", 200),
        ("new-budget", "/manage/budgets/new", 200),
        ("new-invoice", f"/manage/invoices/new?client=acme&{MARCH}", 200),
        ("billing", "/manage/billing?client=acme", 200),
        ("links", "/manage/links", 200),
        ("new-key", "/manage/keys/new", 200),
        ("prices", "/manage/prices", 200),
        ("rules", "/manage/rules", 200),
        ("audit", "/audit", 200),
        ("recommendations", f"/recommendations?{MARCH}", 200),
        ("share", f"/share/{share_token}?{MARCH}", 200),
        ("login", "/login", 200),
        ("api-docs", "/api/v1/docs", 200),
        ("error", "/events/no-such-event", 404),
    ]


def _page(chromium: Browser, width: int) -> Page:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen(browser: Browser, server: Server, ledger: Ledger, shots: Path,  # noqa: F811
                                    width: int) -> None:
    page = _page(browser, width)
    wide: list[str] = []
    try:
        for name, path, status in pages(ledger.share_token):
            response = page.goto(server.url(path))
            assert response is not None and response.status == status, (path, response and response.status)
            page.screenshot(path=str(shots / f"layout-{name}-{width}.png"), full_page=True)
            scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            if width < 600 and scroll > inner:
                wide.append(f"{name}: {scroll} > {inner}")
    finally:
        page.context.close()
    assert wide == []


def test_chart_labels_are_readable_on_a_phone(browser: Browser, server: Server) -> None:  # noqa: F811
    page = _page(browser, 390)
    try:
        for path in (f"/?{MARCH}", f"/tags/client/acme?{MARCH}"):
            page.goto(server.url(path))
            sizes = page.evaluate("""() => [...document.querySelectorAll('svg.chart text.axis')]
                .filter(t => getComputedStyle(t).display !== 'none')
                .map(t => { const box = t.getBoundingClientRect(); return [box.height, t.getBBox().height]; })""")
            assert sizes, path
            # The drawn height of a label (its box on the screen), not its size in the drawing's own units.
            assert min(h for h, _ in sizes) >= MIN_LABEL_PX, (path, min(h for h, _ in sizes))
            # The page still does not scroll: the chart scrolls inside its own box.
            assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), path
    finally:
        page.context.close()


def _shown_total(page: Page) -> tuple[Decimal, int]:
    cells = page.locator("#events tbody tr td[data-usd]")
    amounts = [cells.nth(i).get_attribute("data-usd") for i in range(cells.count())]
    return sum((Decimal(a) for a in amounts if a), Decimal(0)), len(amounts)


def test_clicking_on_the_overview_shows_the_calls_counted(browser: Browser, server: Server) -> None:  # noqa: F811
    page = _page(browser, 390)
    try:
        overview = server.url(f"/?{MARCH}")
        page.goto(overview)
        # A client's amount in the table.
        page.locator('#clients tr[data-client="acme"] a.calls').click()
        page.wait_for_url("**/events?**")
        assert _shown_total(page) == (Decimal("3.50"), 4)
        # A bar: acme on 2 March.
        page.goto(overview)
        page.locator('svg.chart a:has(rect[data-series="acme"][data-bucket="2026-03-02"])').click()
        page.wait_for_url("**/events?**")
        assert _shown_total(page) == (Decimal("1.50"), 2)
        # A legend entry, the untagged card, the unpriced card.
        page.goto(overview)
        page.locator('ul.legend li[data-series="globex"] a').click()
        page.wait_for_url("**/events?**")
        assert _shown_total(page) == (Decimal("1.25"), 2)
        page.goto(overview)
        page.locator("#card-untagged").click()
        page.wait_for_url("**/events?**")
        assert _shown_total(page) == (Decimal("0.40"), 2)
        page.goto(overview)
        page.locator("#card-unpriced").click()
        page.wait_for_url("**/events?**")
        assert _shown_total(page) == (Decimal(0), 1)
        assert page.locator("#events tbody tr").first.inner_text().count("unpriced") == 1
    finally:
        page.context.close()
