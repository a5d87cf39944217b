"""The printable HTML invoice, rendered by a real headless browser (Debian's chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import make_event

from spendtag.bill import render
from spendtag.bill.allocation import Allocation
from spendtag.bill.build import Request, invoice_from_events, issued
from spendtag.bill.config import BillingConfig
from spendtag.bill.fixed_costs import fixed_cost
from spendtag.bill.terms import from_flags
from spendtag.periods import parse_period

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def invoice_html() -> str:
    utc = ZoneInfo("UTC")
    req = Request("2026-03", parse_period("2026-03", utc), utc, BillingConfig(issuer="Northwind <Agency> & Co"),
                  allocation=Allocation.parse("even"), terms=from_flags(markup="30%"))
    evs = [make_event("a1", datetime(2026, 3, 2, tzinfo=UTC), cost=3 * 10**12, tags={"client": "acme"}),
           make_event("a2", datetime(2026, 3, 3, tzinfo=UTC), model="claude-haiku-4-5", cost=10**12,
                      tags={"client": "acme", "billing": "credit"}),
           fixed_cost("49.00", {"client": "acme"}, note="tool seat, March", day="2026-03-01", event_id="f1")]
    inv = issued(invoice_from_events(req, "acme <script>", evs, allocated=945_454_545_455, shared=10**12),
                 "INV-2026-0001", "2026-04-01")
    return render.as_html(inv)


def test_html_is_self_contained_and_escaped() -> None:
    html = invoice_html()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"<link|<script|src=|url\(|https?://", html)
    assert "acme &lt;script&gt;" in html and "Northwind &lt;Agency&gt; &amp; Co" in html
    # (3 + 1 + 49 - 1 + 0.945454545455) x 1.3 = 68.829..., rounded once
    assert '<tr class="due"><td>Total due</td><td class="n">$68.83</td></tr>' in html


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         *args], capture_output=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); CI installs it")
def test_chromium_renders_the_invoice_to_pdf_and_png(tmp_path: Path) -> None:
    page = tmp_path / "invoice.html"
    page.write_text(invoice_html(), encoding="utf-8")
    url = page.as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    text = dom.stdout.decode()
    assert "INV-2026-0001" in text and "$68.83" in text and "Shared cost allocated, even" in text
    pdf = _chromium(tmp_path, f"--print-to-pdf={tmp_path / 'invoice.pdf'}", "--no-pdf-header-footer", url)
    assert pdf.returncode == 0, pdf.stderr.decode(errors="replace")[-2000:]
    data = (tmp_path / "invoice.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 5_000
    shot = _chromium(tmp_path, f"--screenshot={tmp_path / 'invoice.png'}", "--window-size=1000,1400", url)
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    assert (tmp_path / "invoice.png").read_bytes().startswith(b"\x89PNG")
