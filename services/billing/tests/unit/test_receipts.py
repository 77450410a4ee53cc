"""The receipt (收款收据): its lines by fee item, its labels and verification code (pure), and
the printed PDF read back with pdftotext: every period with its amount, totals that add up in
figures and in 大写, every field present, nothing past the printable area or overprinted, a
long list continued on a next page with the receipt number there too, the 80 mm and 58 mm
tickets, the reprint mark, and text people typed printed literally."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from billing.adapters.receipt_pdf import render_receipt
from billing.domain.receipts import (
    CODE_CHARS,
    Paid,
    Receipt,
    ReceiptLine,
    period_label,
    principal_lines,
    receipt_lines,
    room_label,
    verification_code,
)
from services.billing.tests import receipt_reading as read
from tests.support import pdf_layout
from tests.support.pdf import HOSTILE, inert_text

CST = timezone(timedelta(hours=8))
SECRET = b"test-receipt-secret"
URL = "http://127.0.0.1:8101/receipts/verify/" + verification_code(SECRET, "c-1/R2026-0000012")


def _receipt(lines: list[ReceiptLine], **changes: object) -> Receipt:
    receipt = Receipt(
        number="R2026-0000012",
        company_name="杭州示例物业服务有限公司",
        community_name="阳光花园",
        room="9栋2单元502",
        payer_name="王小明",
        paid_at=datetime(2026, 11, 20, 10, 32, tzinfo=CST),
        channel="微信支付",
        transaction_id="4200001234202611201234567890",
        cashier="李收银",
        lines=tuple(lines),
        amount_fen=sum(line.amount_fen for line in lines),
        verify_url=URL,
        copy=1,
        service_phone="0571-88886666",
    )
    return replace(receipt, **changes)  # type: ignore[arg-type]


def _months(count: int) -> list[ReceiptLine]:
    """``count`` months paid at once: the property fee and the parking fee of each month, a
    late fee on the oldest, and credit left as prepayment."""
    lines = []
    for n in range(count):
        period = period_label(
            date(2023 + n // 12, n % 12 + 1, 1), date(2023 + n // 12, n % 12 + 1, 28)
        )
        lines += [
            ReceiptLine("物业服务费", period, 27580),
            ReceiptLine("车位管理费", period, 30000),
        ]
    return [*lines, ReceiptLine("违约金", "2023年1月", 1234), ReceiptLine("预存款", "—", 5000)]  # fmt: skip


SHORT = [
    ReceiptLine("物业服务费", "2026年11月", 27580),
    ReceiptLine("车位管理费", "2026年11月", 30000),
    ReceiptLine("违约金", "2026年10月", 412),
]


# -- pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("9栋/2单元/502", "9栋2单元502"),
        ("9/2/502", "9栋2单元502"),
        ("9栋/-/502", "9栋502"),
        ("A座/-/1201", "A座1201"),
        ("odd-key", "odd-key"),
    ],
)
def test_rooms_are_written_as_people_write_them(key: str, label: str) -> None:
    assert room_label(key) == label


def test_periods_name_the_month_or_the_span() -> None:
    assert period_label(date(2026, 11, 1), date(2026, 11, 30)) == "2026年11月"
    assert period_label(date(2026, 10, 1), date(2026, 12, 31)) == "2026年10月至2026年12月"


LINES = [("物业服务费", 27580), ("车位管理费", 30000), ("预缴优惠", -1379)]


@pytest.mark.parametrize(
    ("before", "paid", "expected"),
    [
        # paid whole at once: the lines as billed, the discount too
        (0, 56201, [("物业服务费", 27580), ("车位管理费", 30000), ("预缴优惠", -1379)]),
        # the discount lapsed (paid after the due date): the undiscounted lines
        (0, 57580, [("物业服务费", 27580), ("车位管理费", 30000)]),
        # parts: the fee items in billing order, each part after the one before
        (0, 20000, [("物业服务费", 20000)]),
        (20000, 20000, [("物业服务费", 7580), ("车位管理费", 12420)]),
        (40000, 16201, [("车位管理费", 16201)]),
    ],
)
def test_principal_is_shown_by_fee_item(
    before: int, paid: int, expected: list[tuple[str, int]]
) -> None:
    assert principal_lines(LINES, before, paid) == expected
    assert sum(fen for _, fen in principal_lines(LINES, before, paid)) == paid


def test_an_invoice_without_lines_still_adds_up() -> None:
    assert principal_lines([], 0, 500) == [("费用", 500)]


def test_receipt_lines_show_late_fees_prepayment_and_what_went_back() -> None:
    paid = [
        Paid("principal", "2026年10月", 57580, 0, (("物业服务费", 27580), ("车位管理费", 30000))),
        Paid("late_fee", "2026年10月", 412),
        Paid("principal", "2026年11月", 10000, 0, (("物业服务费", 27580), ("车位管理费", 30000))),
    ]
    assert receipt_lines(paid, 2000, 75000) == [
        ReceiptLine("物业服务费", "2026年10月", 27580),
        ReceiptLine("车位管理费", "2026年10月", 30000),
        ReceiptLine("违约金", "2026年10月", 412),
        ReceiptLine("物业服务费", "2026年11月", 10000),
        ReceiptLine("预存款", "—", 2000),
        ReceiptLine("已退款或转出", "—", 5008),
    ]
    assert receipt_lines(paid, 0, 67992)[-1] == ReceiptLine("物业服务费", "2026年11月", 10000)


def test_verification_codes_are_short_keyed_and_unforgeable() -> None:
    code = verification_code(SECRET, "c-1/R2026-0000012")
    assert len(code) == CODE_CHARS and code.isalnum() and code == code.lower()
    assert verification_code(SECRET, "c-1/R2026-0000012") == code  # the same every time
    assert verification_code(b"another-secret", "c-1/R2026-0000012") != code
    assert verification_code(SECRET, "c-1/R2026-0000013") != code


def test_a_receipt_whose_lines_do_not_add_up_is_refused() -> None:
    with pytest.raises(ValueError, match="do not add up"):
        _receipt(SHORT, amount_fen=1)


# -- the printed receipt ----------------------------------------------------------------


def test_the_a4_receipt_lists_every_item_with_its_period_and_amount() -> None:
    pdf = render_receipt(_receipt(SHORT))
    rows = read.check(pdf)
    assert [(r.item, r.period, r.fen) for r in rows] == [
        ("物业服务费", "2026年11月", 27580),
        ("车位管理费", "2026年11月", 30000),
        ("违约金", "2026年10月", 412),
    ]
    assert read.total_fen(pdf) == 57992
    text = read.flat(pdf)
    for field in (
        "杭州示例物业服务有限公司收款收据",
        "收据编号R2026-0000012",
        "收款日期2026年11月20日10:32",
        "付款人王小明",
        "房号阳光花园9栋2单元502",
        "支付方式微信支付",
        "交易流水号4200001234202611201234567890",
        "收款人李收银",
        "合计（大写）人民币伍佰柒拾玖元玖角贰分",
        "打印原件",
        URL,
        "0571-88886666",
    ):
        assert field in text, field
    assert "重印" not in text.replace("注明“重印”", "")
    assert "第1/1页" in text
    assert len(pdf_layout.pages(pdf)) == 1


def test_forty_months_paid_at_once_continue_on_the_next_pages() -> None:
    lines = _months(40)
    pdf = render_receipt(_receipt(lines))
    rows = read.check(pdf)
    assert len(rows) == len(lines)
    for n in range(40):
        period = f"{2023 + n // 12}年{n % 12 + 1}月"
        assert read.Row("物业服务费", period, 27580) in rows, period
        assert read.Row("车位管理费", period, 30000) in rows, period
    pages = pdf_layout.pages(pdf)
    assert len(pages) >= 2
    for page in pages:
        text = page.text.replace(" ", "")
        assert "R2026-0000012" in text and f"第{page.number}/{len(pages)}页" in text
        assert "金额（元）" in text, "the table's header repeats on every page"
    # The totals, the seal box and the link come once, after the last line.
    last = pages[-1].text.replace(" ", "")
    assert "合计（小写）" in last and "收款单位（盖章）" in last


@pytest.mark.parametrize(("layout", "width_mm"), [("ticket80", 80), ("ticket58", 58)])
def test_the_ticket_has_the_same_content_and_fits_the_paper(layout: str, width_mm: int) -> None:
    receipt = _receipt(SHORT, copy=2)
    pdf = render_receipt(receipt, layout)  # type: ignore[arg-type]
    pages = pdf_layout.pages(pdf)
    assert all(abs(p.width - width_mm * pdf_layout.MM) < 0.5 for p in pages)
    assert len(pages) == 1, "a short receipt is one strip"
    assert pdf_layout.layout_problems(pdf, margin_mm=4) == []  # the printer's 4 mm margins
    read.check(pdf)
    text = read.flat(pdf)
    for field in ("付款人王小明", "房号阳光花园9栋2单元502", "交易流水号", "收款人李收银", URL):
        assert field in text, field
    assert "重印/REPRINT" in text


def test_a_long_ticket_is_one_long_strip() -> None:
    pdf = render_receipt(_receipt(_months(40)), "ticket80")
    assert len(read.check(pdf)) == len(_months(40))
    assert len(pdf_layout.pages(pdf)) == 1


def test_every_copy_after_the_first_is_marked_reprint_on_every_page() -> None:
    pdf = render_receipt(_receipt(_months(40), copy=2))
    pages = pdf_layout.pages(pdf)
    assert all("重印 / REPRINT" in page.text for page in pages)
    assert "重印（第2次打印）" in read.flat(pdf)
    read.check(pdf)


def test_text_people_typed_is_printed_literally() -> None:
    receipt = _receipt(
        SHORT, company_name=HOSTILE, community_name=HOSTILE, payer_name='=HYPERLINK("x")'
    )
    pdf = render_receipt(receipt)
    text = "".join(inert_text(pdf).split())
    assert "".join(HOSTILE.split()) in text and '=HYPERLINK("x")' in text
    assert pdf_layout.layout_problems(pdf) == []


def test_a_receipt_without_payer_cashier_or_transaction_prints_dashes() -> None:
    pdf = render_receipt(
        _receipt(SHORT, payer_name=None, cashier=None, transaction_id=None, service_phone=None)
    )
    text = read.flat(pdf)
    assert "付款人—" in text and "收款人—" in text and "交易流水号—" in text
    read.check(pdf)


@pytest.mark.parametrize("layout", ["a4", "ticket80", "ticket58"])
def test_the_qr_code_encodes_the_verification_link(layout: str) -> None:
    """The QR code is drawn (vector modules, no image) from the verification URL itself."""
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.platypus import Table

    from billing.adapters.receipt_pdf import GEOMETRY, _story

    def widgets(node: object) -> list[QrCodeWidget]:
        if isinstance(node, QrCodeWidget):
            return [node]
        if isinstance(node, Drawing):
            return [w for c in node.contents for w in widgets(c)]
        if isinstance(node, Table):
            return [w for row in node._cellvalues for cell in row for w in widgets(cell)]
        if isinstance(node, list):
            return [w for item in node for w in widgets(item)]
        return []

    found = widgets(_story(_receipt(SHORT), GEOMETRY[layout]))
    assert [w.value for w in found] == [URL]


def test_billing_refuses_the_built_in_receipt_secret_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from billing.app import create_app
    from billing.settings import BillingSettings

    monkeypatch.setenv("PROPFEE_ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="BILLING_RECEIPT_SECRET"):
        create_app(BillingSettings())
    with pytest.raises(ValueError, match="at least 16 bytes"):
        BillingSettings(receipt_secret="short").check_production()
    BillingSettings(receipt_secret="a-real-secret-of-32-bytes-000000").check_production()
    monkeypatch.setenv("PROPFEE_ENVIRONMENT", "development")
    BillingSettings().check_production()  # the demo and the tests


@pytest.mark.parametrize("layout", ["a4", "ticket80", "ticket58"])
def test_every_layout_embeds_its_chinese_font_and_its_text_is_selectable(layout: str) -> None:
    """Printed anywhere, copied from: the viewer supplies no font, and the text is text (not
    drawn outlines), so a search or a copy of the payer's room finds it."""
    pdf = render_receipt(_receipt(SHORT), layout)  # type: ignore[arg-type]
    assert pdf_layout.fonts_not_embedded(pdf) == []
    text = "".join(pdf_layout.text(pdf).split())  # the narrow ticket wraps the title
    for field in ("收款收据", "阳光花园9栋2单元502", "R2026-0000012"):
        assert field in text, field
