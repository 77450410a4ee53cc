"""What each event asks to be said (pure). Templates and channels proper arrive with the
notifier issue; these bodies carry no names or phone numbers, only room, amount and dates."""

from __future__ import annotations

from dataclasses import dataclass

from propfee.events import ArrearsEscalated, InvoiceIssued, PaymentReceived
from propfee.money import format_yuan


@dataclass(frozen=True, slots=True)
class Message:
    message_type: str
    subject_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: str
    stage: str | None
    body: str

    @property
    def dedup_key(self) -> str:
        return f"{self.subject_id}|{self.message_type}|{self.stage or '-'}|{self.channel}"


def bill_message(event: InvoiceIssued, channel: str = "sms") -> Message:
    room = event.room_label or event.unit_id
    body = (
        f"【物业】{room} {event.period_start:%Y年%m月}物业费账单{format_yuan(event.total_fen)}元，"
        f"请于{event.due_date:%m月%d日}前缴纳。"
    )
    return Message(
        "bill",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        None,
        body,
    )


def receipt_message(event: PaymentReceived, channel: str = "sms") -> Message:
    body = f"【物业】已收到您缴纳的{format_yuan(event.amount_fen)}元，感谢支持。"
    return Message(
        "receipt",
        event.payment_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        None,
        body,
    )


def reminder_messages(event: ArrearsEscalated) -> list[Message]:
    body = (
        f"【物业】您有{format_yuan(event.outstanding_fen)}元物业费待缴"
        f"（最早到期{event.oldest_due_date:%Y-%m-%d}），如已缴请忽略。"
    )
    return [
        Message(
            "reminder",
            event.case_id,
            event.community_id,
            event.unit_id,
            event.payer_party_id,
            action.channel,
            event.stage,
            body,
        )
        for action in event.actions
        if action.kind == "message"
    ]
