"""Every shipped template, for every message type, dunning stage and channel, rendered through
``compose`` (the dispatcher's own path) with realistic values: the room as people write it,
the amount in yuan, the period, a real deadline date, wording that fits the stage, nothing an
owner may not read, and one SMS segment (issue 19)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.domain.default_policy import DEFAULT_STAGES
from notifier.domain import owner_text, sms
from notifier.domain.channels import CHANNELS
from notifier.domain.messages import (
    MessageRequest,
    bill_request,
    plan_confirmation,
    promise_confirmation,
    receipt_request,
    reminder_requests,
)
from notifier.service_layer import pay_links
from notifier.service_layer.composer import ComposeError, compose, context
from notifier.service_layer.templates import Template
from notifier.settings import NotifierSettings
from propfee.events import (
    ArrearsEscalated,
    EscalationAction,
    InstallmentPart,
    InstallmentPlanCreated,
    InvoiceIssued,
    PaymentReceived,
    PromiseRecorded,
)

ZONE = ZoneInfo("Asia/Shanghai")
S = NotifierSettings(sms_sign_name="物业服务", default_service_phone="")
TOKEN = "aB3xK9q2Z"
ROOM = "12栋3单元2801"
KEY = "12/3/2801"  # billing's unit key as an old event carried it
UNIT = "unit-17640c2e9fa959aab424"
PERIODS = [(date(2026, 10, 1), date(2026, 10, 31)), (date(2026, 11, 1), date(2026, 11, 30))]
MESSAGE_STAGES = [s for s in DEFAULT_STAGES if s.sends_messages]


def _row(m: MessageRequest, channel: str, **params: Any) -> dict[str, Any]:
    return {
        "notification_id": "ntf-1",
        "message_type": m.message_type,
        "stage": m.stage,
        "unit_id": m.unit_id,
        "party_id": m.party_id,
        "community_id": m.community_id,
        "subject_id": m.subject_id,
        "params": {**m.params, **params},
        "requested_at": m.requested_at,
        "company_id": "co-1",
        "locale": "zh-CN",
        "service_phone": "075512345678",
        "company_name": "示例物业服务有限公司",
        "complaint_line": None,
        "community_name": "示例花园",
        "company_address": "深圳市南山区科技园路1号",
        "name": "张三",
    }


def _write(
    m: MessageRequest,
    channel: str,
    *,
    periods: list[tuple[date, date]] | None = None,
    saved: dict[tuple[str, str], Template] | None = None,
    **params: Any,
) -> str:
    row = _row(m, channel, **params)
    link = pay_links.printed(TOKEN, channel, S) if m.message_type in pay_links.WITH_LINK else None
    outbound, _ = compose(
        row, channel, "addr", ZONE, saved or {}, S, pay_link=link, periods=periods
    )
    return outbound.body


def _bill() -> MessageRequest:
    return bill_request(
        InvoiceIssued(
            invoice_id="inv-9f3a",
            community_id="c",
            building_id="b",
            unit_id=UNIT,
            payer_party_id="p",
            period_start=date(2026, 12, 1),
            period_end=date(2026, 12, 31),
            due_date=date(2026, 12, 31),
            lines=[],
            total_fen=1234567,
            issued_at=datetime(2026, 12, 1, 2, tzinfo=UTC),
            room_label=ROOM,
        )
    )


def _escalation(stage: str, days_overdue: int, **extra: Any) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id="case-5d1e",
        community_id="c",
        unit_id=UNIT,
        payer_party_id="p",
        stage=stage,
        previous_stage=None,
        tier="red",
        outstanding_fen=1234567,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=days_overdue,
        invoice_ids=["inv-1", "inv-2"],
        escalated_at=datetime(2026, 12, 10, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="sms")],
        room_label=KEY,
        **extra,
    )


def _reminder(stage: str, days_overdue: int, **extra: Any) -> MessageRequest:
    return reminder_requests(_escalation(stage, days_overdue, **extra))[0]


def _receipt(channel: str = "wechat_pay", invoice_ids: list[str] | None = None) -> MessageRequest:
    return receipt_request(
        PaymentReceived(
            payment_id="pay-77aa",
            community_id="c",
            unit_id=UNIT,
            payer_party_id="p",
            invoice_ids=["inv-1", "inv-2"] if invoice_ids is None else invoice_ids,
            amount_fen=1234567,
            channel=channel,  # type: ignore[arg-type]
            paid_at=datetime(2026, 12, 3, 1, 30, tzinfo=UTC),
            received_at=datetime(2026, 12, 3, 1, 30, tzinfo=UTC),
        ),
        room=KEY,
    )


def _assert_readable(text: str, channel: str) -> None:
    assert owner_text.problems(text) == [], text
    assert UNIT not in text and "unit-" not in text and KEY not in text
    assert ROOM in text, text
    assert "12345.67" in text, text
    assert "近日" not in text and "None" not in text
    assert not re.search(r"-\d", text.replace("0755-", "")), text
    if channel == "sms":
        c = sms.count(text)
        assert c.segments == 1, (c, text)
        assert text.startswith("【物业服务】")


def _deadline_in(text: str, day: date) -> bool:
    return f"{day.month}月{day.day}日" in text


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_bill_names_room_amount_period_and_due_date_and_never_overdue(channel: str) -> None:
    text = _write(_bill(), channel)
    _assert_readable(text, channel)
    assert _deadline_in(text, date(2026, 12, 31))
    assert "逾期" not in text and "欠" not in text
    if channel != "sms":  # an SMS has no room for the period (DOMAIN.md: 70 characters)
        assert "2026年12月" in text
    link = f"pf.cn/p/{TOKEN}"
    assert (
        (f"https://{link}" not in text and f"{link} " in text)
        if channel == "sms"
        else (f"https://{link}" in text)
    )


@pytest.mark.parametrize("stage", MESSAGE_STAGES, ids=lambda s: s.code)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_reminder_of_every_stage_fits_it(stage: Any, channel: str) -> None:
    before_due = stage.offset_days < 0 and stage.anchor == "due_date"
    days = stage.offset_days if before_due else max(stage.offset_days, 1) + 200
    deadline = date(2026, 12, 25) if stage.deadline_days else None
    m = _reminder(stage.code, days, deadline=deadline)
    text = _write(m, channel, periods=PERIODS)
    _assert_readable(text, channel)
    if before_due:
        # The due date (oldest_due_date) is the deadline; nothing is overdue yet.
        assert "逾期" not in text and "欠" not in text
        assert _deadline_in(text, date(2026, 1, 31)), text
    else:
        # The demand's own deadline, or a week from the reminder (escalated 12月10日).
        assert _deadline_in(text, deadline or date(2026, 12, 17)), text
        assert "欠" in text or "未缴" in text
    if channel != "sms":
        assert "2026年10月—11月" in text or before_due
        assert f"https://pf.cn/p/{TOKEN}" in text


@pytest.mark.parametrize("stage", MESSAGE_STAGES, ids=lambda s: s.code)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_reminder_after_a_part_payment_names_what_is_left(stage: Any, channel: str) -> None:
    if stage.offset_days < 0:
        return  # before the due date nothing is chased
    m = _reminder(stage.code, 40, paid_fen=32300)
    text = _write(m, channel)
    _assert_readable(text, channel)
    assert "尚欠" in text
    if channel != "sms":  # an SMS says what is left; every other channel both figures
        assert "已缴323.00元" in text and "尚欠物业费12345.67元" in text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("wechat_pay", "微信支付"),
        ("alipay", "支付宝"),
        ("cash", "现金"),
        ("bank_withholding", "银行代扣"),
    ],
)
def test_a_receipt_names_the_channel_and_the_months_paid(
    channel: str, method: str, name: str
) -> None:
    text = _write(_receipt(method), channel, periods=PERIODS)
    _assert_readable(text, channel)
    assert name in text and "2026年10月—11月" in text
    assert "逾期" not in text and "pf.cn/p/" not in text


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_receipt_naming_no_invoice_says_so_without_months(channel: str) -> None:
    text = _write(_receipt(invoice_ids=[]), channel, periods=[])
    _assert_readable(text, channel)
    assert "未指定" in text and "年" not in text
    # Invoices the notifier never saw: how many, no invented months.
    text = _write(_receipt(), channel, periods=[])
    assert "2笔账单" in text and "月—" not in text


@pytest.mark.parametrize("channel", CHANNELS)
def test_confirmations_state_the_promised_date(channel: str) -> None:
    promise = promise_confirmation(
        PromiseRecorded(
            promise_id="prm-1a2b",
            case_id="case-5d1e",
            community_id="c",
            unit_id=UNIT,
            payer_party_id="p",
            amount_fen=1234567,
            promised_date=date(2026, 12, 20),
            recorded_at=datetime(2026, 12, 10, 2, tzinfo=UTC),
            room_label=ROOM,
        )
    )
    text = _write(promise, channel)
    _assert_readable(text, channel)
    assert _deadline_in(text, date(2026, 12, 20)) and "逾期" not in text
    plan = plan_confirmation(
        InstallmentPlanCreated(
            plan_id="plan-3c4d",
            community_id="c",
            unit_id=UNIT,
            payer_party_id="p",
            invoice_ids=["inv-1"],
            reason="hardship",
            total_fen=2469134,
            parts=[
                InstallmentPart(part_no=1, due_date=date(2026, 12, 20), amount_fen=1234567),
                InstallmentPart(part_no=2, due_date=date(2027, 1, 20), amount_fen=1234567),
            ],
            created_at=datetime(2026, 12, 10, 2, tzinfo=UTC),
        ),
        room=KEY,
    )
    text = _write(plan, channel)
    _assert_readable(text, channel)
    assert _deadline_in(text, date(2026, 12, 20))


# --- Failing loudly -------------------------------------------------------------------------


def _saved(body: str, channel: str = "wechat") -> dict[tuple[str, str], Template]:
    return {("co-1", f"reminder.*.{channel}.zh-CN"): Template("t", 1, body)}


def test_a_message_without_a_room_label_is_refused() -> None:
    m = _reminder("reminder", 10)
    with pytest.raises(ComposeError, match="internal id"):
        _write(m, "wechat", room=UNIT)  # the old fallback: the unit id
    with pytest.raises(ComposeError, match="names no room"):
        _write(m, "wechat", room=None)


def test_a_negative_amount_or_day_count_is_refused() -> None:
    m = _reminder("reminder", 10)
    with pytest.raises(ComposeError, match="negative"):
        _write(m, "wechat", amount_fen=-100)
    # A company's template that speaks of days overdue, for a notice before the due date.
    own = _saved("{{ room }}已逾期{{ days_overdue }}天，{{ company }}{{ contact }}")
    before = _reminder("notice_before_due", -3)
    with pytest.raises(ComposeError, match="negative number"):
        _write(before, "wechat", saved=own)


def test_a_value_the_message_does_not_have_fails_instead_of_printing_nothing() -> None:
    own = _saved("{{ room }}已缴{{ paid_amount }}元{{ company }}{{ contact }}")
    with pytest.raises(ComposeError, match="paid_amount"):
        _write(_reminder("reminder", 10), "wechat", saved=own)
    with pytest.raises(ComposeError, match="pay_channel"):
        _write(
            _bill(),
            "wechat",
            saved={("co-1", "bill.*.wechat.zh-CN"): Template("t", 1, "{{ pay_channel }}")},
        )


@pytest.mark.parametrize(
    "body",
    [
        "{{ room }}请缴费 {{ '{{' }} deadline }} {{ company }}{{ contact }}",
        "{{ room }}账单inv-2cf1ff3a9b {{ company }}{{ contact }}",
        "{{ room }}编号 17640c2e9fa959aab424 {{ company }}{{ contact }}",
        "{{ room }}截止 None {{ company }}{{ contact }}",
        "{{ room }}截止2026-12-31 {{ company }}{{ contact }}",
    ],
)
def test_a_rendering_with_a_placeholder_id_or_machine_date_is_refused(body: str) -> None:
    with pytest.raises(ComposeError, match="may not read"):
        _write(_reminder("reminder", 10), "wechat", saved=_saved(body))


def test_no_deadline_and_no_instant_to_count_from_is_refused() -> None:
    m = _reminder("reminder", 10)
    row = {**_row(m, "wechat"), "requested_at": None}
    with pytest.raises(ComposeError, match="no deadline"):
        context(row, ZONE, S, pay_link="x")


def test_the_context_gives_no_silent_defaults() -> None:
    ctx = context(_row(_bill(), "wechat"), ZONE, S)
    for absent in ("paid_amount", "paid_date", "pay_channel", "days_overdue", "pay_link"):
        assert absent not in ctx
    assert "" not in ctx.values()


@settings(max_examples=300, deadline=None)
@given(
    building=st.integers(1, 99),
    entrance=st.integers(1, 9),
    room=st.integers(101, 3999),
    amount_fen=st.integers(1, 9_999_999),
    paid_fen=st.one_of(st.none(), st.integers(1, 9_999_999)),
    stage=st.sampled_from(MESSAGE_STAGES),
    contact=st.sampled_from(["4008123456", "075512345678", "0571-12345678"]),
)
def test_every_default_sms_is_one_segment_for_any_realistic_household(
    building: int,
    entrance: int,
    room: int,
    amount_fen: int,
    paid_fen: int | None,
    stage: Any,
    contact: str,
) -> None:
    key = f"{building}/{entrance}/{room}"
    before_due = stage.offset_days < 0
    m = _reminder(stage.code, -3 if before_due else 45, paid_fen=None if before_due else paid_fen)
    for request, extra in (
        (m, {"room": key, "amount_fen": amount_fen}),
        (_bill(), {"room": key, "amount_fen": amount_fen}),
        (_receipt(), {"room": key, "amount_fen": amount_fen}),
    ):
        row = _row(request, "sms", **extra) | {"service_phone": contact}
        link = pay_links.printed(TOKEN, "sms", S)
        outbound, _ = compose(
            row,
            "sms",
            "13800000000",
            ZONE,
            {},
            S,
            pay_link=link if request.message_type != "receipt" else None,
            periods=PERIODS,
        )
        assert sms.segments(outbound.body) == 1, outbound.body
        assert owner_text.problems(outbound.body) == []
        assert f"{building}栋{entrance}单元{room}" in outbound.body


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_combined_reminder_names_its_rooms_and_fits_one_sms(channel: str) -> None:
    """Two flats of one owner (issue 18 rule 12): the SMS names the first and how many (with
    the longest sample values it may take two segments, which NOTIFIER_SMS_MAX_SEGMENTS
    allows); every other channel names each room."""
    m = _reminder("final_reminder", 45)
    text = _write(m, channel, room="1/1/101、1/1/102", amount_fen=64600)
    assert owner_text.problems(text) == [] and "646.00" in text
    if channel == "sms":
        assert "1栋1单元101等2套" in text and sms.segments(text) == 1, text
    else:
        assert "1栋1单元101、1栋1单元102" in text
