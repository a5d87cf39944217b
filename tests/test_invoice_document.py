"""The client's invoice document: exact cents, tax and currency, the business profile, status marks.

Property tests: the items of every document add up to its subtotal exactly (largest remainder, never a
rounding line), with tax and in another currency; the arithmetic is exact and an issued invoice
reprints identically. Then the profile (config errors that name file, line and key; dashboard edits
kept in the ledger over the config) and status marks, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_billing_cli import DRAFT, billing_commands, config, fail, invoke, run, seed  # noqa: F401 - the fixture

from spendtag.bill import document, profile, render
from spendtag.bill import status as invoice_status
from spendtag.bill.allocation import Allocation, round_to_total
from spendtag.bill.build import Request, invoice_from_events, issued
from spendtag.bill.config import BillingConfig
from spendtag.bill.model import CENT, from_json, to_json
from spendtag.bill.rates import Rates
from spendtag.bill.rates import from_sections as rates_from_sections
from spendtag.bill.store import IssuedInvoices
from spendtag.bill.terms import BillingError, Terms
from spendtag.cli.main import cli
from spendtag.errors import ConfigError
from spendtag.ledger.store import Store
from spendtag.periods import parse_period
from spendtag.settings import read_config

UTC_ZONE = ZoneInfo("UTC")
MARCH = parse_period("2026-03", UTC_ZONE)


# -- cents that add up ------------------------------------------------------------------------------------

exact_cents = st.builds(Fraction, st.integers(-10**18, 10**19), st.integers(1, 10**12))


@settings(max_examples=3000, deadline=None)
@given(st.lists(exact_cents, min_size=1, max_size=30))
def test_largest_remainder_cents_add_up_to_the_rounded_sum(values: list[Fraction]) -> None:
    total = round(sum(values, Fraction(0)))
    parts = round_to_total(values, total)
    assert sum(parts) == total
    assert all(abs(p - v) < 1 for p, v in zip(parts, values, strict=True))


def test_round_to_total_gives_the_cents_to_the_largest_remainders_first() -> None:
    thirds = [Fraction(100, 3)] * 3                   # 33.33.. each, 100 in all: one gets the extra cent
    assert round_to_total(thirds, 100) == [34, 33, 33]
    assert round_to_total([Fraction(1, 10), Fraction(9, 10)], 1) == [0, 1]
    with pytest.raises(ValueError):
        round_to_total([Fraction(1, 2)], 5)


def _request(terms: Terms, allocation: str, clients: dict[str, object], rate: Decimal | None) -> Request:
    who = profile.from_sections({"business": {"name": "Agency"}, "billing": {"clients": {"acme": clients}}})
    rates = Rates().with_given((f"{clients.get('currency', 'USD')}={rate}",)) if rate is not None else Rates()
    return Request("2026-03", MARCH, UTC_ZONE, BillingConfig(), allocation=Allocation.parse(allocation),
                   terms=terms, profile=who, rates=rates, on=date(2026, 4, 1))


costs = st.lists(st.integers(0, 5 * 10**13), min_size=0, max_size=12)
terms_st = st.one_of(
    st.just(Terms()),
    st.decimals(0, 300, places=4).map(lambda p: Terms("cost-plus", markup=p / 100)),
    st.tuples(st.integers(0, 10**15), st.integers(0, 10**15), st.sampled_from(["bill", "absorb"])).map(
        lambda t: Terms("fixed-fee", fee=t[0], usage_cap=t[1], overage=t[2])),  # type: ignore[arg-type]
    st.integers(0, 10**14).map(lambda p: Terms("per-unit", unit_key="ticket", unit_price=p)),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(costs, st.lists(st.integers(0, 10**13), max_size=3), terms_st, st.integers(0, 10**13),
       st.sampled_from(["folded", "separate"]), st.one_of(st.none(), st.decimals("0.000001", 200, places=6)),
       st.decimals(0, 30, places=3), st.booleans())
def test_every_document_adds_up_with_tax_and_currency(usage: list[int], free: list[int], terms: Terms, shared: int,
                                                      layout: str, rate: Decimal | None, tax: Decimal,
                                                      reverse: bool) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    evs = [make_event(f"u{i}", start + timedelta(hours=i), cost=c, model=f"m{i % 3}",
                      tags={"client": "acme", "ticket": f"T{i % 4}"}) for i, c in enumerate(usage)]
    evs += [make_event(f"f{i}", start, cost=c, tags={"client": "acme", "billing": "credit"})
            for i, c in enumerate(free)]
    details: dict[str, object] = {"layout": layout, "tax_rate": f"{tax}%", "reverse_charge": reverse}
    if rate is not None:
        details["currency"] = "EUR"
    req = _request(terms, "proportional", details, rate)
    inv = invoice_from_events(req, "acme", evs, allocated=shared, shared=shared)
    doc = inv.document
    assert doc is not None
    # Items: whole cents, adding up to the subtotal exactly; the subtotal is the exact total, converted, rounded once.
    assert all(i.amount == i.amount.quantize(CENT) for i in doc.items)
    assert sum((i.amount for i in doc.items), Decimal("0.00")) == doc.subtotal
    exact = inv.total_exact * (rate if rate is not None else 1)
    assert doc.subtotal == exact.quantize(CENT, rounding=ROUND_HALF_EVEN)
    if rate is None:
        assert doc.subtotal == inv.total_due and doc.currency == "USD" and doc.exchange is None
    else:
        assert doc.currency == "EUR" and doc.exchange is not None and doc.exchange.rate == rate
    # Tax: on the subtotal, rounded half-even to cents; reverse charge: none, said so.
    (expected_tax,) = [Decimal("0.00")] if reverse or not tax else [
        (doc.subtotal * tax / 100).quantize(CENT, rounding=ROUND_HALF_EVEN)]
    assert sum((t.amount for t in doc.taxes), Decimal("0.00")) == expected_tax
    assert doc.total == doc.subtotal + expected_tax
    if reverse:
        assert doc.taxes[0].reverse_charge and any("Reverse charge" in n for n in doc.notes)
    # Each item within a cent of its exact value.
    exact_items = document.exact_items(inv, layout)
    factor = Fraction(rate) if rate is not None else Fraction(1)
    for item, (_, _, value) in zip(doc.items, exact_items, strict=True):
        assert abs(Fraction(item.amount) - value * factor) < Fraction(1, 100)
    # Reprint: the issued document comes back identical, and renders identically.
    final = issued(inv, "INV-2026-0001", "2026-04-01")
    again = from_json(to_json(final))
    assert again == final
    assert render.as_text(again) == render.as_text(final) and render.as_html(again) == render.as_html(final)


def test_a_version_1_document_still_renders_the_same_each_time() -> None:
    inv = invoice_from_events(_request(Terms("cost-plus", markup=Decimal("0.3")), "overhead", {}, None), "acme",
                              [make_event("e", datetime(2026, 3, 2, tzinfo=UTC), cost=3 * 10**12,
                                          tags={"client": "acme"})])
    old = to_json(issued(inv, "INV-2026-0001", "2026-04-01")).replace('"version": 2', '"version": 1')
    old_doc = from_json(old)
    import json

    data = json.loads(old)
    data.pop("client_document")
    legacy = from_json(json.dumps(data))
    assert legacy.document is None
    assert render.as_html(legacy) == render.as_html(from_json(json.dumps(data)))
    assert document.of(legacy).total == Decimal("3.90") and old_doc.document is not None


# -- the profile in the config file -----------------------------------------------------------------------

def _config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spendtag.toml"
    path.write_text(text)
    data = read_config(path)
    with pytest.raises(ConfigError) as err:
        profile.from_sections(data, path=str(path))
        rates_from_sections(data, path=str(path))
        BillingConfig.from_sections(data, path=str(path))
    return str(err.value).replace(str(path), "spendtag.toml")


@pytest.mark.parametrize(("text", "message"), [
    ('[business]\nname = "A"\ntax_idd = "DE1"\n',
     "spendtag.toml:3: [business] tax_idd: unknown key (fix: did you mean 'tax_id'? use one of: name, address, "
     "tax_id, email, phone, website, logo, payment, iban, bic, payment_link, terms_days, notes, timezone, "
     "invoice_number)"),
    ('[business]\nterms_days = 400\n',
     "spendtag.toml:2: [business] terms_days: must be a whole number from 0 to 365, not the number 400 "
     "(fix: write terms_days = 30)"),
    ('[business]\ninvoice_number = "{prefix}-{seq}"\n',
     "spendtag.toml:2: [business] invoice_number: invoice number '{prefix}-{seq}' must hold {year} and {seq}: "
     'numbers restart each year (fix: write invoice_number = "{prefix}-{year}-{seq:04d}")'),
    ('[business]\nlogo = "logo.gif"\n',
     "spendtag.toml:2: [business] logo: 'logo.gif' is not a .png or .jpg file (fix: write logo = \"~/logo.png\")"),
    ('[business]\ntimezone = "Mars/Olympus"\n',
     "spendtag.toml:2: [business] timezone: unknown time zone 'Mars/Olympus': use an IANA name such as "
     'Europe/Berlin (fix: write timezone = "Europe/Berlin")'),
    ('[billing.clients.acme]\nmarkup = "30%"\ncurrency = "EURO"\n',
     "spendtag.toml:3: [billing.clients.acme] currency: 'EURO' is not an ISO 4217 currency code "
     '(fix: write currency = "EUR")'),
    ('[billing.clients.acme]\ntax_rate = "lots"\n',
     "spendtag.toml:2: [billing.clients.acme] tax_rate: 'lots' is not a percentage (fix: write tax_rate = \"20%\")"),
    ('[billing.clients.acme]\nreverse_charge = "yes"\n',
     "spendtag.toml:2: [billing.clients.acme] reverse_charge: must be true or false, not 'yes' "
     "(fix: write reverse_charge = true (no quotes))"),
    ('[billing.default]\nlayout = "mixed"\n',
     "spendtag.toml:2: [billing.default] layout: 'mixed' is not allowed (fix: use one of: folded, separate)"),
    ('[billing.rates]\nEUR = "-1"\n',
     "spendtag.toml:2: [billing.rates] EUR: EUR: '-1' is not a rate: give units of the currency per 1 USD, e.g. "
     "0.92 (more than 0, at most 12 decimals) (fix: write EUR = \"0.92\" (units of the currency per 1 USD))"),
])
def test_config_errors_name_the_file_line_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    assert _config_error(tmp_path, text) == message


def test_client_details_sit_beside_the_terms_and_the_issuer_is_still_read() -> None:
    data = {"invoices": {"issuer": "Old Agency Ltd"},
            "billing": {"default": {"currency": "EUR", "tax_rate": "19%"},
                        "clients": {"acme": {"markup": "30%", "legal_name": "Acme SARL", "reverse_charge": True},
                                    "globex": {"currency": "GBP"}}}}
    who = profile.from_sections(data)
    cfg = BillingConfig.from_sections(data)
    assert who.business.name == "Old Agency Ltd"
    assert cfg.terms_for("acme") == Terms("cost-plus", markup=Decimal("0.3"))
    acme, globex, other = who.client("acme"), who.client("globex"), who.client("initech")
    assert (acme.legal_name, acme.currency, acme.tax_rate, acme.reverse_charge) == ("Acme SARL", "EUR",
                                                                                    Decimal("0.19"), True)
    assert (globex.currency, globex.tax_rate, other.currency) == ("GBP", Decimal("0.19"), "EUR")
    with pytest.raises(ConfigError, match=r"\[billing.clients.acme\] colour: unknown key"):
        BillingConfig.from_sections({"billing": {"clients": {"acme": {"colour": "red"}}}})


# -- dashboard edits in the ledger ------------------------------------------------------------------------

def test_saved_details_override_the_config_and_an_empty_value_reverts(store: Store) -> None:
    settings_ = SimpleNamespace(sections={"business": {"name": "From File", "terms_days": 30},
                                          "billing": {"clients": {"acme": {"currency": "EUR"}}}},
                                config_path="spendtag.toml")
    profile.save_business(store, {"name": "Northwind GmbH", "address": "Hauptstraße 1\n10115 Berlin",
                                  "terms_days": "14"}, by="ana")
    profile.save_client(store, "acme", {"legal_name": "Acme SARL", "reverse_charge": "true", "tax_rate": "20%"},
                        by="ana")
    who = profile.load(settings_, store)
    assert (who.business.name, who.business.address, who.business.terms_days) == (
        "Northwind GmbH", ("Hauptstraße 1", "10115 Berlin"), 14)
    acme = who.client("acme")
    assert (acme.legal_name, acme.currency, acme.reverse_charge, acme.tax_rate) == ("Acme SARL", "EUR", True,
                                                                                    Decimal("0.2"))
    profile.save_business(store, {"name": ""}, by="ben")          # back to the file
    assert profile.load(settings_, store).business.name == "From File"
    changes = store.billing_setting_changes("business")
    assert [(c.name, c.value, c.by) for c in changes][-1] == ("name", "", "ben")
    assert all(c.at.tzinfo is not None for c in changes)
    with pytest.raises(BillingError, match="business terms_days: must be a whole number from 0 to 365"):
        profile.save_business(store, {"terms_days": "400"}, by="ana")
    with pytest.raises(BillingError, match="unknown field 'colour'"):
        profile.save_client(store, "acme", {"colour": "red"}, by="ana")
    with pytest.raises(BillingError, match="say who made the change"):
        profile.save_client(store, "acme", {"po_number": "PO-1"}, by=" ")
    assert profile.load(settings_, store).business.terms_days == 14      # nothing of a refused save was kept


# -- status -----------------------------------------------------------------------------------------------

def _issue(store: Store, client: str = "acme", due_on: str = "2026-04-15") -> str:
    record = IssuedInvoices.for_store(store).issue("INV", 2026, client, "2026-03", "2026-04-01",
                                                   lambda n: ("{}", "text", "10.00"), currency="EUR", due_on=due_on)
    return record.number


def test_status_marks_follow_the_rules_and_overdue_is_derived(store: Store) -> None:
    number = _issue(store)
    found = store.issued_invoice(number)
    assert found is not None and (found.status, found.currency, found.due_on) == ("issued", "EUR", "2026-04-15")
    assert invoice_status.current(found, date(2026, 4, 15)) == "issued"
    assert invoice_status.current(found, date(2026, 4, 16)) == "overdue"
    at = datetime(2026, 4, 2, 9, tzinfo=UTC)
    invoice_status.mark(store, number, "sent", "ana", at)
    sent = store.issued_invoice(number)
    assert sent is not None and (sent.status, sent.status_by, sent.status_at) == ("sent", "ana", at)
    assert invoice_status.current(sent, date(2026, 5, 1)) == "overdue"
    invoice_status.mark(store, number, "paid", "ben", at + timedelta(days=20))
    assert invoice_status.current(store.issued_invoice(number), date(2026, 5, 1)) == "paid"
    with pytest.raises(BillingError, match=r"was paid \(2026-04-22 by ben\): a paid invoice is not voided"):
        invoice_status.mark(store, number, "void", "ana")
    with pytest.raises(BillingError, match=r"is already paid"):
        invoice_status.mark(store, number, "paid", "ana")
    other = _issue(store, "globex")
    invoice_status.mark(store, other, "void", "ana")
    with pytest.raises(BillingError, match="was voided .*: a void invoice cannot be marked paid; issue a new one"):
        invoice_status.mark(store, other, "paid", "ana")
    assert [m.status for m in store.invoice_marks(number)] == ["sent", "paid"]
    assert [(r.number, r.status) for r in store.issued_invoices()] == [(number, "paid"), (other, "void")]
    with pytest.raises(BillingError, match="mark an invoice sent, paid or void"):
        invoice_status.mark(store, number, "lost", "ana")
    with pytest.raises(BillingError, match="no issued invoice 'INV-2026-0099'"):
        invoice_status.mark(store, "INV-2026-0099", "paid", "ana")
    assert invoice_status.current(SimpleNamespace(number=None), date(2026, 4, 1)) == "draft"


def test_issue_takes_the_number_scheme(store: Store) -> None:
    record = IssuedInvoices.for_store(store).issue("AG", 2026, "acme", "2026-03", "2026-04-01",
                                                   lambda n: ("{}", n, "1.00"), scheme="{prefix}/{year}/{seq:03d}")
    assert record.number == "AG/2026/001" and record.rendered_text == "AG/2026/001"


# -- from the command line --------------------------------------------------------------------------------

BUSINESS = ('[business]\nname = "Northwind Studio"\naddress = ["Hauptstraße 1", "10115 Berlin"]\n'
            'tax_id = "DE123"\niban = "DE89 3704"\nterms_days = 14\ninvoice_number = "{prefix}/{year}/{seq:03d}"\n'
            '[billing.clients.acme]\nmarkup = "30%"\nlegal_name = "Acme SARL"\ncurrency = "EUR"\ntax_rate = "20%"\n')


def test_issue_in_another_currency_reprints_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config(tmp_path, monkeypatch, BUSINESS)
    seed()
    assert "acme is invoiced in EUR: give the rate with --rate EUR=0.92" in fail(
        "invoice", "--client", "acme", "--period", "2026-03", *DRAFT)
    assert "error: --rate: 'lots' is not a rate: give units of the currency per 1 USD" in fail(
        "invoice", "--client", "acme", "--period", "2026-03", "--rate", "EUR=lots", *DRAFT)
    code, text, err = invoke("invoice", "--client", "acme", "--period", "2026-03", "--rate", "EUR=0.92@2026-03-31",
                             "--issue", *DRAFT)
    assert code == 0, err
    # (3 + 49 - 1) x 1.3 = 66.30 USD; x 0.92 = 60.996 -> EUR 61.00; VAT 20% EUR 12.20; total EUR 73.20.
    assert err.startswith("issued INV/2026/001 · acme · 2026-03 · total due EUR 73.20 · due 2026-04-15\n")
    assert text.splitlines()[0] == "INVOICE INV/2026/001"
    assert [" ".join(x.split()) for x in text.splitlines() if x.startswith(("Subtotal", "VAT", "Total"))] == [
        "Subtotal EUR 61.00", "VAT 20% EUR 12.20", "Total due (EUR) EUR 73.20"]
    assert "Amounts converted from USD at 1 USD = 0.92 EUR (rate of 2026-03-31).\n" in text
    html = run("invoice", "show", "INV/2026/001", "--format", "html")
    pdf_a = tmp_path / "a.pdf"
    run("invoice", "show", "INV/2026/001", "--format", "pdf", "--output", str(pdf_a))
    # Rates, terms and the profile change; the issued invoice does not.
    config(tmp_path, monkeypatch, BUSINESS.replace("Northwind Studio", "Someone Else").replace('"20%"', '"10%"')
           + '[billing.rates]\nEUR = "0.5"\n')
    assert run("invoice", "show", "INV/2026/001") == text
    assert run("invoice", "show", "INV/2026/001", "--format", "html") == html
    pdf_b = tmp_path / "b.pdf"
    run("invoice", "show", "INV/2026/001", "--format", "pdf", "--output", str(pdf_b))
    assert pdf_a.read_bytes() == pdf_b.read_bytes()
    assert "Someone Else" in run("invoice", "--client", "acme", "--period", "2026-03", *DRAFT)
    assert run("invoice", "list") == (
        "number        client  period   due         status   total due\n"
        "INV/2026/001  acme    2026-03  2026-04-15  overdue  EUR 73.20\n")
    assert run("invoice", "mark", "INV/2026/001", "sent", "--by", "ana", "--at", "2026-04-02T09:00:00Z") == (
        "INV/2026/001: sent · 2026-04-02 09:00 · by ana\n")
    assert run("invoice", "mark", "INV/2026/001", "paid", "--by", "ana", "--at", "2026-04-10") .endswith(
        "paid · 2026-04-10 00:00 · by ana\n")
    assert "paid" in run("invoice", "list").splitlines()[1]
    assert fail("invoice", "mark", "INV/2026/001", "void", "--by", "ana") == (
        "error: INV/2026/001 was paid (2026-04-10 by ana): a paid invoice is not voided; refund it with "
        "`spendtag record-cost --credit AMOUNT --tag client=NAME`\n")


def test_a_rate_file_gives_the_latest_rate_on_or_before_the_issue_date(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2026-03-31,EUR,0.90\n2026-04-01,EUR,0.95\n2026-05-01,EUR,0.50\n"
                     "2026-04-01,GBP,0.80\n")
    config(tmp_path, monkeypatch, BUSINESS + f'[billing.rates]\nsource = "{rates}"\n')
    seed()
    out = run("invoice", "--client", "acme", "--period", "2026-03", *DRAFT)
    assert "Amounts converted from USD at 1 USD = 0.95 EUR (rate of 2026-04-01).\n" in out


def test_the_invoice_table_fits_narrow_terminals() -> None:
    seed()
    for width in ("60", "80", "100"):
        result = CliRunner().invoke(cli, ["invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%",
                                          *DRAFT], env={"COLUMNS": width})
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(len(x) for x in lines) <= int(width)
        assert lines[-1].endswith("USD 66.30")
