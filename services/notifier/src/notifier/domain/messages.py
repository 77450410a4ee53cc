"""What each event asks to be said (pure): one request per message, with its parameters.

The text itself is rendered from a template when the message is sent (the party's locale and
the community's letterhead may arrive later than the event); the parameters here carry room,
amount and dates, never names or phone numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from propfee.events import (
    ArrearsEscalated,
    InstallmentPlanCreated,
    InvoiceIssued,
    PaymentReceived,
    PromiseRecorded,
)

#: Stages whose messages are demands (催告): they go even to do-not-contact parties.
DEFAULT_ESSENTIAL_STAGES: frozenset[str] = frozenset(
    {"final_reminder", "demand", "demand_letter", "final_letter", "legal_demand"}
)
#: Message types that are transactional, never marketing or chasing.
TRANSACTIONAL = frozenset({"bill", "receipt", "confirmation"})
#: How a receipt names the way the owner paid (PaymentReceived.channel).
PAYMENT_CHANNEL_NAMES = {
    "wechat_pay": "微信支付",
    "alipay": "支付宝",
    "unionpay": "银联",
    "bank_withholding": "银行代扣",
    "cash": "现金",
    "bank_card": "银行卡",
    "pos": "POS刷卡",
}


@dataclass(frozen=True, slots=True)
class MessageRequest:
    message_type: str  # bill | receipt | reminder | confirmation
    subject_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: str  # as requested; the dispatcher may substitute
    stage: str | None
    requested_at: datetime
    essential: bool
    params: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    #: Addressed to a party jointly liable with the case's payer (the owner of a tenant's
    #: unit, ArrearsEscalated.jointly_liable_for): a message of its own beside the payer's.
    joint: bool = False

    @property
    def dedup_key(self) -> str:
        """Exactly once per (subject, message type, stage, channel), and per party for a
        jointly liable party's copy (its key ends with ``|<party_id>``)."""
        key = f"{self.subject_id}|{self.message_type}|{self.stage or '-'}|{self.channel}"
        return f"{key}|{self.party_id}" if self.joint else key


#: Invoices brought in from the ledger before Propfee: old debts, not new bills. No bill
#: message (its due date passed long ago); dunning chases them with a real deadline.
NOT_BILLED_KINDS = frozenset({"opening_arrears", "opening_late_fee"})


def bills_owner(event: InvoiceIssued) -> bool:
    """Whether an issued invoice is announced to the owner as a bill."""
    return event.kind not in NOT_BILLED_KINDS


def bill_request(
    event: InvoiceIssued, channel: str = "sms", within_days: int = 7
) -> MessageRequest:
    """The bill message. Its deadline is the due date, or, for an invoice issued after its due
    date (a back-dated charge), ``within_days`` after the day of issue: never a past date."""
    issued_on = event.issued_at.date()
    deadline = (
        event.due_date if event.due_date >= issued_on else issued_on + timedelta(days=within_days)
    )
    params = {
        "room": event.room_label or event.unit_id,
        "amount_fen": event.total_fen,
        "period_start": event.period_start.isoformat(),
        "period_end": event.period_end.isoformat(),
        "deadline": deadline.isoformat(),
        "invoice_ids": [event.invoice_id],
        "lines": [
            {"description": line.description, "amount_fen": line.amount_fen} for line in event.lines
        ],
    }
    return MessageRequest(
        "bill",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        None,
        event.issued_at,
        True,
        params,
    )


def receipt_request(
    event: PaymentReceived, channel: str = "sms", room: str | None = None
) -> MessageRequest:
    """A receipt; ``room``: the unit's label as billing gave it (PaymentReceived has none)."""
    params = {
        "room": room or event.unit_id,
        "amount_fen": event.amount_fen,
        "paid_at": event.paid_at.isoformat(),
        "payment_channel": event.channel,
        "invoice_ids": list(event.invoice_ids),
    }
    return MessageRequest(
        "receipt",
        event.payment_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        None,
        event.paid_at,  # the payment's own instant (as-of runs: the simulated one)
        True,
        params,
    )


def _message_type(stage: str) -> str:
    return "confirmation" if stage.startswith(("promise", "plan")) else "reminder"


def _statement(event: ArrearsEscalated) -> list[dict[str, Any]] | None:
    """What a letter claims per invoice (issue 19: dunning's ClaimLine, JSON-ready); a combined
    reminder's lines name their room (CombinedCase.invoice_ids says which)."""
    if event.statement is None:
        return None
    rooms = {i: c.room_label for c in event.combined for i in c.invoice_ids}
    return [
        {**line.model_dump(mode="json"), "room": rooms.get(line.invoice_id)}
        for line in event.statement
    ]


def reminder_requests(
    event: ArrearsEscalated, essential_stages: Collection[str] = DEFAULT_ESSENTIAL_STAGES
) -> list[MessageRequest]:
    """One request per message action of the stage (tasks are not messages).

    One reminder per person per occasion (issue 18 rule 12): an escalation ``combined_into``
    another case's asks for no message; the one carrying ``combined`` asks for one message
    naming each room (``room``: the rooms joined; ``rooms``: each with its amount) and the total
    (``amount_fen``), over every combined case's invoices and units (so a payment or a pause of
    any of them stops it)."""
    if event.combined_into is not None:
        return []
    message_type = _message_type(event.stage)
    params: dict[str, Any] = {
        "room": event.room_label or event.unit_id,
        "amount_fen": event.outstanding_fen,
        "oldest_due_date": event.oldest_due_date.isoformat(),
        "deadline": event.deadline.isoformat() if event.deadline else None,
        "days_overdue": event.days_overdue,
        "tier": event.tier,
        "invoice_ids": list(event.invoice_ids),
        "paid_fen": event.paid_fen,
        "statement": _statement(event),
    }
    if event.paid_fen and not event.combined:  # a part payment: the reminder names what is left
        params["paid_fen"] = event.paid_fen
    if event.combined:
        oldest = min(c.oldest_due_date for c in event.combined)
        params |= {
            "room": "、".join(c.room_label or c.unit_id for c in event.combined),
            "amount_fen": sum(c.outstanding_fen for c in event.combined),
            "oldest_due_date": oldest.isoformat(),
            "days_overdue": event.days_overdue + (event.oldest_due_date - oldest).days,
            "invoice_ids": [i for c in event.combined for i in c.invoice_ids],
            "rooms": [
                {"room": c.room_label or c.unit_id, "amount_fen": c.outstanding_fen}
                for c in event.combined
            ],
            "unit_ids": [c.unit_id for c in event.combined],
            "case_ids": [c.case_id for c in event.combined],
        }
    essential = message_type in TRANSACTIONAL or event.stage in essential_stages
    return [
        MessageRequest(
            message_type,
            event.case_id,
            event.community_id,
            event.unit_id,
            event.payer_party_id,
            action.channel,
            event.stage,
            event.escalated_at,
            essential,
            params,
            action.template,
            joint=event.jointly_liable_for is not None,
        )
        for action in event.actions
        if action.kind == "message"
    ]


def promise_confirmation(
    event: PromiseRecorded, channel: str = "sms", room: str | None = None
) -> MessageRequest:
    """Confirm a promise to pay (缴费承诺): the amount and the date the payer promised."""
    params = {
        "room": event.room_label or room or event.unit_id,
        "amount_fen": event.amount_fen,
        "deadline": event.promised_date.isoformat(),
        "case_id": event.case_id,
        "signed": event.signed,
    }
    return MessageRequest(
        "confirmation",
        event.promise_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        "promise",
        event.recorded_at,
        True,
        params,
    )


def plan_confirmation(
    event: InstallmentPlanCreated, channel: str = "sms", room: str | None = None
) -> MessageRequest:
    """Confirm an installment plan (分期): the first part's amount and date, and the total."""
    parts = sorted(event.parts, key=lambda part: (part.due_date, part.part_no))
    first = parts[0] if parts else None
    params = {
        "room": room or event.unit_id,
        "amount_fen": first.amount_fen if first else event.total_fen,
        "deadline": first.due_date.isoformat() if first else None,
        "total_fen": event.total_fen,
        "parts": len(parts),
        "invoice_ids": list(event.invoice_ids),
    }
    return MessageRequest(
        "confirmation",
        event.plan_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        channel,
        "plan",
        event.created_at,
        True,
        params,
    )
