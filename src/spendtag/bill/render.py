"""Invoice formats: the client's document as text, HTML and PDF; the agency's appendix as CSV and JSON.

Every format is a pure function of the :class:`~spendtag.bill.model.Invoice`, and none depends
on the terminal, so an invoice stored as JSON renders the same later. The document formats show
what the client pays (:class:`~spendtag.bill.model.Document`); internal provenance (exact USD to
1e-12, price sources, the rounding, tag syntax) is only in the CSV and JSON.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from spendtag.bill import document
from spendtag.bill.build import Run
from spendtag.bill.model import Document, Invoice, Party, exact_sum, money, plain, to_json
from spendtag.bill.terms import BillingError
from spendtag.money import from_decimal, screen, to_decimal
from spendtag.report.exports import CsvWriter, neutralise

FORMATS: tuple[str, ...] = ("table", "csv", "json", "html", "pdf")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html", "pdf": "pdf"}


def count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Plain aligned columns (two spaces apart); the first column left, the rest as ``right`` says."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)]
        return "  ".join(cells).rstrip()

    return [fmt(headers), *(fmt(r) for r in rows)]


UNPRICED_NOTE = "could not be priced, not billed"


def unpriced_label(provider: str, model: str) -> str:
    return f"{provider}/{model}: {UNPRICED_NOTE}"


# -- the client's document, as text ------------------------------------------------------------

TEXT_WIDTH = 80      # `invoice` output and the text stored at issue fit 80 columns
MIN_WIDTH = 40


def heading(inv: Invoice) -> str:
    return f"Invoice {inv.number}" if inv.number else "Draft invoice (not issued)"


def party_lines(p: Party) -> list[str]:
    out = [p.name, *p.address]
    out += [f"Tax ID: {p.tax_id}"] if p.tax_id else []
    out += [p.email] if p.email else []
    return [*filter(None, out), *p.more]


def meta_rows(inv: Invoice, doc: Document) -> list[tuple[str, str]]:
    rows = [("Invoice number", inv.number or "draft, not issued"), ("Issue date", doc.issue_date),
            ("Due date", f"{doc.due_date} ({doc.terms_days} days)" if doc.due_date else "")]
    if doc.service_from:
        rows.append(("Service period", f"{doc.service_from} – {doc.service_to}"))
    if doc.po_number:
        rows.append(("PO number", doc.po_number))
    return [(k, v) for k, v in rows if v]


def exchange_text(doc: Document) -> str:
    ex = doc.exchange
    if ex is None:
        return ""
    return f"Amounts converted from USD at 1 USD = {format(ex.rate.normalize(), 'f')} {ex.currency} (rate of {ex.on})."


def unpriced_rows(inv: Invoice) -> list[tuple[str, str]]:
    """A draft's calls nobody could price: shown with no amount (never 0); an issue refuses them."""
    if inv.number is not None:
        return []
    return [(unpriced_label(p, m), f"{n:,} call{'s' if n != 1 else ''}") for p, m, n in inv.unpriced]


def total_rows(doc: Document) -> list[tuple[str, str]]:
    rows = [("Subtotal", money(doc.subtotal, doc.currency))]
    rows += [(t.label, money(t.amount, doc.currency)) for t in doc.taxes]
    rows.append((f"Total due ({doc.currency})", money(doc.total, doc.currency)))
    return rows


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [indent.rstrip()]


def as_text(inv: Invoice, width: int = TEXT_WIDTH) -> str:
    """The client's document in ``width`` columns (at least 40): no line longer, no amount cut."""
    doc = document.of(inv)
    w = max(MIN_WIDTH, width)
    out = [*_wrap(heading(inv).upper(), w), ""]
    seller = [line for text in party_lines(doc.seller) for line in _wrap(text, w)]
    out += [*seller, ""] if seller else []
    out += ["Bill to"]
    out += [line for text in party_lines(doc.bill_to) for line in _wrap(text, w, "  ")]
    out.append("")
    key_w = max(len(k) for k, _ in meta_rows(inv, doc)) + 2
    for key, value in meta_rows(inv, doc):
        lines = _wrap(value, w - key_w)
        out += [key.ljust(key_w) + lines[0], *(" " * key_w + x for x in lines[1:])]
    amounts = [money(i.amount, doc.currency) for i in doc.items] + [v for _, v in total_rows(doc)]
    mw = max(len(a) for a in [*amounts, "Amount"])
    dw = w - mw - 2
    out += ["", "Description".ljust(dw) + "  " + "Amount".rjust(mw), "-" * w]
    for item in doc.items:
        lines = _wrap(item.description, dw)
        out.append(lines[0].ljust(dw) + "  " + money(item.amount, doc.currency).rjust(mw))
        out += lines[1:]
        if item.detail:
            out += _wrap(item.detail, dw, "  ")
    for label, detail in unpriced_rows(inv):
        lines = _wrap(label, dw)
        out += [lines[0].ljust(dw) + "  " + "—".rjust(mw), *lines[1:], *_wrap(detail, dw, "  ")]
    out.append("-" * w)
    for label, value in total_rows(doc):
        lines = _wrap(label, dw)
        out += [*lines[:-1], lines[-1].ljust(dw) + "  " + value.rjust(mw)]
    for block, title in ((([exchange_text(doc)] if doc.exchange else []), ""), (list(doc.payment), "Payment"),
                         (list(doc.notes), "Notes")):
        if block:
            out += ["", *([title] if title else [])]
            out += [line for text in block for line in _wrap(text, w)]
    return "\n".join(line.rstrip() for line in out) + "\n"


# -- the agency's appendix ---------------------------------------------------------------------

def as_csv(inv: Invoice) -> str:
    """Every exact amount (USD, the appendix), then the client's document as it was sent."""
    buf = io.StringIO()
    w = CsvWriter(buf)
    w.writerow(["section", "description", "requests", "tokens", "amount", "currency", "billed"])
    for x in inv.lines:
        w.writerow([x.kind, neutralise(x.label), count(x.requests).replace(",", ""),
                    count(x.tokens).replace(",", ""), plain(x.amount), "USD", ""])
    for p, m, n in inv.unpriced:   # no amount (unknown, not 0) and not billed
        w.writerow(["unpriced", neutralise(unpriced_label(p, m)), n, "", "", "USD", "false"])
    w.writerow(["subtotal", "Cost subtotal", "", "", plain(inv.net_cost), "USD", ""])
    for c in inv.charges:
        w.writerow([c.kind, neutralise(c.label), "", "", plain(c.amount), "USD", "true" if c.billed else "false"])
    w.writerow(["total_exact", "Total before rounding", "", "", plain(inv.total_exact), "USD", ""])
    doc = document.of(inv)
    for item in doc.items:
        w.writerow(["item", neutralise(item.description), "", "", format(item.amount, "f"), doc.currency, "true"])
    w.writerow(["item_subtotal", "Subtotal", "", "", format(doc.subtotal, "f"), doc.currency, ""])
    for t in doc.taxes:
        w.writerow(["tax", neutralise(t.label), "", "", format(t.amount, "f"), doc.currency, "true"])
    w.writerow(["total_due", "Total due", "", "", format(doc.total, "f"), doc.currency, ""])
    if doc.exchange is not None:
        w.writerow(["exchange_rate", f"USD to {doc.exchange.currency} of {doc.exchange.on}"
                    + (f" ({neutralise(doc.exchange.source)})" if doc.exchange.source else ""), "", "",
                    format(doc.exchange.rate, "f"), doc.exchange.currency, ""])
    return buf.getvalue()


# -- the client's document, as a page ----------------------------------------------------------

_CSS = """
@page { size: A4; margin: 16mm; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1b1f24; margin: 0;
       padding: 32px 20px; background: #fff; }
.sheet { max-width: 820px; margin: 0 auto; }
.top { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 16px 32px;
       border-bottom: 3px solid #1b1f24; padding-bottom: 14px; margin-bottom: 20px; }
.top img { display: block; max-width: 180px; max-height: 72px; margin-bottom: 10px; }
h1 { font-size: 30px; margin: 0 0 6px; letter-spacing: .02em; }
.draft { color: #b42318; }
.party p, .meta dd { margin: 0; overflow-wrap: anywhere; }
.party .name { font-weight: 700; }
.row { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 16px 32px; margin-bottom: 24px; }
.row > * { flex: 1 1 240px; min-width: 0; }
h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .08em; color: #555; margin: 0 0 6px; }
dl.meta { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 14px; margin: 0; }
dl.meta dt { color: #555; }
table { width: 100%; border-collapse: collapse; table-layout: auto; }
th, td { padding: 8px 6px; border-bottom: 1px solid #e3e6ea; vertical-align: top; text-align: left; }
th { font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .05em; }
td.d { overflow-wrap: anywhere; word-break: break-word; }
td.d small { display: block; color: #666; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; padding-left: 12px; }
tfoot td { border-bottom: none; }
tr.sub td { border-top: 2px solid #1b1f24; }
tr.unpriced td { color: #b42318; }
tr.due td { font-size: 18px; font-weight: 700; border-top: 3px double #1b1f24; }
.fx, .block { margin-top: 20px; }
.block p { margin: 2px 0; overflow-wrap: anywhere; }
.fx { color: #444; font-size: 13px; }
@media (max-width: 480px) {
  body { padding: 16px 12px; font-size: 14px; }
  h1 { font-size: 24px; }
  th, td { padding: 6px 3px; }
  tr.due td { font-size: 16px; }
}
@media print { body { padding: 0; } .sheet { max-width: none; } tr, .block { break-inside: avoid; } }
"""


def _p(lines: Sequence[str], first_class: str = "") -> str:
    out = []
    for i, line in enumerate(lines):
        cls = f' class="{first_class}"' if i == 0 and first_class else ""
        out.append(f"<p{cls}>{escape(line)}</p>")
    return "".join(out)


def as_html(inv: Invoice) -> str:
    """The client's document as one self-contained page: readable on a phone, printable on A4."""
    doc = document.of(inv)
    title = escape(heading(inv))
    logo = f'<img alt="" src="{escape(doc.logo)}">' if doc.logo.startswith("data:image/") else ""
    h1 = "Invoice" if inv.number else '<span class="draft">Draft invoice</span>'
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta_rows(inv, doc))
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{title} · {escape(doc.bill_to.name)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             '<main class="sheet">',
             f'<header class="top"><div class="party seller">{logo}{_p(party_lines(doc.seller), "name")}</div>'
             f"<div><h1>{h1}</h1></div></header>",
             '<section class="row">',
             f'<div class="party billto"><h2>Bill to</h2>{_p(party_lines(doc.bill_to), "name")}</div>',
             f'<div><h2>Details</h2><dl class="meta">{meta}</dl></div>', "</section>",
             '<table class="items"><thead><tr><th>Description</th><th class="n">Amount</th></tr></thead><tbody>']
    for item in doc.items:
        detail = f"<small>{escape(item.detail)}</small>" if item.detail else ""
        parts.append(f'<tr><td class="d">{escape(item.description)}{detail}</td>'
                     f'<td class="n">{escape(money(item.amount, doc.currency))}</td></tr>')
    for label, detail in unpriced_rows(inv):
        parts.append(f'<tr class="unpriced"><td class="d">{escape(label)}<small>{escape(detail)}</small></td>'
                     '<td class="n">—</td></tr>')
    parts.append("</tbody><tfoot>")
    rows = total_rows(doc)
    for i, (label, value) in enumerate(rows):
        cls = ' class="sub"' if i == 0 else ' class="due"' if i == len(rows) - 1 else ""
        parts.append(f'<tr{cls}><td class="d">{escape(label)}</td><td class="n">{escape(value)}</td></tr>')
    parts.append("</tfoot></table>")
    if doc.exchange is not None:
        parts.append(f'<p class="fx">{escape(exchange_text(doc))}</p>')
    if doc.payment:
        parts.append(f'<section class="block"><h2>Payment</h2>{_p(doc.payment)}</section>')
    if doc.notes:
        parts.append(f'<section class="block"><h2>Notes</h2>{_p(doc.notes)}</section>')
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def pdf_available() -> bool:
    """PDF output needs nothing beyond the install (reportlab is a dependency); kept for callers."""
    return True


def as_pdf(inv: Invoice) -> bytes:
    from spendtag.bill import pdf

    return pdf.render(inv)


def render(inv: Invoice, fmt: str, width: int = TEXT_WIDTH) -> str:
    """Any text format; PDF is bytes, see :func:`as_pdf`."""
    if fmt == "table":
        return as_text(inv, width)
    if fmt == "csv":
        return as_csv(inv)
    if fmt == "json":
        return to_json(inv)
    if fmt == "html":
        return as_html(inv)
    raise BillingError(f"unknown invoice format {fmt!r}: use one of {', '.join(FORMATS)}")


_SUMMARY_COLUMNS = ("client", "revenue", "cost", "margin", "even split", "attributed", "difference")


def _summary_rows(run: Run) -> list[list[Decimal | str]]:
    rows: list[list[Decimal | str]] = [[r.client, r.revenue, r.cost, r.margin, r.even_split, r.attributed,
                                        r.difference] for r in run.rows]
    totals = [exact_sum(r.revenue for r in run.rows), exact_sum(r.cost for r in run.rows),
              exact_sum(r.margin for r in run.rows), exact_sum(r.even_split for r in run.rows),
              exact_sum(r.attributed for r in run.rows), exact_sum(r.difference for r in run.rows)]
    rows.append(["total", *totals])
    return rows


def _on_screen(value: Decimal) -> str:
    """An amount of the run's summary as the screen shows money (whole cents, ``<$0.01``); summary.csv is exact."""
    return screen(from_decimal(value))


def summary_text(run: Run, period: str, policy: str) -> str:
    """The agency's own summary of an ``invoice --all`` run: 2-decimal amounts, fitting 80 columns
    for names up to about 14 characters (the exact amounts are in summary.csv)."""
    rows = [[c if isinstance(c, str) else _on_screen(c) for c in row] for row in _summary_rows(run)]
    counts = [(sum(n for _, _, n in inv.unpriced), len(inv.events)) for inv in run.invoices]
    counts.append((sum(u for u, _ in counts), sum(n for _, n in counts)))
    for row, (unpriced, calls) in zip(rows, counts, strict=True):   # unpriced calls beside the cost, never $0
        if unpriced:
            row[2] = f"— ({unpriced:,} unpriced)" if unpriced == calls else f"{row[2]} + {unpriced:,} unpriced"
    out = [f"Invoices {period} · {len(run.rows)} clients · shared cost: {policy}", "",
           *text_table(_SUMMARY_COLUMNS, rows, [False, *[True] * 6]), "",
           f"Untagged spend: {screen(run.spend.untagged)} · allocated to clients: "
           f"{screen(run.allocated)} · left as overhead: {screen(run.overhead)}",
           f"Ledger total for the period: {screen(run.spend.total)} "
           f"(= attributed {_on_screen(exact_sum(r.attributed for r in run.rows))} + overhead "
           f"{screen(run.overhead)})",
           *_unpriced_summary(run),
           "Even split: the period's whole bill divided equally among the clients. Difference = even split - "
           "attributed: above zero, an even split would have overcharged the client; below zero, undercharged."]
    return "\n".join(out) + "\n"


def _unpriced_summary(run: Run) -> list[str]:
    found = [(inv.client, sum(n for _, _, n in inv.unpriced),
              ", ".join(f"{p}/{m}" for p, m, _ in inv.unpriced)) for inv in run.invoices if inv.unpriced]
    if not found:
        return []
    return ["Not in these totals, could not be priced (not billed): "
            + "; ".join(f"{client} {n:,} calls ({models})" for client, n, models in found)]


def summary_csv(run: Run) -> str:
    buf = io.StringIO()
    w = CsvWriter(buf)
    w.writerow(["client", "revenue_usd", "cost_usd", "margin_usd", "even_split_usd", "attributed_usd",
                "difference_usd"])
    for row in _summary_rows(run):
        w.writerow([neutralise(c) if isinstance(c, str) else plain(c) for c in row])
    w.writerow(["(untagged)", "", plain(to_decimal(run.spend.untagged)), "", "", "", ""])
    w.writerow(["(overhead)", "", plain(to_decimal(run.overhead)), "", "", "", ""])
    return buf.getvalue()
