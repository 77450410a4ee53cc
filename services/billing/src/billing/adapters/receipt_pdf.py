"""A receipt (收款收据) as a PDF laid out like the paper original: A4, or a ticket for the
cashier's thermal printer (80 mm; 58 mm) with the same content, narrow.

A table of fee items that flows over as many pages as it needs (its header repeated), the
receipt number and "page n of m" on every page, a box for the company's seal, the
verification QR code and link, and "重印 / REPRINT" on every copy after the first. Drawn with
ReportLab's platypus in the embedded Chinese font (``propfee.pdf_fonts``); every text that
people typed (names, the company, the community) goes through ``pdf_text``, so nothing in
it is live, and the link is printed, not a clickable annotation.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any, Literal

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from billing.domain.receipts import Receipt
from propfee.documents import pdf_text
from propfee.money import format_yuan
from propfee.pdf_fonts import cjk_font

Layout = Literal["a4", "ticket80", "ticket58"]
SEAL = "收款单位（盖章）"
REPRINT = "重印 / REPRINT"


@dataclass(frozen=True, slots=True)
class Geometry:
    width: float
    margin: float  # left and right
    top: float  # above the frame: the reprint mark
    bottom: float  # below the frame: receipt number and page
    size: float  # body text
    title: float
    qr: float
    seal_height: float
    ticket: bool


GEOMETRY: dict[str, Geometry] = {
    "a4": Geometry(A4[0], 15 * mm, 22 * mm, 18 * mm, 10, 17, 26 * mm, 30 * mm, False),
    "ticket80": Geometry(80 * mm, 6 * mm, 15 * mm, 14 * mm, 7.5, 11, 30 * mm, 22 * mm, True),
    "ticket58": Geometry(58 * mm, 6 * mm, 15 * mm, 14 * mm, 6.5, 9, 26 * mm, 20 * mm, True),
}
#: A ticket is one strip as long as its content, up to this; longer content continues on the
#: next strip (page) with the same number and page count.
TICKET_MAX_HEIGHT = 1200 * mm


class _Styles:
    def __init__(self, g: Geometry) -> None:
        font = cjk_font()
        lead = g.size * 1.35

        def style(name: str, size: float = g.size, **kw: Any) -> ParagraphStyle:
            return ParagraphStyle(
                name, fontName=font, fontSize=size, leading=size * 1.35, wordWrap="CJK", **kw
            )

        self.title = style("title", g.title, alignment=TA_CENTER, spaceAfter=lead / 2)
        self.cell = style("cell")
        self.label = style("label", textColor=colors.HexColor("#333333"))
        self.amount = style("amount", alignment=TA_RIGHT)
        self.note = style("note", g.size * 0.85)
        self.link = style("link", g.size * 0.8, alignment=TA_CENTER if g.ticket else 0)


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(pdf_text(text), style)


def _grid(data: list[list[Any]], widths: list[float], *, header: bool = False) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(commands))
    return table


def _qr(data: str, size: float) -> Drawing:
    widget = QrCodeWidget(data, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _story(r: Receipt, g: Geometry) -> list[Flowable]:
    s = _Styles(g)
    w = g.width - 2 * g.margin
    yuan = functools.partial(format_yuan, grouped=True)
    paid_at = f"{r.paid_at.year}年{r.paid_at.month}月{r.paid_at.day}日 {r.paid_at:%H:%M}"
    payer = r.payer_name or "—"
    room = f"{r.community_name} {r.room}"
    copy = "原件" if not r.reprint else f"重印（第{r.copy}次打印）"
    story: list[Flowable] = [_p(f"{r.company_name} 收款收据", s.title)]

    def pairs(rows: list[tuple[str, object]]) -> Table:
        """Label-value pairs: two per row on A4, one per row on a ticket."""
        cells = [[_p(k, s.label), _p(v, s.cell)] for k, v in rows]
        if g.ticket:
            return _grid(cells, [w * 0.3, w * 0.7])
        merged = [cells[i] + (cells[i + 1] if i + 1 < len(cells) else ["", ""]) for i in
                  range(0, len(cells), 2)]  # fmt: skip
        return _grid(merged, [w * 0.14, w * 0.36, w * 0.14, w * 0.36])

    story.append(pairs([("收据编号", r.number), ("收款日期", paid_at), ("付款人", payer),
                        ("房号", room)]))  # fmt: skip
    story.append(Spacer(1, 2 * mm))

    header = ["收费项目", "所属期间", "金额（元）"]
    widths = [0.38, 0.33, 0.29] if g.ticket else [0.08, 0.4, 0.3, 0.22]
    if not g.ticket:
        header = ["序号", *header]
    rows: list[list[Any]] = [[_p(h, s.label) for h in header]]
    for n, line in enumerate(r.lines, start=1):
        amount = _p(yuan(line.amount_fen), s.amount)
        cells = [_p(line.item, s.cell), _p(line.period, s.cell), amount]
        rows.append(cells if g.ticket else [_p(n, s.cell), *cells])
    story.append(_grid(rows, [w * x for x in widths], header=True))

    totals = [[_p("合计（小写）", s.label), _p(f"¥{yuan(r.amount_fen)}", s.amount)],
              [_p("合计（大写）", s.label), _p(r.amount_in_words, s.amount)]]  # fmt: skip
    story.append(_grid(totals, [w * 0.3, w * 0.7]))
    story.append(Spacer(1, 2 * mm))

    story.append(pairs([("支付方式", r.channel), ("交易流水号", r.transaction_id or "—"),
                        ("收款人", r.cashier or "—"), ("打印", copy)]))  # fmt: skip
    story.append(Spacer(1, 3 * mm))

    verify = Paragraph(f"扫码或访问以下链接核验本收据：<br/>{pdf_text(r.verify_url)}", s.link)
    seal = Table([[_p(SEAL, s.label)]], colWidths=[w * (1 if g.ticket else 0.3)],
                 rowHeights=[g.seal_height])  # fmt: skip
    seal.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                              ("VALIGN", (0, 0), (-1, -1), "TOP")]))  # fmt: skip
    if g.ticket:
        qr = Table([[_qr(r.verify_url, g.qr)]], colWidths=[w])
        qr.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        story += [qr, verify, Spacer(1, 3 * mm), seal]
    else:
        bottom = Table([[_qr(r.verify_url, g.qr), verify, seal]],
                       colWidths=[g.qr + 3 * mm, w * 0.7 - g.qr - 3 * mm, w * 0.3])  # fmt: skip
        bottom.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                    ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))  # fmt: skip
        story.append(bottom)
    story.append(Spacer(1, 2 * mm))
    contact = f"如有疑问请致电物业服务中心 {r.service_phone}。" if r.service_phone else ""
    story.append(_p(f"本收据由系统生成，编号连续；重复打印的注明“重印”。{contact}", s.note))
    return story


class _PagedCanvas(Canvas):  # type: ignore[misc]  # ReportLab has no type hints
    """Defers each page until the document is done, so every page can say "n of m"."""

    def __init__(self, *args: Any, decorate: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[dict[str, Any]] = []
        self._decorate = decorate

    def showPage(self) -> None:
        self._pending.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pending)
        for number, state in enumerate(self._pending, start=1):
            self.__dict__.update(state)
            self._decorate(self, number, total)
            super().showPage()
        super().save()


def _decorate(r: Receipt, g: Geometry, canvas: Canvas, number: int, total: int) -> None:
    """Receipt number and page on every page; the reprint mark on every page of a copy."""
    width, height = canvas._pagesize
    font = cjk_font()
    size = g.size * 0.9
    canvas.setFont(font, size)
    footer = f"收据编号 {r.number}　第 {number} / {total} 页"
    canvas.drawCentredString(width / 2, g.bottom - 4 * mm - size, footer)
    if r.reprint:
        canvas.setFont(font, g.size * 1.1)
        canvas.setFillColor(colors.HexColor("#b00000"))
        canvas.setStrokeColor(colors.HexColor("#b00000"))
        text_width = canvas.stringWidth(REPRINT, font, g.size * 1.1)
        x = width - g.margin - text_width - 2 * mm if not g.ticket else (width - text_width) / 2
        y = height - g.top + 5 * mm
        canvas.rect(x - 1.5 * mm, y - 1.5 * mm, text_width + 3 * mm, g.size * 1.1 + 2.5 * mm)
        canvas.drawString(x, y, REPRINT)


def _height(r: Receipt, g: Geometry) -> float:
    """A ticket's strip: as long as its content (measured by laying it out once)."""
    width = g.width - 2 * g.margin
    content = sum(
        f.wrap(width, TICKET_MAX_HEIGHT)[1] + f.getSpaceBefore() + f.getSpaceAfter()
        for f in _story(r, g)
    )
    return float(min(TICKET_MAX_HEIGHT, content + g.top + g.bottom + 6 * mm))


def render_receipt(receipt: Receipt, layout: Layout = "a4") -> bytes:
    """The receipt as a PDF in ``layout``: ``a4``, ``ticket80`` or ``ticket58``."""
    g = GEOMETRY[layout]
    size = (g.width, _height(receipt, g)) if g.ticket else A4
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=size,
        leftMargin=g.margin,
        rightMargin=g.margin,
        topMargin=g.top,
        bottomMargin=g.bottom,
        title=f"收款收据 {receipt.number}",
    )
    frame = Frame(
        g.margin,
        g.bottom,
        size[0] - 2 * g.margin,
        size[1] - g.top - g.bottom,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate("receipt", frames=[frame])])
    decorate = functools.partial(_decorate, receipt, g)
    doc.build(_story(receipt, g), canvasmaker=functools.partial(_PagedCanvas, decorate=decorate))
    return buffer.getvalue()
