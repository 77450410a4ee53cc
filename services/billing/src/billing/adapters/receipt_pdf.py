"""A payment receipt (收据) as an A4 PDF, with reportlab's built-in Chinese font."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from propfee.money import format_yuan

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

CHANNELS = {
    "wechat_pay": "微信支付",
    "alipay": "支付宝",
    "unionpay": "云闪付",
    "cash": "现金",
    "bank_card": "银行卡",
    "pos": "POS",
    "bank_withholding": "银行代扣",
}


def render_receipt(receipt: dict[str, Any], allocations: list[dict[str, Any]]) -> bytes:
    """Receipt number, household, amount, channel and what it paid; no owner name or phone."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"收据 {receipt['receipt_no']}")
    width, height = A4
    y = height - 25 * mm
    pdf.setFont(FONT, 18)
    pdf.drawCentredString(width / 2, y, f"{receipt['company_name']} 收款收据")
    pdf.setFont(FONT, 11)
    y -= 14 * mm
    for label, value in (
        ("收据编号", receipt["receipt_no"]),
        ("小区", receipt["community_name"]),
        ("房号", receipt["unit_key"]),
        ("收款金额", f"¥{format_yuan(receipt['amount_fen'])}"),
        ("支付方式", CHANNELS.get(receipt["channel"], receipt["channel"])),
        ("付款时间", receipt["paid_at"].strftime("%Y-%m-%d %H:%M")),
    ):
        pdf.drawString(25 * mm, y, f"{label}：{value}")
        y -= 8 * mm
    y -= 4 * mm
    pdf.drawString(25 * mm, y, "本次款项用于：")
    y -= 8 * mm
    for a in allocations:
        what = "违约金" if a["component"] == "late_fee" else "本金"
        period = f"{a['period_start']:%Y-%m}"
        pdf.drawString(30 * mm, y, f"{period} 账单 {what} ¥{format_yuan(a['amount_fen'])}")
        y -= 7 * mm
        if y < 30 * mm:
            pdf.showPage()
            pdf.setFont(FONT, 11)
            y = height - 25 * mm
    if receipt.get("credit_fen"):
        pdf.drawString(30 * mm, y, f"预存余额 ¥{format_yuan(receipt['credit_fen'])}")
    pdf.setFont(FONT, 9)
    pdf.drawString(25 * mm, 15 * mm, "本收据由系统生成，编号连续。如有疑问请致电物业服务中心。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
