"""A client's link and token show amounts as billed (the invoice draft's document: markup, shared cost and
currency inside), never the agency's raw cost or margin, unless the agency turns show_cost on for it.

The ledger: tests/share_prices_seed.py (acme at cost plus 30%, proportional shared cost, EUR at 0.92, VAT
20%). The browser half is tests/test_share_client_prices_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from share_prices_seed import Priced, make

from spendtag import settings
from spendtag.bill.model import money
from spendtag.server.dashboard.app import create_app

MARCH = "period=2026-03"
INTERNAL = ("cost", "markup", "margin", "pico", "genai-prices", "client=", "30%", "data-usd", "allocat")
RAW_FIELDS = ("cost_usd", "cost_components_usd", "spent_usd", "limit_usd", "projected_usd", "amount_usd",
              "forecast_over_by_usd", "delta_usd", "total_usd", "low_usd", "high_usd")


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> Priced:
    return make(tmp_path_factory.mktemp("share-prices"))


@pytest.fixture(scope="module")
def web(priced: Priced) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in priced.env().items():
            mp.setenv(k, v)
        yield TestClient(create_app(str(priced.db), settings.load({"db": str(priced.db)}), token="admin",
                                    host="0.0.0.0"))


def bearer(priced: Priced) -> dict[str, str]:
    return {"Authorization": f"Bearer {priced.share_token}"}


def text_of(html: str) -> str:
    """What a reader sees: the page without its tags (attributes are checked on the HTML itself)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def amounts(html: str, where: str) -> list[str]:
    """The data-amount of every cell in the table ``where``."""
    table = html.split(f'id="{where}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-amount="([^"]+)"', table)


def test_the_share_page_shows_the_invoice_drafts_amounts(web: TestClient, priced: Priced) -> None:
    doc = priced.draft("2026-03")
    page = web.get(f"/share/{priced.share_token}?{MARCH}")
    assert page.status_code == 200
    html = page.text
    # acme: $3.50 of calls, its proportional part of the $0.40 untagged, plus 30%, at 0.92 EUR, plus VAT.
    assert (doc["currency"], doc["subtotal"], doc["total"]) == ("EUR", "4.54", "5.45")
    total = re.search(r'id="billed-total" data-amount="([^"]+)" data-currency="([^"]+)">([^<]+)<', html)
    assert total is not None and total.groups() == (doc["total"], "EUR", money(Decimal(doc["total"]), "EUR"))
    assert f'id="billed-subtotal" data-amount="{doc["subtotal"]}">EUR 4.54<' in html
    assert re.findall(r'class="billed-tax" data-amount="([^"]+)"', html) == [t["amount"] for t in doc["taxes"]]
    assert amounts(html, "billed-items") == [i["amount"] for i in doc["items"]]
    assert sum(Decimal(a) for a in amounts(html, "billed-items")) == Decimal(doc["subtotal"])
    for item in doc["items"]:
        assert item["description"] in html
    # The period before (February) as its own draft bills it.
    before = priced.draft("2026-02")
    assert f'id="previous-billed" data-amount="{before["total"]}" data-currency="EUR">EUR {before["total"]}<' in html


def test_the_share_page_shows_no_raw_cost_nor_margin(web: TestClient, priced: Priced) -> None:
    html = web.get(f"/share/{priced.share_token}?{MARCH}").text
    raw = priced.raw_costs()
    assert {"3.50", "$3.50", "3.00", "0.50", "2.00", "5.00", "$5.00", "0.40"} <= raw     # the seeded figures
    shown = text_of(html)
    for amount in sorted(raw):
        assert amount not in shown, amount
        assert f'"{amount}"' not in html, amount                  # nor in an attribute
    for word in INTERNAL:
        assert word not in html.lower(), word
    assert "$" not in shown
    # Usage without money: calls, tokens by model, a chart of tokens; budgets as percent used.
    assert 'id="total-requests">5<' in html and 'id="total-tokens">6,640<' in html
    assert 'aria-label="tokens over time"' in html
    assert re.search(r'data-budget="acme-monthly".*?budget-percent">[\d.]+% used<', html, re.S)
    # The issued invoice with its own currency total and status, linked to its document.
    assert re.search(r'INV-2026-0001</a></td><td>2026-03</td><td>[\d-]+</td><td class="status">issued</td>'
                     r'<td class="num" data-amount="5.45">EUR 5.45</td>', html)
    assert web.get(f"/share/{priced.share_token}/invoices/INV-2026-0001").status_code == 200


def test_unpriced_calls_are_counted_never_billed_as_zero(web: TestClient, priced: Priced) -> None:
    html = web.get(f"/share/{priced.share_token}?{MARCH}").text
    note = re.search(r'id="unbilled-note">([^<]+)<', html)
    assert note is not None
    assert note.group(1) == "1 call(s) are not priced yet and so not billed in this amount: acme-ai/house-9 (1)."
    view = web.get(f"/api/v1/client?{MARCH}", headers=bearer(priced)).json()
    assert view["billed"]["unbilled_requests"] == 1 and view["usage"]["unpriced_requests"] == 1


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_the_api_gives_a_client_token_the_same_billed_view(web: TestClient, priced: Priced) -> None:
    doc = priced.draft("2026-03")
    response = web.get(f"/api/v1/client?{MARCH}", headers=bearer(priced))
    assert response.status_code == 200
    view = response.json()
    billed = view["billed"]
    assert (billed["currency"], billed["subtotal"], billed["total"]) == (doc["currency"], doc["subtotal"], doc["total"])
    assert [t["amount"] for t in billed["taxes"]] == [t["amount"] for t in doc["taxes"]]
    assert [(i["description"], i["detail"], i["amount"]) for i in billed["items"]] == [
        (i["description"], i["detail"], i["amount"]) for i in doc["items"]]
    assert view["previous"]["billed"]["total"] == priced.draft("2026-02")["total"]
    assert view["show_cost"] is False and view["cost"] is None
    assert not [k for k, _ in _walk(view) if k in RAW_FIELDS]
    values = {str(v) for _, v in _walk(view) if isinstance(v, str)}
    assert not values & priced.raw_costs()
    # Every answer in raw cost is refused to this token; its invoices carry what the client was sent only.
    for path in (f"/api/v1/summary?{MARCH}", f"/api/v1/report?{MARCH}", "/api/v1/budgets"):
        refused = web.get(path, headers=bearer(priced))
        assert refused.status_code == 403 and "3.50" not in refused.text, path
    issued = web.get("/api/v1/invoices/INV-2026-0001", headers=bearer(priced)).json()
    sent = json.dumps(issued["document"])
    assert issued["document"]["client_document"]["total"] == "5.45" and issued["currency"] == "EUR"
    for word in ("markup", "cost", "pico", "genai-prices", "events", "charges"):
        assert word not in sent.lower(), word


def test_staff_see_what_the_client_sees(web: TestClient, priced: Priced) -> None:
    staff = web.get(f"/api/v1/client?value=acme&{MARCH}", headers={"Authorization": "Bearer admin"}).json()
    assert staff == web.get(f"/api/v1/client?{MARCH}", headers=bearer(priced)).json()


def test_with_show_cost_on_the_raw_cost_is_shown_beside_the_billed_amounts(web: TestClient, priced: Priced) -> None:
    priced.show_cost(True)
    try:
        html = web.get(f"/share/{priced.share_token}?{MARCH}").text
        assert 'id="total-cost" data-usd="3.50">$3.50' in html
        assert f'id="billed-total" data-amount="{priced.draft("2026-03")["total"]}"' in html
        view = web.get(f"/api/v1/client?{MARCH}", headers=bearer(priced)).json()
        assert view["show_cost"] is True and view["cost"]["total"]["cost_usd"] == "3.50"
        assert view["billed"]["total"] == "5.45"
        summary = web.get(f"/api/v1/summary?{MARCH}", headers=bearer(priced))
        assert summary.status_code == 200 and summary.json()["total"]["cost_usd"] == "3.50"
        issued = web.get("/api/v1/invoices/INV-2026-0001", headers=bearer(priced)).json()
        assert "charges" in issued["document"]                    # the whole document, appendix included
    finally:
        priced.show_cost(False)
    assert "data-usd" not in web.get(f"/share/{priced.share_token}?{MARCH}").text


def test_billing_that_cannot_be_worked_out_shows_no_amount(tmp_path: Path) -> None:
    priced = make(tmp_path)
    priced.config.write_text(priced.config.read_text().replace('EUR = "0.92"', ""), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in priced.env().items():
            mp.setenv(k, v)
        web = TestClient(create_app(str(priced.db), settings.load({"db": str(priced.db)})))
        html = web.get(f"/share/{priced.share_token}?{MARCH}").text
    assert 'id="billed-note">Billed amounts are not available for this period yet.<' in html
    assert "data-usd" not in html and "$" not in text_of(html) and "cost" not in html.lower()
