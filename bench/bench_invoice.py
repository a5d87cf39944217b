"""Invoice rendering benchmark: the client's document as HTML and as PDF (target: 1 s or less each).

    python bench/bench_invoice.py [--events 20000] [--rounds 7]

A realistic invoice: one client's month from the synthetic agency stream (bench/common.py),
priced with the bundled prices, lines by model, a share of the untagged spend, a 30% markup
folded into the lines, three fixed costs and a credit, converted to EUR with 20% VAT, a full
business profile with a PNG logo. A long one too: ten times the events, lines by session
(hundreds of lines, a PDF of several pages). Each figure is the median of ``--rounds`` renders
after one warm-up (the first render, which imports and registers the font, is printed on its
own). Baseline in the same run: the plain-text document and the JSON appendix of the same invoice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, synthetic  # noqa: E402

from spendtag.bill import profile, render  # noqa: E402
from spendtag.bill.allocation import Allocation  # noqa: E402
from spendtag.bill.build import Request, invoice_from_events, issued  # noqa: E402
from spendtag.bill.config import BillingConfig  # noqa: E402
from spendtag.bill.credits import Available  # noqa: E402
from spendtag.bill.fixed_costs import fixed_cost  # noqa: E402
from spendtag.bill.model import Invoice, to_json  # noqa: E402
from spendtag.bill.rates import Rates  # noqa: E402
from spendtag.bill.terms import from_flags  # noqa: E402
from spendtag.ledger.credit_tables import Credit  # noqa: E402
from spendtag.periods import parse_period  # noqa: E402
from spendtag.pricing import Pricer  # noqa: E402


def _logo(folder: Path) -> Path:
    from PIL import Image

    path = folder / "logo.png"
    Image.new("RGB", (360, 120), (20, 80, 160)).save(path)
    return path


def build(events: int, by: str, folder: Path) -> Invoice:
    utc = ZoneInfo("UTC")
    priced = Pricer().price_many(list(synthetic(events)))
    mine = [p for p in priced if p.event.tags.get("client") == "acme"]
    shared = sum(p.cost.total for p in priced if "client" not in p.event.tags and p.cost.priced)
    mine += [fixed_cost(amount, {"client": "acme"}, note=note, day="2026-03-01", event_id=f"f{i}")
             for i, (amount, note) in enumerate((("49.00", "tool seat, March"), ("120.00", "vector database"),
                                                 ("15.50", "monitoring")))]
    who = profile.from_sections({
        "business": {"name": "Northwind Studio GmbH", "address": ["Hauptstraße 1", "10115 Berlin", "Germany"],
                     "tax_id": "DE123456789", "email": "billing@northwind.example", "logo": str(_logo(folder)),
                     "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
                     "payment_link": "https://pay.example.com/northwind", "terms_days": 30,
                     "notes": ["Thank you for your business.", "Questions: billing@northwind.example"]},
        "billing": {"clients": {"acme": {"legal_name": "Acme Société Anonyme", "address": ["1 rue de la Paix",
                                                                                           "75002 Paris", "France"],
                                         "tax_id": "FR12345678901", "po_number": "PO-7781", "currency": "EUR",
                                         "tax_rate": "20%", "terms_days": 14}}}})
    req = Request("2026-03", parse_period("2026-03", utc), utc, BillingConfig(), by=by,
                  allocation=Allocation.parse("proportional"), terms=from_flags(markup="30%"), profile=who,
                  rates=Rates().with_given(("EUR=0.92@2026-03-31",)), on=date(2026, 4, 1))
    credit = Credit("c1", "acme", datetime(2026, 3, 5, tzinfo=UTC), "2026-03-05", 25 * 10**12, "outage refund")
    inv = invoice_from_events(req, "acme", mine, allocated=shared // 12, shared=shared,
                              credits=[Available(credit, credit.amount)])
    return issued(inv, "INV-2026-0042", "2026-04-01")


def median_ms(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, by, n in (("realistic (by model)", "model", args.events),
                             ("long (by session)", "session", args.events * 10)):
            inv = build(n, by, Path(tmp))
            doc = inv.document
            assert doc is not None
            print(f"\n{label}: {len(doc.items)} items, {len(inv.events):,} calls in the appendix, total due "
                  f"{doc.currency} {doc.total}")
            print(f"  {'format':<28}{'first ms':>10}{'median ms':>11}")
            for name, fn in (("html", lambda inv=inv: render.as_html(inv)),
                             ("pdf", lambda inv=inv: render.as_pdf(inv)),
                             ("baseline: text document", lambda inv=inv: render.as_text(inv)),
                             ("baseline: json appendix", lambda inv=inv: to_json(inv))):
                first, median = median_ms(fn, args.rounds)
                print(f"  {name:<28}{first:>10.1f}{median:>11.1f}")
            pdf = render.as_pdf(inv)
            import pypdfium2 as pdfium

            print(f"  PDF: {len(pdf):,} bytes, {len(pdfium.PdfDocument(pdf))} pages")


if __name__ == "__main__":
    main()
