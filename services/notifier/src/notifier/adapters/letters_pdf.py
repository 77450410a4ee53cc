"""Print-ready letters and door notices (issue 19): A4, laid out as the Chinese originals are,
from the data ``service_layer/letter_context`` builds.

ReportLab's platypus flows each letter over as many pages as its statement needs (the table's
header repeats on every page); every page carries the letter's reference and "第x页 共y页"
counted within its own letter, also in a print batch, where each letter starts on a new page.
Nothing is drawn at a fixed place over the flow: the tracking-number field and the letter's
number are part of it, so a long statement pushes them on instead of running into them. The
pay link is a paragraph of its own that wraps only at spaces (a link has none: it stays
whole), beside a QR code drawn as vector squares from segno's matrix (no image: sharp at any
resolution, nothing for a viewer to fetch). Every text people typed (names, addresses) is
escaped: it prints literally. The font is ``propfee.pdf_fonts``' embedded Chinese font.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors, textsplit
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
    paragraph,
)

from notifier.adapters.base import Outbound, SendResult
from propfee.pdf_fonts import cjk_font

#: Chinese punctuation that never starts a line (避头标点): ReportLab's CJK wrap knows the
#: Japanese set only, so "：" or "》" would open a line; it hangs them at the line's end instead.
_NO_LINE_START = "，。、：；！？）》」』”’％"
for _module in (textsplit, paragraph):  # one-fragment paragraphs wrap in textsplit
    _module.ALL_CANNOT_START = "".join(dict.fromkeys(_module.ALL_CANNOT_START + _NO_LINE_START))

WIDTH, HEIGHT = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 20 * mm, 18 * mm, 24 * mm
TEXT_WIDTH = WIDTH - 2 * MARGIN_X
#: The statement's columns: period, due date, principal, late fee, total (170 mm).
COLUMNS = [52 * mm, 30 * mm, 30 * mm, 26 * mm, 32 * mm]
QR_SIZE = 30 * mm


def _styles() -> dict[str, ParagraphStyle]:
    font = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=15, wordWrap="CJK")
    return {
        "body": body,
        "indent": ParagraphStyle("indent", parent=body, firstLineIndent=21),
        "head": ParagraphStyle("head", parent=body, fontSize=16, leading=20),
        "small": ParagraphStyle("small", parent=body, fontSize=8.5, leading=12),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=12),
        "num": ParagraphStyle("num", parent=body, fontSize=9, leading=12, alignment=TA_RIGHT),
        "terms": ParagraphStyle("terms", parent=body, fontSize=8, leading=11, leftIndent=8),
        "title": ParagraphStyle(
            "title", parent=body, fontSize=18, leading=26, alignment=TA_CENTER, spaceBefore=4
        ),
        "right": ParagraphStyle("right", parent=body, alignment=TA_RIGHT),
        # A link wraps only at spaces: it has none, so it is never broken.
        "link": ParagraphStyle("link", parent=body, fontSize=9.5, leading=14, wordWrap=None),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text or "")), style)


class _LetterStart(Flowable):  # type: ignore[misc]
    """Marks the page where a letter starts: the canvas keeps which letter each page is of
    (the footer's reference and page count)."""

    def __init__(self, key: tuple[int, str]) -> None:
        super().__init__()
        self.key = key

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.canv._propfee_letter = self.key


class _QrCode(Flowable):  # type: ignore[misc]
    """The pay link as a QR code, drawn as vector squares."""

    def __init__(self, data: str, size: float = QR_SIZE) -> None:
        super().__init__()
        self.data, self.size = data, size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        rows = [list(row) for row in segno.make(self.data, error="m").matrix]
        cell = self.size / len(rows)
        self.canv.setFillColor(colors.black)
        for r, row in enumerate(rows):
            y = self.size - (r + 1) * cell
            c = 0
            while c < len(row):  # one rectangle per run of dark modules
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                self.canv.rect(start * cell, y, (c - start) * cell, cell, stroke=0, fill=1)


class _PagedCanvas(Canvas):  # type: ignore[misc]
    """Draws each page's footer once the whole document is laid out: the letter's reference
    and 第x页 共y页 within that letter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        totals = Counter(state.get("_propfee_letter") for state in self._pages)
        seen: Counter[Any] = Counter()
        for state in self._pages:
            self.__dict__.update(state)
            key = state.get("_propfee_letter")
            seen[key] += 1
            self._footer(key[1] if key else "", seen[key], totals[key])
            super().showPage()
        super().save()

    def _footer(self, reference: str, page: int, pages: int) -> None:
        self.saveState()
        self.setFont(cjk_font(), 8.5)
        self.setStrokeColor(colors.grey)
        self.line(MARGIN_X, 16 * mm, WIDTH - MARGIN_X, 16 * mm)
        self.drawString(MARGIN_X, 11 * mm, f"函件编号：{reference}")
        self.drawRightString(WIDTH - MARGIN_X, 11 * mm, f"第{page}页 共{pages}页")
        self.restoreState()


def _letterhead(ctx: Mapping[str, Any], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    head = [ctx.get("community"), ctx.get("company_address")]
    if ctx.get("contact"):
        head.append(f"客服电话 {ctx['contact']}")
    line = Table([[""]], colWidths=[TEXT_WIDTH], rowHeights=[2])
    line.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 1, colors.black)]))
    return [
        _p(ctx.get("company"), s["head"]),
        _p("  ".join(str(h) for h in head if h), s["small"]),
        line,
        Spacer(1, 4 * mm),
    ]


def _envelope(ctx: Mapping[str, Any], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """A door notice is folded and sealed: its outer face names the room only."""
    face = Table(
        [
            [_p("密封通知 · 请本户亲启", s["title"])],
            [_p(f"致：{ctx.get('room', '')} 业主/住户（亲启）", s["body"])],
            [_p("内含您的缴费信息，他人请勿拆阅；本通知密封投递，不公开张贴。", s["small"])],
            [_p(f"{ctx.get('company', '')}", s["right"])],
        ],
        colWidths=[TEXT_WIDTH - 20 * mm],
    )
    face.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1, colors.black),
                ("LEFTPADDING", (0, 0), (-1, -1), 8 * mm),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
            ]
        )
    )
    fold = _p("- - - - - - - - - 沿此线折叠封口 - - - - - - - - -", s["small"])
    fold.style = ParagraphStyle("fold", parent=s["small"], alignment=TA_CENTER)
    return [face, Spacer(1, 4 * mm), fold, Spacer(1, 6 * mm)]


def _statement(ctx: Mapping[str, Any], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows = ctx.get("statement") or []
    if not rows:
        return []
    header = ctx.get("statement_header") or []
    data: list[list[Any]] = [[_p(h, s["cell"]) for h in header]]
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, 0), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
        ("BOX", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for row in rows:
        if not isinstance(row, Mapping):  # a letter queued before issue 19: (label, amount)
            row = {"cells": [str(row[0]), "", "", "", str(row[-1])]}
        cells = list(row.get("cells") or [])
        data.append([_p(cells[0], s["cell"]), *(_p(c, s["num"]) for c in cells[1:])])
        style.append(("LINEABOVE", (0, len(data) - 1), (-1, len(data) - 1), 0.5, colors.black))
        if row.get("terms"):
            data.append([_p(f"滞纳金计算：{row['terms']}", s["terms"]), "", "", "", ""])
            style.append(("SPAN", (0, len(data) - 1), (-1, len(data) - 1)))
    table = Table(data, colWidths=COLUMNS, repeatRows=1, splitByRow=1)
    table.setStyle(TableStyle(style))
    totals = [
        [_p(label, s["right"]), _p(amount, s["num"])] for label, amount in ctx.get("totals") or []
    ]
    totals.append(
        [_p("合计（大写）", s["right"]), _p(ctx.get("total_in_words"), s["num"])],
    )
    summary = Table(totals, colWidths=[TEXT_WIDTH - 70 * mm, 70 * mm])
    summary.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 0.5, colors.black)]))
    return [table, Spacer(1, 2 * mm), KeepTogether([summary]), Spacer(1, 3 * mm)]


def _pay_and_dispute(ctx: Mapping[str, Any], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    link = str(ctx.get("pay_link") or "")
    left: list[Flowable] = [
        _p("缴费方式：扫描右侧二维码，或在手机浏览器中打开以下链接（按缴费当日应缴金额收取）：",
           s["body"]),
        _p(link, s["link"]),
        _p(f"也可到{ctx.get('community') or ''}物业服务中心缴纳。", s["body"]),
        Spacer(1, 2 * mm),
        _p(f"如有异议：请于上述期限内致电 {ctx.get('dispute_contact') or ''}，或到物业服务中心"
           "书面提出，我司将核实后答复；核实期间不影响您的合法权益。", s["body"]),
    ]  # fmt: skip
    block = Table(
        [[left, _QrCode(link) if link else ""], ["", _p("扫码缴费", s["small"])]],
        colWidths=[TEXT_WIDTH - QR_SIZE - 6 * mm, QR_SIZE + 6 * mm],
    )
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("SPAN", (0, 0), (0, 1))]))
    return [KeepTogether([block]), Spacer(1, 4 * mm)]


def _sender_and_record(ctx: Mapping[str, Any], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The sender (company, address, date; the seal goes over it) beside the delivery record
    filled in by hand: the postal tracking number, or who delivered a door notice when."""
    sender = [f"{ctx.get('company') or ''}（盖章）", ctx.get("company_address"), ctx.get("date")]
    if ctx.get("channel") == "door_notice":
        record = ["投递人：__________", "投递时间：____年__月__日"]
    else:
        record = ["邮寄单号（EMS）：", "______________________"]
    record.append(f"函件编号：{ctx.get('reference', '')}")
    width = 75 * mm
    block = Table(
        [[[_p(x, s["small"]) for x in record], [_p(x, s["right"]) for x in sender if x]]],
        colWidths=[width, TEXT_WIDTH - width],
    )
    block.setStyle(
        TableStyle([("BOX", (0, 0), (0, 0), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    return [KeepTogether([block])]


def letter_flowables(ctx: Mapping[str, Any], index: int = 0) -> list[Flowable]:
    """One letter, from its data (``letter_context``)."""
    s = _styles()
    story: list[Flowable] = [_LetterStart((index, str(ctx.get("reference") or "")))]
    if ctx.get("channel") == "door_notice":  # the sealed face first, the notice inside
        story += _envelope(ctx, s)
    story += _letterhead(ctx, s)
    if ctx.get("recipient_address"):
        story += [
            _p(f"收件人：{ctx.get('recipient', '')}", s["body"]),
            _p(f"地址：{ctx['recipient_address']}", s["body"]),
            _p(f"房号：{ctx.get('room', '')}", s["body"]),
        ]
    story += [
        _p(ctx.get("title") or "通知", s["title"]),
        _p(f"编号：{ctx.get('reference', '')}", s["right"]),
        Spacer(1, 3 * mm),
        _p(ctx.get("salutation"), s["body"]),
    ]
    paragraphs = ctx.get("paragraphs") or {}
    story += [_p(x, s["indent"]) for x in paragraphs.get("intro") or []]
    story += [Spacer(1, 2 * mm), *_statement(ctx, s)]
    story += [_p(x, s["indent"]) for x in paragraphs.get("after") or []]
    if ctx.get("basis"):
        story += [Spacer(1, 2 * mm), _p("依据：", s["body"])]
        story += [_p(f"{n}. {x}", s["small"]) for n, x in enumerate(ctx["basis"], start=1)]
    story += [Spacer(1, 3 * mm), *_pay_and_dispute(ctx, s), *_sender_and_record(ctx, s)]
    return story


def render_pdf(letters: Iterable[Mapping[str, Any]]) -> bytes:
    """One PDF of one or more letters (a print batch), each starting on a new page."""
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title="Propfee letters", pageCompression=1,
    )  # fmt: skip
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, TEXT_WIDTH, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM, id="f")
    doc.addPageTemplates([PageTemplate(id="letter", frames=[frame])])
    story: list[Flowable] = []
    for index, ctx in enumerate(letters):
        if story:
            story.append(PageBreak())
        story += letter_flowables(ctx, index)
    if not story:
        story.append(Spacer(1, 1))
    doc.build(story, canvasmaker=_PagedCanvas)
    return buffer.getvalue()


class PrintedLetters:
    """Letters and door notices are rendered now, printed in batches, proven by tracking."""

    provider = "post"
    #: Rendered here for print: a claim lost before its outcome was recorded is rendered again
    #: (service_layer/recovery.py).
    idempotent = True

    async def send(self, message: Outbound) -> SendResult:
        ctx = {**message.context, "notification_id": message.notification_id}
        try:
            document = render_pdf([ctx])
        except Exception as exc:  # a broken letter must not stop the batch
            return SendResult("failed", self.provider, error=f"PDF rendering failed: {exc!r}")
        provider = self.provider if message.channel == "letter" else "by_hand"
        return SendResult("printing", provider, None, {}, document=document)
