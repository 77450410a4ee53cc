"""Issue 19: the printed letters read back as their reader sees them (pdftotext). The legal
demand (催告函) names the debtor, the room, each overdue period with principal and late fee
(and how it was computed), totals that add up in figures and in capitals, the deadline counted
from delivery, the basis (Civil Code art. 944), the pay link whole, the dispute line and the
sender; it flows over pages with the reference and 第x页 共y页 on each; nothing runs past the
printable area or over anything else; the font is embedded. Built through ``compose`` (the
code the dispatcher runs) from dunning's ArrearsEscalated as notifier queues it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.adapters.letters_pdf import PrintedLetters, render_pdf
from notifier.domain.messages import bill_request, reminder_requests
from notifier.service_layer.composer import compose
from notifier.settings import NotifierSettings
from propfee.claims import yuan
from propfee.events import ArrearsEscalated, EscalationAction, InvoiceIssued, InvoiceLine
from propfee.events.dunning import ClaimLine
from propfee.money import yuan_in_words
from tests.support import pdf_layout

SH = ZoneInfo("Asia/Shanghai")
PAY_LINK = "https://pf.cn/p/aB3xK9q2Z"  # a pay-link token (propfee.pay_links)
ESCALATED = datetime(2026, 1, 12, 2, tzinfo=UTC)  # 10:00 in Shanghai


def _months(n: int) -> list[ClaimLine]:
    """``n`` monthly invoices from January 2023, each with a late fee and its basis."""
    lines = []
    for i in range(n):
        start = date(2023 + i // 12, i % 12 + 1, 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        lines.append(
            ClaimLine(
                invoice_id=f"inv-{i:03d}", period_start=start, period_end=end, due_date=end,
                fee_item="property", principal_fen=27_580 + i, late_fee_fen=1_000 + 37 * i,
                late_fee_basis={
                    "daily_rate": "0.0005", "annual_cap": "0.24", "starts_on": end + timedelta(1),
                    "through": date(2026, 1, 11), "fen_days": 1, "principal_outstanding_fen": 1,
                },
                late_fee_as_of=date(2026, 1, 11),
            )
        )  # fmt: skip
    return lines


def _escalation(stage: str, lines: list[ClaimLine], channel: str = "letter") -> ArrearsEscalated:
    total = sum(x.principal_fen + x.late_fee_fen for x in lines)
    return ArrearsEscalated(
        case_id="case-1", community_id="c-1", unit_id="unit-9-2-502", payer_party_id="p-1",
        stage=stage, previous_stage="final_letter", tier="red", outstanding_fen=total,
        oldest_due_date=lines[0].due_date, days_overdue=400, invoice_ids=[x.invoice_id for x in lines],
        escalated_at=ESCALATED, room_label="9栋2单元502",
        deadline=date(2026, 1, 27) if stage == "legal_demand" else None,
        actions=[EscalationAction(kind="message", channel=channel, template=stage)],
        statement=lines, paid_fen=10_000,
    )  # fmt: skip


def _row(params: dict[str, Any], message_type: str, stage: str | None, n: int = 1) -> Any:
    return {
        "notification_id": f"ntf-2cf1ff3a-0000-4000-8000-00000000000{n}",
        "params": params, "message_type": message_type, "stage": stage,
        "unit_id": "unit-9-2-502", "subject_id": "case-1", "company_id": "co-1",
        "locale": "zh-CN", "name": "张三", "requested_at": ESCALATED,
        "company_name": "安居物业服务有限公司", "community_name": "幸福花园",
        "company_address": "杭州市西湖区文三路100号", "service_phone": "4008123456",
        "complaint_line": "0571-12345",
    }  # fmt: skip


def _letter(event: ArrearsEscalated, channel: str = "letter", n: int = 1) -> dict[str, Any]:
    (request,) = reminder_requests(event)
    row = _row(request.params, request.message_type, request.stage, n)
    address = "杭州市西湖区幸福路1号9栋2单元502" if channel == "letter" else "9栋2单元502"
    outbound, _ = compose(row, channel, address, SH, {}, NotifierSettings(), pay_link=PAY_LINK)
    return {**outbound.context, "notification_id": outbound.notification_id}


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def long_demand() -> tuple[list[ClaimLine], dict[str, Any], bytes]:
    lines = _months(36)
    letter = _letter(_escalation("legal_demand", lines))
    return lines, letter, render_pdf([letter])


def test_the_legal_demand_lists_every_period_with_its_amounts(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    lines, _, pdf = long_demand
    rows = [r for r in pdf_layout.text(pdf).splitlines() if re.match(r"\s*20\d\d年\d+月\s", r)]
    assert len(rows) == 36
    for line, row in zip(lines, rows, strict=True):
        period = f"{line.period_start.year}年{line.period_start.month}月"  # type: ignore[union-attr]
        assert row.split()[0] == period
        amounts = row.split()[2:]
        total = line.principal_fen + line.late_fee_fen
        assert amounts == [yuan(line.principal_fen), yuan(line.late_fee_fen), yuan(total)], row
    flat = _flat(pdf_layout.text(pdf))
    assert "滞纳金计算：日费率0.05%，年上限24%，自2023年2月1日计至2026年1月11日，共1076天" in flat
    assert "账单inv-" not in flat and "inv-0" not in flat


def test_the_totals_add_up_in_figures_and_in_capitals(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    lines, _, pdf = long_demand
    text = pdf_layout.text(pdf)
    principal = sum(x.principal_fen for x in lines)
    late_fee = sum(x.late_fee_fen for x in lines)
    listed = [
        int(a.replace(",", "").replace(".", "").removesuffix("元"))
        for a in re.findall(r"^\s*20\d\d年\d+月\s+\S+\s+\S+\s+\S+\s+(\S+元)", text, re.M)
    ]
    assert sum(listed) == principal + late_fee
    flat = _flat(text)
    assert f"欠缴本金合计{yuan(principal)}" in flat
    assert f"滞纳金合计{yuan(late_fee)}" in flat
    assert f"应缴合计{yuan(principal + late_fee)}" in flat
    assert f"合计（大写）{yuan_in_words(principal + late_fee)}" in flat
    assert "您已就上述期间缴纳100.00元" in flat  # the part payment


def test_the_demand_is_a_demand_with_its_basis_deadline_and_parties(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    _, letter, pdf = long_demand
    flat = _flat(pdf_layout.text(pdf))
    assert letter["title"] == "催告函" and "催告函" in flat and "催缴函" not in flat
    assert "张三（9栋2单元502）：" in flat and "收件人：张三" in flat
    assert "《物业服务合同》" in flat and "《中华人民共和国民法典》第九百四十四条" in flat
    assert "自本函送达之日起15日内" in flat and "即不晚于2026年1月27日" in flat
    assert "0571-12345" in flat  # how to dispute
    assert "安居物业服务有限公司（盖章）" in flat and "2026年1月12日" in flat  # the sender
    assert "邮寄单号（EMS）" in flat


def test_the_pay_link_is_printed_whole(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    _, _, pdf = long_demand
    words = [w.text for page in pdf_layout.pages(pdf) for w in page.words]
    assert PAY_LINK in words


def test_a_long_statement_flows_over_pages_each_with_its_reference_and_number(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    _, letter, pdf = long_demand
    pages = pdf_layout.text(pdf).split("\f")[:-1]
    assert len(pages) >= 3
    reference = letter["reference"]
    assert re.fullmatch(r"催告〔2026〕0112-2CF1FF3A", reference)
    for number, page in enumerate(pages, start=1):
        assert f"函件编号：{reference}" in page
        assert f"第{number}页共{len(pages)}页" in _flat(page)
    assert re.search(r"^\s*2025年\d+月\s", pages[1], re.M)  # the list continues
    assert "期间" in pages[1] and "欠缴本金" in pages[1]  # under its header again


def test_nothing_runs_off_the_page_or_over_anything_and_the_font_is_embedded(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    _, _, pdf = long_demand
    assert pdf_layout.layout_problems(pdf) == []
    assert pdf_layout.fonts_not_embedded(pdf) == []


@pytest.mark.parametrize(
    ("stage", "channel", "title"),
    [
        ("friendly_letter", "letter", "物业费缴费提示函"),
        ("formal_letter", "letter", "物业费催缴函"),
        ("final_letter", "letter", "最后催缴函"),
        ("sealed_door_notice", "door_notice", "温馨提示"),
    ],
)
def test_other_letters_keep_fitting_titles_and_print_cleanly(
    stage: str, channel: str, title: str
) -> None:
    lines = _months(3)
    letter = _letter(_escalation(stage, lines, channel), channel)
    pdf = render_pdf([letter])
    flat = _flat(pdf_layout.text(pdf))
    assert letter["title"] == title and title in flat
    assert "催告函" not in flat and "第九百四十四条" not in flat
    for line in lines:
        assert _flat(f"{yuan(line.principal_fen)}{yuan(line.late_fee_fen)}") in flat
    assert pdf_layout.layout_problems(pdf) == [] and pdf_layout.fonts_not_embedded(pdf) == []
    if channel == "door_notice":
        assert "密封通知·请本户亲启" in flat and "投递人" in flat
        assert "收件人" not in flat  # the outer face names the room only
        assert "自本通知送达之日起15日内" in flat


def test_a_bill_by_post_is_a_payment_notice_with_its_lines() -> None:
    issued = InvoiceIssued(
        invoice_id="inv-1", community_id="c-1", building_id="b", unit_id="unit-9-2-502",
        payer_party_id="p-1", period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31), total_fen=33_580, issued_at=ESCALATED, room_label="9栋2单元502",
        lines=[InvoiceLine(fee_item="property", description="物业服务费", quantity="98.5",
                           unit_price_fen=280, amount_fen=27_580),
               InvoiceLine(fee_item="parking", description="车位管理费", quantity="1",
                           unit_price_fen=6_000, amount_fen=6_000)],
    )  # fmt: skip
    request = bill_request(issued, channel="letter")
    row = _row(request.params, "bill", None)
    outbound, _ = compose(
        row, "letter", "杭州市西湖区幸福路1号", SH, {}, NotifierSettings(), pay_link=PAY_LINK
    )
    pdf = render_pdf([outbound.context])
    flat = _flat(pdf_layout.text(pdf))
    assert "物业费缴费通知单" in flat and "2026年3月" in flat
    assert "物业服务费" in flat and "275.80元" in flat and "车位管理费" in flat
    assert "应缴合计335.80元" in flat and yuan_in_words(33_580) in flat
    assert pdf_layout.layout_problems(pdf) == []


def test_a_print_batch_starts_each_letter_on_a_new_page_numbered_on_its_own() -> None:
    long, short = _months(30), _months(2)
    first = _letter(_escalation("legal_demand", long), n=1)
    second = _letter(_escalation("formal_letter", short), n=2)
    second["reference"] = second["reference"].replace("2CF1FF3A", "0BADCAFE")
    pages = pdf_layout.text(render_pdf([first, second])).split("\f")[:-1]
    firsts = [p for p in pages if first["reference"] in p]
    seconds = [p for p in pages if second["reference"] in p]
    assert len(firsts) + len(seconds) == len(pages) and len(seconds) == 1
    assert f"第1页共{len(firsts)}页" in _flat(firsts[0])
    assert "第1页共1页" in _flat(seconds[0])
    assert "物业费催缴函" in seconds[0] and "催告函" not in seconds[0]
    assert seconds[0].lstrip().startswith("安居物业服务有限公司")


async def test_a_single_letter_is_sent_to_print_as_the_same_document() -> None:
    from notifier.adapters.base import Outbound

    letter = _letter(_escalation("legal_demand", _months(2)))
    message = Outbound(
        notification_id="ntf-2cf1ff3a-0000-4000-8000-000000000001", channel="letter",
        address="杭州市西湖区幸福路1号", body="（短信模板正文）", message_type="reminder",
        context=letter,
    )  # fmt: skip
    result = await PrintedLetters().send(message)
    assert result.outcome == "printing" and result.document is not None
    flat = _flat(pdf_layout.text(result.document))
    assert "催告函" in flat and "第1页共2页" in flat and "第2页共2页" in flat and PAY_LINK in flat


def test_no_line_starts_with_closing_punctuation(
    long_demand: tuple[list[ClaimLine], dict[str, Any], bytes],
) -> None:
    """避头标点: "：", "，", "》" ... end the line before, as Chinese is typeset."""
    _, _, pdf = long_demand
    opening = [
        line
        for line in pdf_layout.text(pdf).splitlines()
        if re.match(r"\s*[，。、：；！？）》”]", line)
    ]
    assert opening == []
