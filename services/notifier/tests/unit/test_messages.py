from datetime import UTC, date, datetime

import pytest

from notifier.domain.messages import bill_request, bills_owner, reminder_requests
from propfee.events import ArrearsEscalated, CombinedCase, EscalationAction, InvoiceIssued


def test_bill_message_carries_room_amount_and_deadline_only() -> None:
    event = InvoiceIssued(
        invoice_id="inv-1",
        community_id="c",
        building_id="b",
        unit_id="u-1",
        payer_party_id="p",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31),
        lines=[],
        total_fen=27580,
        issued_at=datetime(2026, 3, 1, tzinfo=UTC),
        room_label="3-2-1201",
    )
    message = bill_request(event)
    assert message.params["room"] == "3-2-1201" and message.params["amount_fen"] == 27580
    assert message.params["deadline"] == "2026-03-31" and message.essential
    assert message.dedup_key == "inv-1|bill|-|sms"


def _issued(**changes: object) -> InvoiceIssued:
    fields: dict[str, object] = dict(
        invoice_id="inv-1",
        community_id="c",
        building_id="b",
        unit_id="u-1",
        payer_party_id="p",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31),
        lines=[],
        total_fen=27580,
        issued_at=datetime(2026, 3, 1, tzinfo=UTC),
        room_label="3-2-1201",
    )
    return InvoiceIssued.model_validate({**fields, **changes})


def test_a_bill_never_states_a_past_deadline() -> None:
    # a charge issued after its due date (back-dated): a week from the day of issue
    late = _issued(due_date=date(2026, 2, 28), issued_at=datetime(2026, 3, 10, 2, tzinfo=UTC))
    assert bill_request(late).params["deadline"] == "2026-03-17"
    assert bill_request(late, within_days=3).params["deadline"] == "2026-03-13"
    same_day = _issued(due_date=date(2026, 3, 10), issued_at=datetime(2026, 3, 10, tzinfo=UTC))
    assert bill_request(same_day).params["deadline"] == "2026-03-10"


@pytest.mark.parametrize(
    ("kind", "billed"),
    [("regular", True), ("manual", True), (None, True), ("opening_arrears", False),
     ("opening_late_fee", False)],
)  # fmt: skip
def test_debts_from_the_ledger_are_not_announced_as_bills(kind: str | None, billed: bool) -> None:
    assert bills_owner(_issued(kind=kind)) is billed


def test_one_reminder_per_message_action() -> None:
    event = ArrearsEscalated(
        case_id="case-1",
        community_id="c",
        unit_id="u",
        payer_party_id="p",
        stage="reminder_7d",
        previous_stage="due_notice",
        tier="green",
        outstanding_fen=27580,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=7,
        invoice_ids=["inv-1"],
        escalated_at=datetime(2026, 2, 7, tzinfo=UTC),
        actions=[
            EscalationAction(kind="message", channel="sms"),
            EscalationAction(kind="message", channel="wechat"),
            EscalationAction(kind="task", channel="phone_call"),
        ],
    )
    messages = reminder_requests(event)
    assert [m.channel for m in messages] == ["sms", "wechat"]
    assert {m.dedup_key for m in messages} == {
        "case-1|reminder|reminder_7d|sms",
        "case-1|reminder|reminder_7d|wechat",
    }
    assert not any(m.essential for m in messages), "a friendly reminder is not a demand"
    assert reminder_requests(event.model_copy(update={"stage": "final_reminder"}))[0].essential


def test_one_combined_reminder_per_person_per_occasion() -> None:
    """Issue 18 rule 12: two flats of one person reach the same stage in one sweep; dunning
    marks the first as carrying both (``combined``), the other ``combined_into`` it."""
    lead = ArrearsEscalated(
        case_id="case-a",
        community_id="c",
        unit_id="u-a",
        payer_party_id="p",
        stage="reminder",
        previous_stage=None,
        tier="green",
        outstanding_fen=20000,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=7,
        invoice_ids=["inv-a"],
        escalated_at=datetime(2026, 2, 7, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="sms")],
        room_label="3-2-1201",
        combined=[
            CombinedCase(case_id="case-a", unit_id="u-a", room_label="3-2-1201",
                         outstanding_fen=20000, oldest_due_date=date(2026, 1, 31),
                         invoice_ids=["inv-a"]),
            CombinedCase(case_id="case-b", unit_id="u-b", room_label="3-2-1202",
                         outstanding_fen=30000, oldest_due_date=date(2025, 12, 31),
                         invoice_ids=["inv-b"]),
        ],
    )  # fmt: skip
    other = lead.model_copy(
        update={"case_id": "case-b", "unit_id": "u-b", "combined": [], "combined_into": "case-a"}
    )
    assert reminder_requests(other) == []
    (message,) = reminder_requests(lead)
    assert message.params["room"] == "3-2-1201、3-2-1202"
    assert message.params["amount_fen"] == 50000
    assert message.params["invoice_ids"] == ["inv-a", "inv-b"]
    assert (
        message.params["oldest_due_date"] == "2025-12-31" and message.params["days_overdue"] == 38
    )
    assert message.params["unit_ids"] == ["u-a", "u-b"]


def test_the_jointly_liable_owners_copy_is_a_message_of_its_own() -> None:
    """Issue 18 rule 7: dunning addresses the owner jointly liable with a defaulting tenant
    with a second ArrearsEscalated (same case and stage); its messages must not collapse into
    the tenant's under the (subject, type, stage, channel) key."""
    tenant = ArrearsEscalated(
        case_id="case-1", community_id="c", unit_id="u", payer_party_id="p-tenant",
        stage="final_letter", previous_stage="formal_letter", tier="yellow",
        outstanding_fen=55160, oldest_due_date=date(2026, 1, 31), days_overdue=120,
        invoice_ids=["inv-1", "inv-2"], escalated_at=datetime(2026, 6, 1, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="letter")],
    )  # fmt: skip
    owner = tenant.model_copy(
        update={"payer_party_id": "p-owner", "jointly_liable_for": "p-tenant"}
    )
    [to_tenant] = reminder_requests(tenant)
    [to_owner] = reminder_requests(owner)
    assert to_tenant.dedup_key == "case-1|reminder|final_letter|letter"  # unchanged
    assert to_owner.party_id == "p-owner"
    assert to_owner.dedup_key == "case-1|reminder|final_letter|letter|p-owner"
    assert to_owner.essential and to_owner.params["invoice_ids"] == ["inv-1", "inv-2"]
