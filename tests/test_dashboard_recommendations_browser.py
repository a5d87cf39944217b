"""The recommendations page in a real browser (chromium via Playwright), on tests/dashboard_seed.py's ledger.

March 2026: claude-sonnet-4-5 carries $3.40 of the $5.15 (3 calls of 100 input and 10 output
tokens and one of 1,000 input, 5,000 cache-read and 200 output, at hand-made costs), gpt-4.1
$1.25 (2 calls of 100 and 10). Repriced on claude-haiku-4-5 ($1/$0.10/$5 per million) the
sonnet calls cost 3 x $0.00015 + $0.0025 = $0.00295, and on gpt-4.1-mini ($0.40/$1.60) each
gpt-4.1 call $0.000056.
"""

from __future__ import annotations

import test_dashboard_browser as pages
from test_dashboard_browser import MARCH, Server, Tab, column, query_of, shown

# The browser test module's fixtures: the seeded ledger, `spendtag serve` on it, chromium, a tab.
ledger = pages.ledger
server = pages.server
browser = pages.browser
shots = pages.shots
tab = pages.tab


def test_recommendations_page(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/recommendations?{MARCH}")
    api = server.api(f"/api/v1/recommendations?{MARCH}")
    rows = page.locator("#recommendations tbody tr[data-subject]")
    assert [rows.nth(i).get_attribute("data-subject") for i in range(rows.count())] == [
        r["subject"] for r in api["recommendations"]] == ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]
    assert column(page, "recommendations") == [r["cost_usd"] for r in api["recommendations"]] == ["3.40", "1.25"]
    assert column(page, "recommendations", "data-savings-usd") == [r["savings_usd"] for r in api["recommendations"]]
    assert [r["savings_usd"] for r in api["recommendations"]] == ["3.39705", "1.249888"]
    assert page.locator("#rec-savings").inner_text() == shown(api["savings_usd"]) == "$4.65"
    tab.shot("recommendations-2026-03")
    tab.assert_clean()


def test_recommendations_filter_form(tab: Tab, server: Server) -> None:
    page = tab.visit(server.base, f"/recommendations?{MARCH}")
    page.fill("form.filters input[name=tag]", "client=globex")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**tag=client%3Dglobex**")
    assert query_of(page.url)["tag"] == ["client=globex"]
    api = server.api("/api/v1/recommendations?period=2026-03&tag=client=globex")
    assert column(page, "recommendations") == [r["cost_usd"] for r in api["recommendations"]] == ["1.25"]
    page.click("nav a[href^='/budgets']")
    page.click("nav a[href^='/recommendations']")
    assert page.locator("h1").inner_text().startswith("Recommendations")
    tab.shot("recommendations-globex")
    tab.assert_clean()
