"""Invoices as a library: allocation, terms, exact arithmetic, the document, issued-invoice storage."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.bill import render
from spendtag.bill.allocation import Allocation, largest_remainder
from spendtag.bill.build import Request, invoice_for, invoice_from_events, run_all
from spendtag.bill.config import BillingConfig
from spendtag.bill.fixed_costs import fixed_cost
from spendtag.bill.model import from_json, to_json
from spendtag.bill.store import IssuedInvoices
from spendtag.bill.terms import BillingError, Terms, from_flags, parse_markup
from spendtag.errors import ConfigError
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.periods import parse_period
from spendtag.usage import PricedEvent

UTC_ZONE = ZoneInfo("UTC")
MARCH = parse_period("2026-03", UTC_ZONE)
BIG = Context(prec=200)


def request(**kw: object) -> Request:
    args: dict[str, object] = {"period": "2026-03", "range": MARCH, "tz": UTC_ZONE, "config": BillingConfig()}
    args.update(kw)
    return Request(**args)  # type: ignore[arg-type]


def events(costs: list[int], tags: dict[str, str] | None = None) -> list[PricedEvent]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return [make_event(f"e{i}", start + timedelta(hours=i), cost=c, tags=tags) for i, c in enumerate(costs)]


# -- allocation ----------------------------------------------------------------------------------

@given(st.integers(0, 10**18), st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 10**15),
                                               min_size=1, max_size=8))
def test_largest_remainder_is_exact_and_fair(amount: int, weights: dict[str, int]) -> None:
    parts = largest_remainder(amount, weights)
    total = sum(weights.values())
    if total == 0:
        assert set(parts.values()) == {0}
        return
    assert sum(parts.values()) == amount
    for k, w in weights.items():
        exact = Fraction(amount * w, total)
        assert exact - 1 < parts[k] < exact + 1
        if w == 0:
            assert parts[k] == 0


def test_largest_remainder_gives_leftover_pico_to_largest_fractions_then_by_name() -> None:
    assert largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(100, {"x": 1, "y": 2}) == {"x": 33, "y": 67}


def test_allocation_parse_and_split() -> None:
    fixed = Allocation.parse("fixed:acme=60,globex=40")
    assert fixed.split(1001, {"acme": 5, "other": 9}) == {"acme": 601, "globex": 400}
    assert Allocation.parse("even").split(10, {"a": 0, "b": 7}) == {"a": 5, "b": 5}
    assert Allocation.parse("proportional").split(10, {"a": 1, "b": 3}) == {"a": 3, "b": 7}
    assert Allocation.parse("proportional").split(10, {}) == {}
    assert Allocation.parse("overhead").split(10, {"a": 1}) == {}
    with pytest.raises(BillingError, match="sum to 90, not 100"):
        Allocation.parse("fixed:acme=60,globex=30")
    with pytest.raises(BillingError, match="use overhead, proportional"):
        Allocation.parse("random")


# -- the ledger invariant ------------------------------------------------------------------------

clients = st.sampled_from(["acme", "globex", "initech", None])
ledger_events = st.lists(st.tuples(clients, st.integers(1, 10**13), st.booleans()), min_size=1, max_size=25)
policies = st.sampled_from(["overhead", "proportional", "even", "fixed:acme=33.3,globex=66.7",
                            "fixed:acme=50,globex=25,initech=25"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledger_events, policies)
def test_invoices_plus_unallocated_equal_the_ledger_total(rows: list[tuple[str | None, int, bool]],
                                                         policy: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "l.db")
        start = datetime(2026, 3, 1, tzinfo=UTC)
        store.record([make_event(f"e{i}", start + timedelta(hours=i), cost=cost,
                                 tags={**({"client": c} if c else {}), **({"billing": "credit"} if credit else {})})
                      for i, (c, cost, credit) in enumerate(rows)])
        # Outside the period: never on any invoice.
        store.record([make_event("april", datetime(2026, 4, 1, tzinfo=UTC), cost=999, tags={"client": "acme"})])
        ledger_total = sum(a.totals.cost for a in store.aggregate(Filters(since=MARCH.since, until=MARCH.until)))
        run = run_all(store, request(allocation=Allocation.parse(policy), terms=Terms("pass-through")))
        store.close()
    pico = Decimal(10**12)
    attributed = sum((inv.cost + inv.allocated for inv in run.invoices), Decimal(0))
    assert attributed * pico + run.overhead == ledger_total
    # What clients pay at cost, plus what credits waived, plus the overhead: the ledger again.
    billed = sum((inv.total_exact for inv in run.invoices), Decimal(0))
    credits = sum((inv.credits for inv in run.invoices), Decimal(0))
    assert (billed + credits) * pico + run.overhead == ledger_total
    if policy == "overhead":
        assert run.overhead == run.spend.untagged
    # The even-split comparison splits the whole bill: its differences sum to the overhead.
    if run.rows:
        assert sum((r.difference for r in run.rows), Decimal(0)) * pico == run.overhead


@given(st.lists(st.integers(0, 10**14), min_size=1, max_size=10),
       st.decimals(min_value=0, max_value=500, places=4, allow_nan=False, allow_infinity=False))
def test_markup_is_exact_until_the_one_rounding(costs: list[int], pct: Decimal) -> None:
    inv = invoice_from_events(request(terms=Terms("cost-plus", markup=parse_markup(f"{pct}%"))), "acme",
                              events(costs))
    net = BIG.divide(Decimal(sum(costs)), Decimal(10**12))
    exact = BIG.multiply(net, BIG.add(1, BIG.divide(pct, 100)))
    assert inv.total_exact == exact
    assert [c.kind for c in inv.charges] == ["cost", "markup"]
    assert inv.charges[0].amount + inv.charges[1].amount == exact
    assert inv.total_due == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert inv.total_due - inv.total_exact == inv.rounding


def test_rounding_is_half_even_at_the_end_only() -> None:
    # Two lines of half a cent each: rounding each would give 0.02 (or 0.00); the total rounds once.
    inv = invoice_from_events(request(), "acme", events([5 * 10**9, 5 * 10**9]))
    assert inv.total_exact == Decimal("0.01")
    inv = invoice_from_events(request(), "acme", events([25 * 10**9]))           # $0.025 -> $0.02 (half even)
    assert (inv.total_exact, inv.total_due, inv.rounding) == (Decimal("0.025"), Decimal("0.02"), Decimal("-0.005"))
    inv = invoice_from_events(request(), "acme", events([35 * 10**9]))           # $0.035 -> $0.04
    assert inv.total_due == Decimal("0.04")


# -- terms ---------------------------------------------------------------------------------------

def test_fixed_fee_cap_billed_or_absorbed() -> None:
    usage = events([300 * 10**12, 150 * 10**12])                                  # $450 of usage
    billed = invoice_from_events(request(terms=from_flags(fixed_fee="500", usage_cap="400")), "acme", usage)
    assert [(c.kind, c.amount, c.billed) for c in billed.charges] == [
        ("fee", Decimal("500.00"), True), ("overage", Decimal("50.00"), True)]
    assert billed.total_due == Decimal("550.00")
    absorbed = invoice_from_events(request(terms=from_flags(fixed_fee="500", usage_cap="400", absorb_overage=True)),
                                   "acme", usage)
    assert absorbed.charges[1].billed is False and absorbed.total_due == Decimal("500.00")
    under = invoice_from_events(request(terms=from_flags(fixed_fee="500", usage_cap="400")), "acme", usage[:1])
    assert [c.kind for c in under.charges] == ["fee"] and under.total_due == Decimal("500.00")


def test_per_unit_counts_distinct_tag_values_and_shows_cost_per_unit() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    evs = [make_event(f"e{i}", start + timedelta(hours=i), cost=10**12, tags={"client": "acme", "ticket": t})
           for i, t in enumerate(["T1", "T1", "T2", "T3"])]
    evs.append(make_event("no-ticket", start, cost=2 * 10**12, tags={"client": "acme"}))
    inv = invoice_from_events(request(terms=from_flags(per_unit="ticket=2.50")), "acme", evs)
    (charge,) = inv.charges
    assert (charge.quantity, charge.unit_price, charge.unit_cost) == (3, Decimal("2.50"), Decimal("2.00"))
    assert charge.amount == Decimal("7.50") and inv.total_due == Decimal("7.50")
    assert [(i.description, i.detail, i.amount) for i in inv.document.items] == [  # type: ignore[union-attr]
        ("3 × ticket", "at USD 2.50 each", Decimal("7.50"))]
    assert "unit_cost" in to_json(inv) and "cost per unit" not in render.as_text(inv)


def test_terms_flags_and_config() -> None:
    assert from_flags() is None
    assert from_flags(markup="12.5%") == Terms("cost-plus", markup=Decimal("0.125"))
    with pytest.raises(BillingError, match="choose one pricing model"):
        from_flags(markup="10%", pass_through=True)
    with pytest.raises(BillingError, match="go with --fixed-fee"):
        from_flags(usage_cap="10")
    cfg = BillingConfig.from_sections({
        "invoices": {"prefix": "ACME", "by": "agent"},
        "billing": {"allocate": "even", "credit_tag": "free=yes", "default": {"markup": "10%"},
                    "clients": {"globex": {"model": "per-unit", "unit": "article", "price": 4.5}}},
    })
    assert (cfg.prefix, cfg.by, str(cfg.credit), cfg.allocation.policy) == ("ACME", "agent", "free=yes", "even")
    assert cfg.terms_for("acme") == Terms("cost-plus", markup=Decimal("0.1"))
    assert cfg.terms_for("globex") == Terms("per-unit", unit_key="article", unit_price=4_500_000_000_000)
    with pytest.raises(ConfigError, match=r"fixed-fee needs fee"):
        BillingConfig.from_sections({"billing": {"clients": {"x": {"model": "fixed-fee"}}}}, path="c.toml")
    with pytest.raises(ConfigError, match=r"\[invoices\] colour: unknown key \(fix: use one of: prefix, by, issuer\)"):
        BillingConfig.from_sections({"invoices": {"colour": "red"}})


# -- documents -----------------------------------------------------------------------------------

def test_credits_show_at_list_price_with_a_negative_line() -> None:
    evs = events([4 * 10**12]) + [make_event("free", datetime(2026, 3, 9, tzinfo=UTC), cost=10**12,
                                             tags={"client": "acme", "billing": "credit"})]
    inv = invoice_from_events(request(), "acme", evs)
    assert [(x.kind, x.amount) for x in inv.lines] == [("usage", Decimal("5.00")),
                                                        ("credit", Decimal("-1.00"))]
    assert inv.total_due == Decimal("4.00")


def test_document_round_trips_and_every_format_renders_the_same(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "l.db")
    store.record(events([1_234_567, 10**12], {"client": "acme", "ticket": "T1"}))
    store.record([fixed_cost("49.00", {"client": "acme"}, note="tool seat, March", day="2026-03-01",
                             event_id="f1"),
                  make_event("shared", datetime(2026, 3, 5, tzinfo=UTC), cost=3 * 10**12),
                  make_event("other", datetime(2026, 3, 5, tzinfo=UTC), cost=10**12, tags={"client": "globex"})])
    inv = invoice_for(store, request(allocation=Allocation.parse("proportional"),
                                     terms=from_flags(markup="33.3333%")), "acme")
    again = from_json(to_json(inv))
    assert again == inv
    for fmt in ("table", "csv", "json", "html"):
        assert render.render(again, fmt) == render.render(inv, fmt)
    assert [x.kind for x in inv.lines] == ["usage", "fixed", "allocation"]
    # $3 x 50.000001234567 / 51.000001234567 = 2.941176472012.19 pico: floored (globex's remainder is larger).
    assert inv.allocated == Decimal("2.941176472012")
    assert [e.id for e in inv.events] == ["f1", "e0", "e1"]
    assert {p["source"] for p in inv.prices} == {"test", "record-cost"}
    store.close()


def test_csv_neutralises_labels_from_tags() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    inv = invoice_from_events(request(by="team"), "acme",
                              [make_event("x", start, cost=10**12, tags={"client": "acme", "team": "=cmd()"})])
    assert "usage,'=cmd(),1,110,1.00,USD,\n" in render.as_csv(inv)
    assert "item,'=cmd(),,,1.00,USD,true\n" in render.as_csv(inv)


# -- issued-invoice storage ----------------------------------------------------------------------

def test_numbers_are_sequential_per_year_and_the_table_is_migrated_once(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "l.db").close()
    issued = IssuedInvoices(tmp_path / "l.db")

    def doc(number: str) -> tuple[str, str, str]:
        return f'{{"n": "{number}"}}', f"text {number}\n", "1.00"

    numbers = [issued.issue("INV", y, "acme", "2026-03", f"{y}-01-02", doc).number for y in (2026, 2026, 2027)]
    assert numbers == ["INV-2026-0001", "INV-2026-0002", "INV-2027-0001"]
    assert issued.issue("ACME", 2026, "globex", "2026-03", "2026-04-01", doc).number == "ACME-2026-0003"
    record = issued.get("INV-2026-0002")
    assert record is not None and record.rendered_text == "text INV-2026-0002\n"
    assert issued.find("acme", "2026-03") == ["INV-2026-0001", "INV-2026-0002", "INV-2027-0001"]
    issued.close()
    reopened = IssuedInvoices(tmp_path / "l.db")
    assert [r.number for r in reopened.index("globex")] == ["ACME-2026-0003"]
    reopened.close()
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations WHERE name = '0007_issued_invoices'").fetchone() == (1,)
    # The ledger in the same file is untouched and still opens.
    assert SQLiteStore(tmp_path / "l.db").count() == 0


def test_a_failed_render_issues_no_number(tmp_path: Path) -> None:
    issued = IssuedInvoices(tmp_path / "l.db")

    def broken(number: str) -> tuple[str, str, str]:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        issued.issue("INV", 2026, "acme", "2026-03", "2026-04-01", broken)
    assert issued.index() == []
    issued.close()


def test_fixed_cost_event_shape() -> None:
    priced = fixed_cost("49.00", {"client": "acme"}, note="tool seat", day="2026-03-01", kind="subscription",
                        event_id="f1", tz=ZoneInfo("Europe/Berlin"))
    e, c = priced.event, priced.cost
    assert (e.event_id, e.provider, e.model, e.source, e.usage.total_tokens) == ("f1", "manual", "subscription",
                                                                                 "manual", 0)
    assert e.ts == datetime(2026, 2, 28, 23, tzinfo=UTC)                # local midnight in Berlin
    assert dict(c.components) == {"reported": 49 * 10**12} and c.total == 49 * 10**12
    assert c.price is not None and (c.price.source, c.price.price_date, c.price.note) == (
        "record-cost", "2026-03-01", "tool seat")
    with pytest.raises(BillingError, match="more than \\$0"):
        fixed_cost("0", {})
