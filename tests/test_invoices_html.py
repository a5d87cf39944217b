"""The invoice a client receives: its HTML page (in a real browser) and its PDF (rendered and read back).

The PDF is read with pypdfium2 (a test dependency): rendered to an image, which must not be
blank, and its text extracted, which must hold the seller, the bill-to, the due date, the tax
line and the total, and none of the agency's internals.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import make_event

from spendtag.bill import profile, render
from spendtag.bill.allocation import Allocation
from spendtag.bill.build import Request, invoice_from_events, issued
from spendtag.bill.config import BillingConfig
from spendtag.bill.fixed_costs import fixed_cost
from spendtag.bill.model import Invoice, from_json, to_json
from spendtag.bill.rates import Rates
from spendtag.bill.terms import from_flags
from spendtag.periods import parse_period

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
# Never on a document for the client: units, provenance, tag syntax, the agency's cost and its rounding.
INTERNALS = ("pico", "1e-12", "genai-prices", "client=", "billing=credit", "Cost at list price", "Markup",
             "banker", "half-even", "Rounding", "list price", "price data", "override", "record-cost",
             "untagged", "Shared cost allocated", "proportional", "(none)", "Cost subtotal")
LONG_PROJECT = "/home/dev/clients/acme/an-unusually-long-project-directory-name-without-any-break"


def png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (120, 40), (20, 80, 160)).save(path)
    return path


def sections(logo: Path | None = None) -> dict[str, object]:
    business: dict[str, object] = {
        "name": "Studio Müller & Söhne <GmbH>", "address": ["Hauptstraße 1", "10115 Berlin", "Deutschland"],
        "tax_id": "DE123456789", "email": "billing@mueller.example", "iban": "DE89 3704 0044 0532 0130 00",
        "payment_link": "https://pay.example.com/mueller", "terms_days": 30, "notes": "Vielen Dank!",
        "timezone": "Europe/Berlin"}
    if logo is not None:
        business["logo"] = str(logo)
    return {"business": business,
            "billing": {"clients": {"acme <script>": {
                "legal_name": "Société Façade Złota €", "address": ["1 rue de la Paix", "75002 Paris"],
                "tax_id": "FR12345678901", "po_number": "PO-7781", "currency": "EUR", "tax_rate": "20%",
                "terms_days": 14}}}}


def make_invoice(layout: str = "folded", logo: Path | None = None, by: str = "model") -> Invoice:
    utc = ZoneInfo("UTC")
    data = sections(logo)
    data["billing"]["clients"]["acme <script>"]["layout"] = layout  # type: ignore[index]
    who = profile.from_sections(data)
    req = Request("2026-03", parse_period("2026-03", utc), utc, BillingConfig(), by=by,
                  allocation=Allocation.parse("even"), terms=from_flags(markup="30%"), profile=who,
                  rates=Rates().with_given(("EUR=0.92@2026-03-31",)), on=date(2026, 4, 1))
    tags = {"client": "acme <script>"}
    evs = [make_event("a1", datetime(2026, 3, 2, tzinfo=UTC), cost=3 * 10**12, tags=tags, project="acme-site"),
           make_event("a2", datetime(2026, 3, 3, tzinfo=UTC), model="claude-haiku-4-5", cost=10**12,
                      tags={**tags, "billing": "credit"}),
           make_event("a3", datetime(2026, 3, 4, tzinfo=UTC), cost=2 * 10**12, tags=tags, project=LONG_PROJECT),
           fixed_cost("49.00", tags, note="tool seat, March", day="2026-03-01", event_id="f1")]
    draft = invoice_from_events(req, "acme <script>", evs, allocated=945_454_545_455, shared=10**12)
    return issued(draft, "INV-2026-0001", "2026-04-01")


def test_html_is_self_contained_escaped_and_made_for_phones(tmp_path: Path) -> None:
    html = render.as_html(make_invoice(logo=png(tmp_path / "logo.png")))
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<img alt="" src="data:image/png;base64,' in html                # the logo travels inside the page
    without_logo = re.sub(r'src="data:image/png;base64,[^"]+"', "", html)
    assert not re.search(r"<link|<script|src=|url\(", without_logo)
    assert "Studio Müller &amp; Söhne &lt;GmbH&gt;" in html and "Société Façade Złota €" in html
    # (3 + 2 + 49 + 0.945454545455 + 1 - 1) x 1.3 = 71.4290909..., in EUR at 0.92 = 65.7147... -> 65.71; VAT 13.14.
    assert '<tr class="sub"><td class="d">Subtotal</td><td class="n">EUR 65.71</td></tr>' in html
    assert '<tr><td class="d">VAT 20%</td><td class="n">EUR 13.14</td></tr>' in html
    assert '<tr class="due"><td class="d">Total due (EUR)</td><td class="n">EUR 78.85</td></tr>' in html
    assert "<dt>Due date</dt><dd>2026-04-15 (14 days)</dd>" in html
    assert "<dt>Service period</dt><dd>2026-03-01 – 2026-03-31</dd>" in html      # dates, not instants
    assert "Amounts converted from USD at 1 USD = 0.92 EUR (rate of 2026-03-31)." in html
    assert "<p>IBAN DE89 3704 0044 0532 0130 00</p><p>Pay online: https://pay.example.com/mueller</p>" in html


@pytest.mark.parametrize("layout", ["folded", "separate"])
def test_no_internals_on_the_document(layout: str) -> None:
    inv = make_invoice(layout)
    for text in (render.as_text(inv), render.as_html(inv), pdf_text(render.as_pdf(inv))):
        found = [w for w in INTERNALS if w.lower() in text.lower()]
        assert not found, (layout, found)
        assert not re.search(r"\d\.\d{3,}", text.replace("0.92 EUR", ""))     # nothing past 2 decimals
    # ... while the appendix keeps them.
    assert "Cost at list price" in render.as_csv(inv) and "0.945454545455" in to_json(inv)


def test_separate_layout_shows_shared_cost_and_service_fee_as_their_own_lines() -> None:
    doc = make_invoice("separate").document
    assert doc is not None
    assert [(i.description, i.amount) for i in doc.items][-3:] == [
        ("Included usage (credits and free tier)", Decimal("-0.92")),
        ("Shared costs", Decimal("0.87")),                       # 0.945454545455 x 0.92 = 0.8698...
        ("Service fee (30%)", Decimal("15.16"))]                 # 54.945454545455 x 0.3 x 0.92 = 15.1649...
    assert sum(i.amount for i in doc.items) == doc.subtotal == make_invoice("folded").document.subtotal  # type: ignore[union-attr]


def test_the_text_fits_its_width_and_never_cuts_an_amount() -> None:
    from rich.console import Console

    inv = make_invoice(by="project")
    amounts = {"EUR 65.71", "EUR 13.14", "EUR 78.85"} | {f"EUR {i.amount}" for i in inv.document.items}  # type: ignore[union-attr]
    for width in (60, 80, 100):
        text = render.as_text(inv, min(width, render.TEXT_WIDTH))
        console = Console(width=width, record=True, file=io.StringIO(), highlight=False, soft_wrap=False)
        console.print(text, end="", markup=False)
        shown = console.export_text()
        assert shown == text, width                                         # nothing wrapped by the terminal
        assert max(len(line) for line in shown.splitlines()) <= width
        for amount in amounts:
            assert any(line.endswith(amount) for line in shown.splitlines()), (width, amount)


def pdf_text(data: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_the_pdf_renders_and_reads_back(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    inv = make_invoice(logo=png(tmp_path / "logo.png"), by="project")
    data = render.as_pdf(inv)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in ("Studio Müller & Söhne <GmbH>", "Hauptstraße 1", "DE123456789", "Société Façade Złota €",
                     "FR12345678901", "PO-7781", "INV-2026-0001", "2026-04-15 (14 days)", "VAT 20%", "EUR 13.14",
                     "Total due (EUR)", "EUR 78.85", "rate of 2026-03-31", "IBAN DE89 3704 0044 0532 0130 00",
                     LONG_PROJECT[:20], "Vielen Dank!"):
        assert expected in text, expected
    pdf = pdfium.PdfDocument(data)
    try:
        image = pdf[0].render(scale=1).to_pil().convert("L")
    finally:
        pdf.close()
    dark = sum(image.histogram()[:128])
    assert dark > 2_000, dark                                   # text and rules, not a blank page
    assert render.as_pdf(inv) == data                           # the same bytes every time it is printed
    assert render.as_pdf(from_json(to_json(inv))) == data       # and from the issued document


# -- in a real browser -------------------------------------------------------------------------------

ARTIFACTS = os.environ.get("SPENDTAG_ARTIFACTS")     # read before the suite's fixtures clear SPENDTAG_*


def _artifacts() -> Path:
    where = Path(ARTIFACTS) if ARTIFACTS else Path(tempfile.mkdtemp(prefix="invoice-shots-"))
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.mark.slow
def test_the_page_fits_a_phone_and_a_desktop(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("SPENDTAG_REQUIRE_BROWSER") == "1":
            pytest.fail("SPENDTAG_REQUIRE_BROWSER=1 but there is no chromium (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "invoice.html"
    page_file.write_text(render.as_html(make_invoice(by="project", logo=png(tmp_path / "logo.png"))),
                         encoding="utf-8")
    shots = _artifacts()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox",
                                                                    "--disable-gpu"])
        try:
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_file.as_uri())
                scroll, client = page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert scroll <= client, (width, scroll, client)          # no sideways scroll
                body = page.inner_text("body")
                assert "EUR 78.85" in body and "INV-2026-0001" in body
                page.screenshot(path=str(shots / f"invoice-{width}.png"), full_page=True)
                if width == 1280:
                    printed = page.pdf(format="A4")
                    assert printed.startswith(b"%PDF-") and "EUR 78.85" in pdf_text(printed)
                page.close()
        finally:
            browser.close()
