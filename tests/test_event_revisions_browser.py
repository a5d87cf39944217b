"""The event page in a real browser shows the costs ``reprice`` replaced, as its ``/api/v1`` twin does.

The dashboard's browser fixtures (tests/test_dashboard_browser.py) over the seeded ledger, with
one call (a3, $1.75 now) first recorded at $1.50 and repriced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from dashboard_seed import seed
from test_dashboard_browser import Ledger, Server, Tab, _serve, browser, shots, tab  # noqa: F401 - fixtures

from spendtag.ledger import open_store
from spendtag.money import parse_usd
from spendtag.usage import Cost


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    root = tmp_path_factory.mktemp("event-revisions")
    db, config = root / "ledger.db", root / "config.toml"
    config.write_text('tz = "UTC"\n', encoding="utf-8")
    seed(db)
    store = open_store(f"sqlite:///{db}")
    try:
        now = store.get_event("a3")
        assert now is not None and now.cost.price is not None
        earlier = Cost({"input_tokens": parse_usd("1.50")}, parse_usd("1.50"), replace(now.cost.price, note="old"))
        store.revise([replace(now, cost=earlier)], "imported at the old rate")
        store.revise([now], "rate card corrected")
    finally:
        store.close()
    return Ledger(db, config, "")


@pytest.fixture(scope="module")
def server(ledger: Ledger) -> Iterator[Server]:
    yield from _serve(ledger)


def test_event_page_lists_earlier_costs(tab: Tab, server: Server) -> None:  # noqa: F811 - the fixture
    page = tab.visit(server.base, "/events/a3")
    api = server.api("/api/v1/events/a3")
    assert page.locator("#event-cost").inner_text() == "$1.75" and api["cost_usd"] == "1.75"
    rows = page.locator("#revisions tbody tr")
    assert rows.count() == len(api["revisions"]) == 2
    cells = [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
    assert [(c[0], c[1], c[4]) for c in cells] == [("1", "$1.75", "imported at the old rate"),
                                                   ("2", "$1.50", "rate card corrected")]
    assert [r["cost_usd"] for r in api["revisions"]] == ["1.75", "1.50"]
    assert cells[1][2].endswith("; old)")
    tab.shot("event-a3-revisions")
    tab.assert_clean()


def test_an_event_never_repriced_says_so(tab: Tab, server: Server) -> None:  # noqa: F811 - the fixture
    page = tab.visit(server.base, "/events/a1")
    assert page.locator("#no-revisions").inner_text() == "None: this is the only cost recorded for this call."
    assert server.api("/api/v1/events/a1")["revisions"] == []
    tab.assert_clean()
