"""The client's link at client prices in a real browser (fixtures of tests/test_dashboard_browser.py): the
billed amounts the page shows are the invoice draft's document exactly, nothing of the raw cost or margin is
on it, and at 390 px it does not scroll sideways. Screenshots at 1280 and 390 px go with the others."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from share_prices_seed import Priced, make
from test_dashboard_browser import Ledger, Server, Tab, _serve, browser, shots, tab  # noqa: F401 (fixtures)

MARCH = "period=2026-03"


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> Priced:
    return make(tmp_path_factory.mktemp("share-prices-browser"))


@pytest.fixture(scope="module")
def server(priced: Priced) -> Iterator[Server]:
    yield from _serve(Ledger(priced.db, priced.config, priced.share_token))


@pytest.mark.parametrize("width", [1280, 390])
def test_the_share_link_bills_as_the_invoice_draft(tab: Tab, server: Server, priced: Priced,  # noqa: F811
                                                   width: int) -> None:
    doc = priced.draft("2026-03")
    tab.page.set_viewport_size({"width": width, "height": 900})
    page = tab.visit(server.base, f"/share/{priced.share_token}?{MARCH}")
    total = page.locator("#billed-total")
    assert (total.get_attribute("data-amount"), total.get_attribute("data-currency")) == (doc["total"], "EUR")
    assert total.inner_text() == f"EUR {Decimal(doc['total']):,.2f}"
    assert page.locator("#billed-subtotal").inner_text() == f"EUR {Decimal(doc['subtotal']):,.2f}"
    cells = page.locator("#billed-items tbody td[data-amount]")
    assert [cells.nth(i).get_attribute("data-amount") for i in range(cells.count())] == [
        i["amount"] for i in doc["items"]]
    assert page.locator("#previous-billed").get_attribute("data-amount") == priced.draft("2026-02")["total"]
    seen = page.locator("body").inner_text()
    for amount in priced.raw_costs():
        assert amount not in seen, amount
    for word in ("cost", "markup", "pico", "genai-prices", "client="):
        assert word not in page.content().lower(), word
    assert "$" not in seen
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), width
    tab.shot(f"share-client-prices-{width}")
    tab.assert_clean()


def test_with_show_cost_on_the_link_shows_the_raw_cost_too(tab: Tab, server: Server,  # noqa: F811
                                                           priced: Priced) -> None:
    priced.show_cost(True)
    try:
        page = tab.visit(server.base, f"/share/{priced.share_token}?{MARCH}")
        assert page.locator("#total-cost").get_attribute("data-usd") == "3.50"
        assert page.locator("#billed-total").get_attribute("data-amount") == priced.draft("2026-03")["total"]
    finally:
        priced.show_cost(False)
    tab.assert_clean()
