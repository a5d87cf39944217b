"""The seeded ledger (tests/dashboard_seed.py) billed at client prices: acme at cost plus 30%, with a
proportional share of the untagged spend, in EUR at 0.92 per USD, VAT 20%. Issued invoices of March
2026 for acme and globex; afterwards one unpriced call of acme in March (a draft does not bill it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event
from dashboard_seed import seed

from spendtag.bill.profile import save_client
from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.money import exact_str, parse_usd, screen
from spendtag.server.dashboard.access import create_token
from spendtag.tags import Selector

CONFIG = """tz = "UTC"

[business]
name = "Northwind Studio"

[billing]
allocate = "proportional"

[billing.clients.acme]
model = "cost-plus"
markup = "30%"
currency = "EUR"
tax_rate = "20%"

[billing.rates]
EUR = "0.92"
"""


@dataclass
class Priced:
    db: Path
    config: Path
    share_token: str

    def env(self) -> dict[str, str]:
        return {"SPENDTAG_CONFIG": str(self.config), "HOME": str(self.db.parent / "home"), "SPENDTAG_TZ": "UTC"}

    def draft(self, period: str) -> dict[str, Any]:
        """`spendtag invoice --client acme --period P --format json`: the client's document of the draft."""
        result = CliRunner().invoke(_cli(), ["--db", str(self.db), "invoice", "--client", "acme", "--period", period,
                                             "--format", "json"], env=self.env(), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        document: dict[str, Any] = json.loads(result.stdout)["client_document"]
        return document

    def show_cost(self, on: bool) -> None:
        store = open_store(str(self.db))
        try:
            save_client(store, "acme", {"show_cost": "true" if on else "false"}, by="test")
        finally:
            store.close()

    def raw_costs(self) -> set[str]:
        """Every raw cost of acme the ledger holds (its calls, by model, by month, its budget, the untagged spend
        shared with it), in the ways a page could print them."""
        store = open_store(str(self.db))
        try:
            amounts: set[int] = set()
            for since, until in ((datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
                                 (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))):
                mine = Filters(since=since, until=until, tags=(Selector("client", "eq", "acme"),))
                everyone = Filters(since=since, until=until)
                for f, by in ((mine, []), (mine, ["model"]), (everyone, ["tag:client"]), (everyone, [])):
                    amounts.update(a.totals.cost for a in store.aggregate(f, by))
                amounts.update(e.cost.total for e in store.events(mine))
            for name, definition in store.budgets().items():
                if Selector("client", "eq", "acme") in Budget.from_dict(name, definition).scope:
                    amounts.add(parse_usd(definition["limit"]))
        finally:
            store.close()
        out: set[str] = set()
        for pico in amounts - {0}:
            out.update({exact_str(pico), screen(pico)})
        return out


def _cli() -> Any:
    from spendtag.cli.main import cli

    return cli


def make(root: Path) -> Priced:
    db, config = root / "ledger.db", root / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(config))
        mp.setenv("HOME", str(root / "home"))
        mp.setenv("SPENDTAG_TZ", "UTC")
        seed(db)
    store = open_store(f"sqlite:///{db}")
    try:
        store.record([make_event("a5", datetime(2026, 3, 22, 9, tzinfo=UTC), provider="acme-ai", model="house-9",
                                 priced=False, tags={"client": "acme"})])
        token, _ = create_token(store, "acme-link", "client", ("client", "acme"))
    finally:
        store.close()
    return Priced(db, config, token)
