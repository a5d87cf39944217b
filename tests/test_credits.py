"""Credits owed to a client (``record-cost --credit``): recorded apart from spend, taken off invoices after
the charges, never below $0.00 (the rest carried to the next invoice), frozen into issued invoices.

The ledger is test_billing_cli's: acme in March 2026 is $3 of test-model usage, a $1 credited call
(billing=credit) and a $49 tool seat; at 30% markup its invoice is (3 + 49 - 1) x 1.3 = $66.30.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_billing_cli import billing_commands, fail, invoke, run, seed  # noqa: F401 - the fixture wires the commands

from spendtag.bill.credits import CARRIED_LABEL, Available, apply, new_credit
from spendtag.bill.model import EXACT, exact_sum, usd
from spendtag.guard.budgets import Budget, status
from spendtag.ledger import open_store
from spendtag.ledger.copy import copy_ledger
from spendtag.ledger.credit_tables import Credit
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.money import to_decimal
from spendtag.periods import zone

USD = 10**12
MARCH = datetime(2026, 3, 5, tzinfo=UTC)


def cells(text: str, label: str) -> list[str]:
    """The cells after ``label`` on the line that starts with it (columns are two or more spaces apart)."""
    line = next(x for x in text.splitlines() if x.startswith(label))
    return [c.strip() for c in line[len(label):].strip().split("  ") if c.strip()]


CHARGES = ("cost", "markup", "fee", "overage", "units", "credit", "credit_carried", "total_exact", "total_due")


def charges(csv_text: str) -> list[str]:
    """The charges of an invoice's CSV appendix (after the cost lines), as "label $amount"."""
    rows = list(csv.reader(io.StringIO(csv_text)))[1:]
    start = next(i for i, r in enumerate(rows) if r[0] == "subtotal")
    return [f"{r[1]} {usd(Decimal(r[4]))}" for r in rows[start + 1:] if r[0] in CHARGES]


# -- recording: one-line errors for nonsense ----------------------------------------------------------

@pytest.mark.parametrize(("args", "error"), [
    (["-20"], "error: a credit must be more than $0, got '-20': give the amount owed to the client, e.g. --credit "
              "20.00 (it is taken off the client's next invoice)"),
    (["0"], "error: a credit must be more than $0, got '0': give the amount owed to the client, e.g. --credit 20.00 "
            "(it is taken off the client's next invoice)"),
    (["twenty"], "error: credit 'twenty' is not an amount: give the USD owed to the client, e.g. 20.00"),
    (["NaN"], "error: credit 'NaN' is not an amount: give the USD owed to the client, e.g. 20.00"),
    (["1e9"], "error: credit '1e9' is too large: at most $9,000,000.00 per credit"),
    (["20", "--kind", "refund"], "error: --kind is for costs; a credit has none (say what it is with --note)"),
    (["20", "--note", "line\nbreak"], "error: --note must be one line of printable text, at most 256 characters "
                                      "(it is printed on the client's invoice)"),
])
def test_nonsense_credits_are_refused_in_one_line(args: list[str], error: str) -> None:
    assert fail("record-cost", "--credit", *args, "--tag", "client=acme") == error + "\n"
    assert run("invoice", "credits").startswith("no credits recorded")


def test_a_credit_names_its_client() -> None:
    assert fail("record-cost", "--credit", "20", "--tag", "project=x") == (
        "error: a credit is owed to a client: add --tag client=NAME (the client of the invoice)\n")


def test_a_negative_fixed_cost_points_at_credits() -> None:
    assert fail("record-cost", "-5", "--tag", "client=acme") == (
        "error: a fixed cost must be more than $0, got '-5' (for money owed to a client, record a credit: "
        "record-cost --credit 20 --tag client=NAME)\n")


def test_recording_is_idempotent_on_its_id_and_is_never_spend() -> None:
    seed()
    before = json.loads(run("report", "--period", "2026-03", "--format", "json"))
    args = ("record-cost", "--credit", "20", "--tag", "client=acme", "--note", "outage refund", "--date", "2026-03-05",
            "--event-id", "c1")
    assert run(*args) == "recorded credit: c1 · $20.00 owed to client=acme from 2026-03-05 · outage refund\n"
    assert run(*args[:2], "99", *args[3:]) == (
        "already recorded (unchanged): c1 · $20.00 owed to client=acme from 2026-03-05 · outage refund\n")
    assert json.loads(run("report", "--period", "2026-03", "--format", "json")) == before      # not negative spend
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        assert store.count() == 7 and store.get_event("c1") is None          # the seed's 6 calls and 1 fixed cost
    finally:
        store.close()


def test_budgets_do_not_count_a_credit() -> None:
    seed()
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        budget = Budget("acme", 100 * USD)
        at = datetime(2026, 3, 20, tzinfo=UTC)
        spent = status(store, budget, at, zone("UTC")).spent
        assert spent == sum(p.cost.total for p in store.events(Filters(since=datetime(2026, 3, 1, tzinfo=UTC),
                                                                         until=datetime(2026, 4, 1, tzinfo=UTC))))
    finally:
        store.close()
    run("record-cost", "--credit", "30", "--tag", "client=acme", "--date", "2026-03-05")
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        assert status(store, budget, at, zone("UTC")).spent == spent
    finally:
        store.close()


# -- on the invoice --------------------------------------------------------------------------------------

def test_a_credit_is_its_own_line_after_the_markup() -> None:
    seed()
    run("record-cost", "--credit", "20", "--tag", "client=acme", "--note", "outage refund", "--date", "2026-03-05",
        "--event-id", "c1")
    run("record-cost", "--credit", "5", "--tag", "client=globex", "--date", "2026-03-05")     # not acme's
    run("record-cost", "--credit", "7", "--tag", "client=acme", "--date", "2026-04-01")       # after March
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--format", "csv")
    assert charges(out) == [
        "Cost at list price $51.00",
        "Markup 30% $15.30",                          # on the cost only: (3 + 49 - 1) x 0.3
        "Credit · 2026-03-05 · outage refund -$20.00",
        "Total before rounding $46.30",
        "Total due $46.30"]
    doc = json.loads(run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--format", "json"))
    assert ("Credits are amounts owed to you (a refund, goodwill, a prepayment). They are taken off the total after "
            "the charges above, oldest first, and no markup or fee applies to them. The total due is never below "
            "$0.00: a credit left over is carried to your next invoice.") in doc["statement"]
    text = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%")
    assert cells(text, "Credit · outage refund") == ["USD -20.00"] and cells(text, "Total due (USD)") == ["USD 46.30"]
    assert doc["credit_uses"] == [{"id": "c1", "day": "2026-03-05", "note": "outage refund",
                                   "available": "20.00", "applied": "20.00"}]
    assert doc["credit_carried"] == "0.00" and doc["total_due"] == "46.30"
    assert doc["cost"] == "52.00"       # the cost side is untouched: a credit is not negative usage
    csv_rows = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--format", "csv")
    assert "credit,Credit · 2026-03-05 · outage refund,,,-20.00,USD,true\n" in csv_rows
    html = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--format", "html")
    assert ('<tr><td class="d">Credit · outage refund<small>2026-03-05</small></td><td class="n">USD -20.00</td>'
            '</tr>' in html)


def test_credits_above_the_charges_floor_the_total_and_carry_the_rest() -> None:
    seed()
    run("record-cost", "--credit", "100", "--tag", "client=acme", "--note", "prepayment", "--date", "2026-03-01",
        "--event-id", "big")
    march = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--format", "csv")
    assert charges(march)[2:] == [
        "Credit · 2026-03-01 · prepayment -$100.00",
        f"{CARRIED_LABEL} $33.70",
        "Total before rounding $0.00",
        "Total due $0.00"]
    text = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%")
    assert cells(text, "Credit · prepayment") == ["USD -66.30"]     # what it takes off, the rest carried
    assert "A credit of USD 33.70 is carried to your next invoice.\n" in text
    code, _, err = invoke("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--issue",
                          "--issued-on", "2026-04-01")
    assert code == 0 and "total due USD 0.00" in err
    # April: acme's x1 call ($2.00, $2.60 with the markup) takes $2.60 of the $33.70 left.
    april = run("invoice", "--client", "acme", "--period", "2026-04", "--markup", "30%", "--format", "csv")
    assert charges(april) == [
        "Cost at list price $2.00",
        "Markup 30% $0.60",
        "Credit · 2026-03-01 · prepayment (the rest of $100.00) -$33.70",
        f"{CARRIED_LABEL} $31.10",
        "Total before rounding $0.00",
        "Total due $0.00"]
    assert run("invoice", "credits") == (
        "date        client   credit    used    left  note        id\n"
        "2026-03-01  acme    $100.00  $66.30  $33.70  prepayment  big\n"
        "total               $100.00  $66.30  $33.70\n")


def test_an_issued_invoice_keeps_its_credits_and_a_reissue_does_not_use_them_twice() -> None:
    seed()
    run("record-cost", "--credit", "20", "--tag", "client=acme", "--note", "refund", "--date", "2026-03-05",
        "--event-id", "c1")
    run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--issue", "--issued-on",
        "2026-04-01")
    issued = run("invoice", "show", "INV-2026-0001")
    assert cells(issued, "Total due (USD)") == ["USD 46.30"]
    # A credit for March entered after March was issued: the issued invoice does not change; the note says where
    # the credit goes.
    code, out, err = invoke("record-cost", "--credit", "6", "--tag", "client=acme", "--date", "2026-03-31",
                            "--event-id", "late")
    assert code == 0 and out.startswith("recorded credit: late · $6.00 owed to client=acme from 2026-03-31")
    assert err == ("note: INV-2026-0001 already billed that day's period; the credit goes on acme's next invoice "
                   "(or on that period's with `invoice --reissue`)\n")
    assert run("invoice", "show", "INV-2026-0001") == issued
    april = run("invoice", "--client", "acme", "--period", "2026-04", "--markup", "30%", "--format", "csv")
    assert charges(april)[2] == "Credit · 2026-03-31 -$6.00"          # c1 was used up by INV-2026-0001
    # Reissuing March replaces the first issue: c1 is applied again (not "used" twice), and the late credit too.
    run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--issue", "--reissue",
        "--issued-on", "2026-04-02")
    again = run("invoice", "show", "INV-2026-0002")
    assert cells(again, "Total due (USD)") == ["USD 40.30"]
    assert "Credit · 2026-03-31" not in run("invoice", "--client", "acme", "--period", "2026-04", "--markup", "30%")
    assert run("invoice", "credits", "--client", "acme").splitlines()[-1].split() == [
        "total", "$26.00", "$26.00", "$0.00"]


def test_invoice_all_applies_each_clients_own_credits(tmp_path: Path) -> None:
    seed()
    run("record-cost", "--credit", "1.25", "--tag", "client=globex", "--date", "2026-03-05")
    run("invoice", "--all", "--period", "2026-03", "--output-dir", str(tmp_path / "out"), "--format", "json")
    globex = json.loads((tmp_path / "out" / "globex-2026-03.json").read_text())
    acme = json.loads((tmp_path / "out" / "acme-2026-03.json").read_text())
    assert [u["applied"] for u in globex["credit_uses"]] == ["1.25"]
    assert acme["credit_uses"] == []
    summary = (tmp_path / "out" / "summary.csv").read_text()
    assert any(line.startswith("globex,") for line in summary.splitlines())


# -- the arithmetic ------------------------------------------------------------------------------------------

def _available(*amounts: int) -> list[Available]:
    return [Available(Credit(f"c{i}", "acme", MARCH, "2026-03-05", a), a) for i, a in enumerate(amounts)]


@given(billed=st.integers(0, 10**16), amounts=st.lists(st.integers(1, 10**16), max_size=6))
def test_credits_never_make_a_total_negative_and_every_cent_is_accounted_for(billed: int,
                                                                             amounts: list[int]) -> None:
    total_before = to_decimal(billed)
    lines, uses, carried = apply(total_before, _available(*amounts))
    total = EXACT.add(total_before, exact_sum(c.amount for c in lines))
    offered = exact_sum(to_decimal(a) for a in amounts)
    assert total == max(EXACT.subtract(total_before, offered), Decimal(0))
    assert exact_sum(u.applied for u in uses) == min(total_before, offered)
    assert carried == EXACT.subtract(offered, exact_sum(u.applied for u in uses)) >= 0
    assert all(0 <= u.applied <= u.available for u in uses)
    # Oldest first: a credit is only partly used when every one after it is not used at all.
    partly = [i for i, u in enumerate(uses) if u.applied < u.available]
    assert all(uses[j].applied == 0 for j in range(partly[0] + 1, len(uses))) if partly else True


def test_new_credit_reads_the_day_in_the_time_zone() -> None:
    c = new_credit("$1,250.5", {"client": "acme", "project": "x"}, client_key="client", day="2026-03-05",
                   credit_id="c", tz=zone("America/New_York"))
    assert (c.amount, c.client, c.day, c.ts) == (1_250_500_000_000_000, "acme", "2026-03-05",
                                                  datetime(2026, 3, 5, 5, tzinfo=UTC))


# -- the ledger: SQLite and PostgreSQL --------------------------------------------------------------------

def test_store_keeps_credits_once_per_id_in_date_order(store: Store) -> None:
    first = Credit("c2", "acme", datetime(2026, 3, 9, tzinfo=UTC), "2026-03-09", 5 * USD, "b", {"client": "acme"})
    assert store.add_credit(first)
    assert store.add_credit(Credit("c1", "acme", datetime(2026, 3, 1, tzinfo=UTC), "2026-03-01", 7, "a"))
    assert store.add_credit(Credit("g1", "globex", datetime(2026, 3, 2, tzinfo=UTC), "2026-03-02", 1, ""))
    assert not store.add_credit(Credit("c2", "acme", datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01", 1, "again"))
    assert store.credit("c2") == first
    assert [c.credit_id for c in store.credits()] == ["c1", "g1", "c2"]
    assert [c.credit_id for c in store.credits("acme")] == ["c1", "c2"]
    assert [c.credit_id for c in store.credits("acme", until=datetime(2026, 3, 9, tzinfo=UTC))] == ["c1"]
    assert store.credit("nope") is None and store.count() == 0


def test_a_ledger_copy_keeps_the_credits(tmp_path: Path) -> None:
    source = open_store(str(tmp_path / "a.db"))
    target = open_store(str(tmp_path / "b.db"))
    try:
        credit = Credit("c1", "acme", MARCH, "2026-03-05", 20 * USD, "refund", {"client": "acme"})
        source.add_credit(credit)
        result = copy_ledger(source, target)
        assert result.ok and result.rows["credits"] == 1
        assert target.credits() == [credit]
    finally:
        source.close()
        target.close()
