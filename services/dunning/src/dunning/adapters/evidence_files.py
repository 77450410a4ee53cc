"""The evidence bundle as files: a PDF for people (reportlab's built-in CID font
STSong-Light renders Chinese without shipping a font file) and a ZIP with the raw records.

Notes, names and addresses were typed by people: in the PDF they are escaped (a Paragraph
would make ``<a href>`` a live link and fetch ``<img src>``), in the CSVs text that a
spreadsheet would run as a formula is neutralised (``propfee.documents``)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from propfee.documents import pdf_text, spreadsheet_cell

FONT = "STSong-Light"
TITLES = {
    "invoices": "账单 Invoices",
    "payments": "缴费记录 Payments",
    "reminders": "催缴记录 Reminders",
    "delivery_proof": "送达凭证 Delivery proof",
    "calls_and_visits": "电话与上门记录 Calls and visits",
    "letters": "函件及邮寄单号 Letters and tracking numbers",
    "promises": "缴费承诺 Promises to pay",
    "pauses": "暂停记录 Pauses",
    "notes": "备注 Notes",
    "demands": "催告及期限 Demands with deadlines",
}


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def render_pdf(bundle: dict[str, Any]) -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    title = ParagraphStyle("t", fontName=FONT, fontSize=15, leading=20)
    heading = ParagraphStyle("h", fontName=FONT, fontSize=11, leading=16, spaceBefore=6)
    cell = ParagraphStyle("c", fontName=FONT, fontSize=7, leading=9)
    case = bundle["case"]
    story: list[Any] = [
        Paragraph(f"欠费案件证据材料 Evidence bundle — {pdf_text(case['case_id'])}", title),
        Paragraph(
            f"房号 Room {pdf_text(case['room_label'] or case['unit_id'])} · 小区 Community "
            f"{pdf_text(case['community_id'])} · 欠费 Outstanding "
            f"{case['outstanding_fen'] / 100:.2f} 元 · 阶段 Stage {pdf_text(_text(case['stage']))}"
            f" · 状态 Status {pdf_text(case['status'])}",
            cell,
        ),
        Spacer(1, 4 * mm),
    ]
    for name, label in TITLES.items():
        rows = bundle.get(name) or []
        story.append(Paragraph(f"{label} ({len(rows)})", heading))
        if not rows:
            continue
        header = list(rows[0])
        data = [[Paragraph(pdf_text(h), cell) for h in header]]
        data += [[Paragraph(pdf_text(_text(r[h])[:300]), cell) for h in header] for r in rows]
        table = Table(data, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm)
    doc.build(story)
    return buffer.getvalue()


def render_zip(bundle: dict[str, Any]) -> bytes:
    """``bundle.json`` with every record, one CSV per section, and the PDF."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "bundle.json", json.dumps(bundle, ensure_ascii=False, default=str, indent=1)
        )
        for name in ["case", *TITLES]:
            rows = bundle.get(name) or []
            rows = [rows] if isinstance(rows, dict) else rows
            out = io.StringIO()
            if rows:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(
                    {k: _text(spreadsheet_cell(v)) for k, v in r.items()} for r in rows
                )
            archive.writestr(f"{name}.csv", out.getvalue())
        archive.writestr("evidence.pdf", render_pdf(bundle))
    return buffer.getvalue()
