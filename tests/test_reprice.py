"""Repricing: new revisions for changed costs, fixed costs untouched, issued invoices unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from conftest import make_event
from test_billing_cli import billing_commands, invoke, run, seed  # noqa: F401 - the fixture wires the commands

from spendtag.bill import repricing
from spendtag.bill.fixed_costs import fixed_cost
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.pricing import PriceBook, PriceOverride
from spendtag.pricing.pricer import Pricer
from spendtag.usage import Usage


def cells(text: str, label: str) -> list[str]:
    """The cells after ``label`` on the line that starts with it (columns are two or more spaces apart)."""
    line = next(x for x in text.splitlines() if x.startswith(label))
    return [c.strip() for c in line[len(label):].strip().split("  ") if c.strip()]


def test_issued_invoice_prints_identically_after_a_price_change_and_reprice(tmp_path: Path) -> None:
    seed()
    code, issued, _ = invoke("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%",
                             "--issue", "--issued-on", "2026-04-01")
    assert code == 0
    formats = {fmt: run("invoice", "show", "INV-2026-0001", "--format", fmt) for fmt in ("csv", "json", "html")}
    assert cells(issued, "test-model") == ["USD 3.90"]                             # 3.00 with its 30% markup
    assert cells(issued, "Total due (USD)") == ["USD 66.30"]                       # (3 + 49 - 1) x 1.3

    # A negotiated rate, retroactively: every test-model call now costs twice as much.
    run("prices", "override", "test-model", "--multiplier", "2")
    out = run("reprice", "--period", "2026-03", "--yes", "--reason", "rate card corrected")
    assert out.endswith("revised 5 events; previous costs kept as revisions. Issued invoices keep their prices.\n")

    assert run("invoice", "show", "INV-2026-0001") == issued
    for fmt, text in formats.items():
        assert run("invoice", "show", "INV-2026-0001", "--format", fmt) == text
    fresh = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%")
    assert cells(fresh, "test-model") == ["USD 7.80"]
    assert cells(fresh, "Total due (USD)") == ["USD 68.90"]                        # (6 + 49 - 2) x 1.3
    fresh_doc = json.loads(run("invoice", "--client", "acme", "--period", "2026-03", "--format", "json"))
    assert {p["note"] for p in fresh_doc["prices"]} == {"rate card override #1; x2 override #2", "tool seat, March"}
    doc = json.loads(formats["json"])
    assert {p["note"] for p in doc["prices"]} == {"rate card override #1", "tool seat, March"}  # as issued


def test_plan_and_apply_keep_revisions_and_skip_fixed_costs(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "l.db")
    ts = datetime(2026, 3, 14, 10, tzinfo=UTC)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    store.record([make_event("a", ts, provider="local", model="m", usage=usage, cost=5, tags={"client": "acme"}),
                  make_event("b", ts, provider="local", model="m", usage=usage, cost=5),
                  fixed_cost("10", {"client": "acme"}, day="2026-03-01", event_id="f")])
    card = PriceOverride(id=1, model="m", rates={"input_tokens": Decimal(1), "output_tokens": Decimal(3)})
    pricer = Pricer(PriceBook([card]))
    march = Filters(since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 4, 1, tzinfo=UTC))
    plan = repricing.plan(store, pricer, march, "client")
    assert (plan.scanned, plan.fixed_skipped, len(plan.revised)) == (3, 1, 2)
    assert [(r.client, r.model, r.events, r.old, r.new) for r in plan.rows] == [
        ("acme", "m", 1, 5, 4 * 10**12), (None, "m", 1, 5, 4 * 10**12)]
    assert repricing.apply(store, plan, "fix") == 2
    current = store.get_event("a")
    assert current is not None and current.cost.total == 4 * 10**12
    assert [r.cost.total for r in store.revisions("a")] == [5]
    fixed = store.get_event("f")
    assert fixed is not None and fixed.cost.total == 10 * 10**12 and store.revisions("f") == []
    assert repricing.plan(store, pricer, march, "client").revised == []
    store.close()
