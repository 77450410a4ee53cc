"""The evidence bundle as files (``evidence_document.compose`` decides what they say): a PDF
for the lawyer and the court (in the embedded Chinese font of :mod:`propfee.pdf_fonts`, so a
court's viewer shows what was printed) and a ZIP whose attachments are
numbered as the evidence list cites them (``证据1-物业服务费账单.csv`` ...), with the list
itself (``证据目录.csv``) and the PDF.

Notes, names and addresses were typed by people: in the PDF every text is escaped (a Paragraph
would make ``<a href>`` a live link and fetch ``<img src>``), in the CSVs text that a
spreadsheet would run as a formula is neutralised (``propfee.documents``). The CSVs carry a
UTF-8 byte-order mark so spreadsheet programs on Chinese Windows read them as UTF-8."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dunning.adapters.evidence_document import Document, compose
from propfee.documents import pdf_text, spreadsheet_cell
from propfee.pdf_fonts import cjk_font

FONT = cjk_font()
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=24, alignment=1)
SUBTITLE = ParagraphStyle("subtitle", fontName=FONT, fontSize=9, leading=14, alignment=1)
HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=18, spaceBefore=8)
ITEM = ParagraphStyle("item", fontName=FONT, fontSize=10.5, leading=16, spaceBefore=6)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=11)
PLAIN = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
GRID = TableStyle([*PLAIN, ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)])
WIDTH = A4[0] - 30 * mm


def _p(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(pdf_text(text), style)


def _table(
    header: list[str] | None, rows: list[list[str]], widths: list[float] | None = None
) -> Table:
    data = ([[_p(h) for h in header]] if header else []) + [[_p(c) for c in r] for r in rows]
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    table.setStyle(GRID if header else TableStyle(PLAIN))
    return table


def _story(doc: Document) -> list[Any]:
    story: list[Any] = [_p(doc.title, TITLE), _p(doc.subtitle, SUBTITLE), Spacer(1, 4 * mm)]
    story += [_p("一、案件摘要", HEADING)]
    story.append(_table(None, [list(row) for row in doc.cover], [WIDTH * 0.25, WIDTH * 0.75]))
    story += [_p("二、诉请金额明细", HEADING)]
    if doc.claim_rows:
        widths = [0.13, 0.14, 0.13, 0.11, 0.35, 0.14]
        story.append(_table(doc.claim_header, doc.claim_rows, [WIDTH * w for w in widths]))
    else:
        story.append(_p("本案目前无尚欠金额。", BODY))
    story += [_p(f"{label}：{value}", BODY) for label, value in doc.totals]
    story += [_p("三、诉讼时效（按期间）", HEADING)]
    if doc.limitation_rows:
        widths = [0.15, 0.15, 0.3, 0.15, 0.25]
        story.append(
            _table(doc.limitation_header, doc.limitation_rows, [WIDTH * w for w in widths])
        )
    story += [PageBreak(), _p("四、证据目录", HEADING)]
    listing = [
        [f"证据{n}", item.title, item.purpose, doc.attachment(n)]
        for n, item in enumerate(doc.items, start=1)
    ]
    story.append(
        _table(
            ["序号", "证据名称", "证明目的", "附件"],
            listing,
            [WIDTH * 0.09, WIDTH * 0.3, WIDTH * 0.38, WIDTH * 0.23],
        )
    )
    story += [_p("五、证据", HEADING)]
    for n, item in enumerate(doc.items, start=1):
        story += [_p(f"证据{n}：{item.title}", ITEM), _p(f"证明目的：{item.purpose}", BODY)]
        story.append(Spacer(1, 2 * mm))
        if item.header == ["项目", "内容"]:
            story.append(_table(item.header, item.rows, [WIDTH * 0.2, WIDTH * 0.8]))
        elif item.rows:
            story.append(
                _table(item.header, item.rows, [WIDTH / len(item.header)] * len(item.header))
            )
    return story


def render_pdf(bundle: dict[str, Any]) -> bytes:
    doc = compose(bundle)
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, title=doc.title
    )
    pdf.build(_story(doc))
    return buffer.getvalue()


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([spreadsheet_cell(c) for c in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def render_zip(bundle: dict[str, Any]) -> bytes:
    """``证据材料.pdf``, ``证据目录.csv`` and one ``证据N-….csv`` per item of the list."""
    doc = compose(bundle)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("证据材料.pdf", render_pdf(bundle))
        listing = [
            [f"证据{n}", item.title, item.purpose, doc.attachment(n)]
            for n, item in enumerate(doc.items, start=1)
        ]
        archive.writestr("证据目录.csv", _csv(["序号", "证据名称", "证明目的", "附件"], listing))
        for n, item in enumerate(doc.items, start=1):
            archive.writestr(doc.attachment(n), _csv(item.header, item.rows))
    return buffer.getvalue()
