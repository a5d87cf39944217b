"""Invoice formats: plain-text table, CSV, JSON, a printable HTML page, and PDF (optional extra).

Every format is a pure function of the :class:`~spendtag.bill.model.Invoice`, and the
text never depends on the terminal, so an invoice stored as JSON renders the same later.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from spendtag.bill.build import Run
from spendtag.bill.model import Charge, Invoice, exact_sum, plain, to_json, usd
from spendtag.bill.terms import BillingError
from spendtag.money import to_decimal
from spendtag.report.exports import CsvWriter, neutralise

FORMATS: tuple[str, ...] = ("table", "csv", "json", "html", "pdf")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html", "pdf": "pdf"}
PDF_MISSING = ("PDF output needs WeasyPrint: pip install weasyprint "
               "(or write --format html and print it from a browser)")


def count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Plain aligned columns (two spaces apart); the first column left, the rest as ``right`` says."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)]
        return "  ".join(cells).rstrip()

    return [fmt(headers), *(fmt(r) for r in rows)]


def _period(inv: Invoice) -> str:
    def day(iso: str) -> str:
        return iso[:16].replace("T", " ") if iso else "…"
    return f"{inv.period} ({day(inv.since)} – {day(inv.until)} UTC)"


def _charge_note(c: Charge) -> str | None:
    if c.kind != "units" or c.unit_price is None:
        return None
    if c.unit_cost is None:
        return f"no units counted; unit price {usd(c.unit_price)}"
    return (f"cost per unit {usd(c.unit_cost)} (average) vs unit price {usd(c.unit_price)}: "
            f"margin per unit {usd(c.unit_price - c.unit_cost)}")


UNPRICED_NOTE = "could not be priced, not billed"


def unpriced_label(provider: str, model: str) -> str:
    return f"{provider}/{model}: {UNPRICED_NOTE}"


def _cost_rows(inv: Invoice) -> list[list[str]]:
    rows = [[x.label + (f" ({x.note})" if x.note else ""), count(x.requests), count(x.tokens), usd(x.amount)]
            for x in inv.lines]
    # Unpriced calls are lines of their own, with their count and no amount: never $0.00.
    rows += [[unpriced_label(p, m), count(n), "", "—"] for p, m, n in inv.unpriced]
    rows.append(["Cost subtotal", "", "", usd(inv.net_cost)])
    return rows


def _charge_rows(inv: Invoice) -> list[list[str]]:
    rows = [[c.label, usd(c.amount)] for c in inv.charges]
    rows += [["Total before rounding", usd(inv.total_exact)],
             ["Rounding to cents (half-even)", usd(inv.rounding)],
             ["TOTAL DUE", usd(inv.total_due)]]
    return rows


def as_text(inv: Invoice) -> str:
    head = [inv.title + (f" · issued {inv.issued_on}" if inv.issued_on else "")]
    if inv.issuer:
        head.append(f"From:    {inv.issuer}")
    head += [f"Client:  {inv.client} ({inv.client_key}={inv.client})",
             f"Period:  {_period(inv)}",
             f"Terms:   {inv.terms_text}", ""]
    out = head + text_table([inv.group_by, "requests", "tokens", "amount"], _cost_rows(inv),
                            [False, True, True, True])
    out += ["", *text_table(["charges", "amount"], _charge_rows(inv), [False, True])]
    notes = [n for c in inv.charges if (n := _charge_note(c))]
    if inv.unpriced:
        notes.append("warning: not in this invoice, could not be priced: "
                     + ", ".join(f"{p}/{m} ({n} calls)" for p, m, n in inv.unpriced))
    notes.append(f"Prices: {'; '.join(inv.price_sources) or 'none used'} · {len(inv.events)} calls")
    out += ["", *notes, "", *inv.statement]
    return "\n".join(out) + "\n"


def as_csv(inv: Invoice) -> str:
    buf = io.StringIO()
    w = CsvWriter(buf)
    w.writerow(["section", "description", "requests", "tokens", "amount_usd", "billed"])
    for x in inv.lines:
        w.writerow([x.kind, neutralise(x.label), count(x.requests).replace(",", ""),
                    count(x.tokens).replace(",", ""), plain(x.amount), ""])
    for p, m, n in inv.unpriced:   # no amount (unknown, not 0) and not billed
        w.writerow(["unpriced", neutralise(unpriced_label(p, m)), n, "", "", "false"])
    w.writerow(["subtotal", "Cost subtotal", "", "", plain(inv.net_cost), ""])
    for c in inv.charges:
        w.writerow([c.kind, neutralise(c.label), "", "", plain(c.amount), "true" if c.billed else "false"])
    w.writerow(["total_exact", "Total before rounding", "", "", plain(inv.total_exact), ""])
    w.writerow(["rounding", "Rounding to cents (half-even)", "", "", plain(inv.rounding), ""])
    w.writerow(["total_due", "Total due", "", "", plain(inv.total_due), ""])
    return buf.getvalue()


_CSS = """
@page { size: A4; margin: 18mm; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1b1f24; margin: 0;
       padding: 32px; background: #fff; }
.sheet { max-width: 820px; margin: 0 auto; }
header { display: flex; justify-content: space-between; align-items: flex-start; border-bottom: 3px solid #1b1f24;
         padding-bottom: 12px; margin-bottom: 20px; }
h1 { font-size: 28px; margin: 0; letter-spacing: .02em; }
.draft { color: #b42318; }
.meta { text-align: right; color: #444; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 24px; }
dt { font-weight: 600; color: #555; }
dd { margin: 0; }
h2 { font-size: 15px; text-transform: uppercase; letter-spacing: .06em; color: #555; margin: 28px 0 8px; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 6px 8px; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { text-align: left; font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .04em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.sub td { font-weight: 600; border-top: 2px solid #1b1f24; }
tr.neg td.n { color: #067647; }
tr.info td { color: #777; font-style: italic; }
tr.unpriced td { color: #b42318; }
tr.due td { font-size: 18px; font-weight: 700; border-top: 3px double #1b1f24; border-bottom: none; }
.notes { margin-top: 28px; font-size: 12px; color: #444; }
.notes p { margin: 4px 0; }
.warn { color: #b42318; font-weight: 600; }
@media print { body { padding: 0; } }
"""


def _td(text: str, numeric: bool = False) -> str:
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def as_html(inv: Invoice) -> str:
    title = escape(inv.number or "Draft invoice")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{title} · {escape(inv.client)} · {escape(inv.period)}</title>",
             f"<style>{_CSS}</style>", "</head>", "<body>", '<main class="sheet">', "<header>",
             f"<div><h1>{'Invoice' if inv.number else '<span class=draft>Draft invoice</span>'}</h1>"
             + (f"<div>{escape(inv.issuer)}</div>" if inv.issuer else "") + "</div>",
             '<div class="meta">' + (f"<div><strong>{escape(inv.number)}</strong></div>" if inv.number else
                                     "<div>not issued</div>")
             + (f"<div>Issued {escape(inv.issued_on)}</div>" if inv.issued_on else "") + "</div>", "</header>",
             "<dl>", f"<dt>Client</dt><dd>{escape(inv.client)} ({escape(inv.client_key)}={escape(inv.client)})</dd>",
             f"<dt>Period</dt><dd>{escape(_period(inv))}</dd>", f"<dt>Terms</dt><dd>{escape(inv.terms_text)}</dd>",
             "</dl>", "<h2>Costs</h2>", "<table>",
             f'<tr><th>{escape(inv.group_by)}</th><th class="n">Requests</th><th class="n">Tokens</th>'
             '<th class="n">Amount</th></tr>']
    for x in inv.lines:
        cls = ' class="neg"' if x.amount < 0 else ""
        label = x.label + (f" ({x.note})" if x.note else "")
        parts.append(f"<tr{cls}>{_td(label)}{_td(count(x.requests), True)}{_td(count(x.tokens), True)}"
                     f"{_td(usd(x.amount), True)}</tr>")
    for p, m, n in inv.unpriced:
        parts.append(f'<tr class="unpriced">{_td(unpriced_label(p, m))}{_td(count(n), True)}{_td("", True)}'
                     f'{_td("—", True)}</tr>')
    parts += [f'<tr class="sub"><td colspan="3">Cost subtotal</td>{_td(usd(inv.net_cost), True)}</tr>', "</table>",
              "<h2>Charges</h2>", "<table>"]
    for c in inv.charges:
        cls = ' class="info"' if not c.billed else ' class="neg"' if c.kind == "credit" else ""
        parts.append(f"<tr{cls}>{_td(c.label)}{_td(usd(c.amount), True)}</tr>")
        if note := _charge_note(c):
            parts.append(f'<tr class="info"><td colspan="2">{escape(note)}</td></tr>')
    parts += [f'<tr class="sub">{_td("Total before rounding")}{_td(usd(inv.total_exact), True)}</tr>',
              f"<tr>{_td('Rounding to cents (half-even)')}{_td(usd(inv.rounding), True)}</tr>",
              f'<tr class="due">{_td("Total due")}{_td(usd(inv.total_due), True)}</tr>', "</table>",
              '<section class="notes">']
    if inv.unpriced:
        names = ", ".join(f"{p}/{m} ({n} calls)" for p, m, n in inv.unpriced)
        parts.append(f'<p class="warn">Not in this invoice, could not be priced: {escape(names)}</p>')
    sources = "; ".join(inv.price_sources) or "none used"
    parts.append(f"<p>Prices: {escape(sources)} · {len(inv.events)} calls "
                 "(their ids and the prices used are in the JSON document).</p>")
    parts += [f"<p>{escape(s)}</p>" for s in inv.statement]
    parts += ["</section>", "</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def pdf_available() -> bool:
    return importlib.util.find_spec("weasyprint") is not None


def as_pdf(inv: Invoice) -> bytes:
    if not pdf_available():
        raise BillingError(PDF_MISSING)
    weasyprint = importlib.import_module("weasyprint")
    data: bytes = weasyprint.HTML(string=as_html(inv)).write_pdf()
    return data


def render(inv: Invoice, fmt: str) -> str:
    """Any text format; PDF is bytes, see :func:`as_pdf`."""
    if fmt == "table":
        return as_text(inv)
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


def summary_text(run: Run, period: str, policy: str) -> str:
    rows = [[c if isinstance(c, str) else usd(c) for c in row] for row in _summary_rows(run)]
    counts = [(sum(n for _, _, n in inv.unpriced), len(inv.events)) for inv in run.invoices]
    counts.append((sum(u for u, _ in counts), sum(n for _, n in counts)))
    for row, (unpriced, calls) in zip(rows, counts, strict=True):   # unpriced calls beside the cost, never $0
        if unpriced:
            row[2] = f"— ({unpriced:,} unpriced)" if unpriced == calls else f"{row[2]} + {unpriced:,} unpriced"
    out = [f"Invoices {period} · {len(run.rows)} clients · shared cost: {policy}", "",
           *text_table(_SUMMARY_COLUMNS, rows, [False, *[True] * 6]), "",
           f"Untagged spend: {usd(to_decimal(run.spend.untagged))} · allocated to clients: "
           f"{usd(to_decimal(run.allocated))} · left as overhead: {usd(to_decimal(run.overhead))}",
           f"Ledger total for the period: {usd(to_decimal(run.spend.total))} "
           f"(= attributed {usd(exact_sum(r.attributed for r in run.rows))} + overhead "
           f"{usd(to_decimal(run.overhead))})",
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
