"""Print-ready letters and door notices: A4 PDF with the company's letterhead, the household's
statement, a QR code to pay and a field for the postal tracking number.

Uses reportlab's built-in CJK CID font (STSong-Light), so no font file is shipped; the QR code
is drawn as vector squares from segno's matrix (sharp at any printer resolution).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable
from typing import Any

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from notifier.adapters.base import Outbound, SendResult

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
TITLES = {
    "bill": "物业费缴费通知单",
    "receipt": "缴费回执",
    "reminder": "物业费催缴函",
    "confirmation": "缴费承诺确认函",
}


def _qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    qr = segno.make(data, error="m")
    rows = [list(row) for row in qr.matrix]
    cell = size / len(rows)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                canvas.rect(x + c * cell, y + size - (r + 1) * cell, cell, cell, stroke=0, fill=1)


def draw_letter(canvas: Canvas, ctx: dict[str, Any]) -> None:
    """One A4 page for one household."""
    width, height = A4
    left, top = 20 * mm, height - 20 * mm
    canvas.setFont(FONT, 16)
    canvas.drawString(left, top, str(ctx.get("company", "")))
    canvas.setFont(FONT, 9)
    head = [
        ctx.get("community", ""),
        ctx.get("company_address") or "",
        f"客服电话 {ctx.get('contact', '')}",
    ]
    canvas.drawString(left, top - 6 * mm, "  ".join(str(h) for h in head if h))
    canvas.line(left, top - 9 * mm, width - left, top - 9 * mm)
    canvas.setFont(FONT, 10)
    y = top - 18 * mm
    for line in (ctx.get("recipient_address") or "", f"房号：{ctx.get('room', '')}"):
        if line:
            canvas.drawString(left, y, str(line))
            y -= 6 * mm
    canvas.setFont(FONT, 15)
    title = ctx.get("title") or TITLES.get(str(ctx.get("message_type")), "通知")
    canvas.drawCentredString(width / 2, y - 6 * mm, str(title))
    y -= 18 * mm
    canvas.setFont(FONT, 10.5)
    for paragraph in str(ctx.get("body", "")).splitlines():
        for line in textwrap.wrap(paragraph, 40) or [""]:
            canvas.drawString(left, y, line)
            y -= 6 * mm
    y -= 4 * mm
    canvas.setFont(FONT, 10)
    canvas.drawString(left, y, "账单明细")
    y -= 6 * mm
    for label, amount in ctx.get("statement", []):
        canvas.drawString(left + 4 * mm, y, str(label))
        canvas.drawRightString(width - left - 50 * mm, y, f"{amount} 元")
        y -= 5.5 * mm
    canvas.drawString(left + 4 * mm, y, "合计应缴")
    canvas.drawRightString(width - left - 50 * mm, y, f"{ctx.get('amount', '')} 元")
    y -= 8 * mm
    if ctx.get("deadline"):
        canvas.drawString(left, y, f"请于 {ctx['deadline']} 前缴纳。如已缴纳，请忽略本函。")
    qr_size = 32 * mm
    _qr(canvas, str(ctx.get("pay_link", "")), width - left - qr_size, 60 * mm, qr_size)
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(width - left - qr_size / 2, 55 * mm, "扫码缴费")
    canvas.setFont(FONT, 10)
    canvas.drawString(left, 50 * mm, "邮寄单号（EMS）：________________________")
    canvas.drawString(left, 42 * mm, f"函件编号：{ctx.get('notification_id', '')}")
    canvas.setFont(FONT, 8)
    line = ctx.get("complaint_line") or ctx.get("contact", "")
    footer = f"如有异议请致电 {line}。本函件密封投递，不公开张贴。"
    canvas.drawString(left, 20 * mm, footer)
    canvas.showPage()


def render_pdf(letters: Iterable[dict[str, Any]]) -> bytes:
    """One PDF with one page per letter (a print batch, or a single letter)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle("Propfee letters")
    for ctx in letters:
        draw_letter(canvas, ctx)
    canvas.save()
    return buffer.getvalue()


class PrintedLetters:
    """Letters and door notices are rendered now, printed in batches, proven by tracking."""

    provider = "post"

    async def send(self, message: Outbound) -> SendResult:
        ctx = {**message.context, "body": message.body, "notification_id": message.notification_id}
        ctx.setdefault("recipient_address", message.address if message.channel == "letter" else "")
        try:
            document = render_pdf([ctx])
        except Exception as exc:  # a broken letter must not stop the batch
            return SendResult("failed", self.provider, error=f"PDF rendering failed: {exc!r}")
        provider = self.provider if message.channel == "letter" else "by_hand"
        return SendResult("printing", provider, None, {}, document=document)
