"""The client's document as a PDF, with ReportLab (pure Python, BSD; installed with spendtag).

Text is set in Bitstream Vera, the TrueType font ReportLab ships, embedded as a subset: it
covers every Western European letter and sign (é, ü, ß, ł, Œ, €...), so names render as they
are written, with nothing to install. The file is made ``invariant`` (no creation time or
random id inside), so an issued invoice gives the same bytes every time it is printed.
"""

from __future__ import annotations

import base64
import io
from typing import Any
from xml.sax.saxutils import escape

from spendtag.bill import document
from spendtag.bill.model import Invoice, money
from spendtag.bill.render import exchange_text, heading, meta_rows, party_lines, total_rows, unpriced_rows

_FONTS: tuple[str, str] | None = None


def _fonts() -> tuple[str, str]:
    global _FONTS
    if _FONTS is None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("SpendtagVera", "Vera.ttf"))
        pdfmetrics.registerFont(TTFont("SpendtagVera-Bold", "VeraBd.ttf"))
        pdfmetrics.registerFontFamily("SpendtagVera", normal="SpendtagVera", bold="SpendtagVera-Bold",
                                      italic="SpendtagVera", boldItalic="SpendtagVera-Bold")
        _FONTS = ("SpendtagVera", "SpendtagVera-Bold")
    return _FONTS


def _logo(uri: str, most_w: float, most_h: float) -> Any:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    if not uri.startswith("data:image/") or ";base64," not in uri:
        return None
    data = base64.b64decode(uri.split(";base64,", 1)[1])
    w, h = ImageReader(io.BytesIO(data)).getSize()
    scale = min(most_w / w, most_h / h, 1.0)
    img = Image(io.BytesIO(data), width=w * scale, height=h * scale)
    img.hAlign = "LEFT"
    return img


def render(inv: Invoice) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _fonts()
    doc = document.of(inv)
    base = ParagraphStyle("base", fontName=regular, fontSize=9.5, leading=13)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=colors.HexColor("#555555"))
    strong = ParagraphStyle("strong", parent=base, fontName=bold)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)
    right_strong = ParagraphStyle("right_strong", parent=strong, alignment=TA_RIGHT)
    title = ParagraphStyle("title", parent=base, fontName=bold, fontSize=22, leading=26, alignment=TA_RIGHT)
    label = ParagraphStyle("label", parent=small, fontName=bold)

    def para(text: str, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(escape(text), style)

    def block(lines: list[str], first: ParagraphStyle = strong) -> list[Paragraph]:
        return [para(x, first if i == 0 else base) for i, x in enumerate(lines)]

    width = A4[0] - 36 * mm - 12         # the frame's own padding, 6 pt each side
    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=heading(inv), author=doc.seller.name, subject=doc.bill_to.name,
                            creator="spendtag", invariant=1)
    seller: list[Any] = []
    if (img := _logo(doc.logo, 45 * mm, 20 * mm)) is not None:
        seller += [img, Spacer(1, 3 * mm)]
    seller += block(party_lines(doc.seller))
    head = Table([[seller, [Paragraph("Invoice" if inv.number else "Draft invoice", title)]]],
                 colWidths=[width * 0.6, width * 0.4])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                              ("LINEBELOW", (0, 0), (-1, 0), 2, colors.black), ("BOTTOMPADDING", (0, 0), (-1, 0), 8),
                              ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    meta = Table([[para(k, label), para(v)] for k, v in meta_rows(inv, doc)],
                 colWidths=[30 * mm, width * 0.5 - 30 * mm])
    meta.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    parties = Table([[[para("BILL TO", label), *block(party_lines(doc.bill_to))], meta]],
                    colWidths=[width * 0.5, width * 0.5])
    parties.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    rows: list[list[Any]] = [[para("DESCRIPTION", label), Paragraph("AMOUNT", ParagraphStyle("h", parent=label,
                                                                                            alignment=TA_RIGHT))]]
    for item in doc.items:
        cell = [para(item.description)] + ([para(item.detail, small)] if item.detail else [])
        rows.append([cell, para(money(item.amount, doc.currency), right)])
    for text, detail in unpriced_rows(inv):
        rows.append([[para(text), para(detail, small)], para("—", right)])
    first_total = len(rows)
    totals = total_rows(doc)
    for i, (text, value) in enumerate(totals):
        last = i == len(totals) - 1
        rows.append([para(text, strong if last else base), para(value, right_strong if last else right)])
    items = Table(rows, colWidths=[width - 42 * mm, 42 * mm], repeatRows=1)
    items.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, first_total - 1), 0.4, colors.HexColor("#d0d4d9")),
        ("LINEABOVE", (0, first_total), (-1, first_total), 1.2, colors.black),
        ("LINEABOVE", (0, len(rows) - 1), (-1, len(rows) - 1), 1.2, colors.black),
        ("LEFTPADDING", (0, 0), (0, -1), 0), ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
    ]))
    story: list[Any] = [head, Spacer(1, 6 * mm), parties, Spacer(1, 6 * mm), items]
    if doc.exchange is not None:
        story += [Spacer(1, 3 * mm), para(exchange_text(doc), small)]
    for heading_text, lines in (("PAYMENT", doc.payment), ("NOTES", doc.notes)):
        if lines:
            story += [Spacer(1, 5 * mm), para(heading_text, label), *[para(x) for x in lines]]
    pdf.build(story)
    return out.getvalue()


__all__ = ["render"]
