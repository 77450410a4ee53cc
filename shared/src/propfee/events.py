"""The event contracts: pydantic models are the source of the JSON Schemas and AsyncAPI.

Each event class knows its topic (``<producer>.<event-in-kebab-case>``) and its CloudEvents
type (``propfee.<producer>.<Name>.v1``). Within a ``.v1`` type, change only by adding
optional fields. Money is integer fen with ``currency``; business dates are local dates of
the community's time zone; instants are RFC 3339.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from propfee.money import CURRENCY, Currency, Fen, NonNegativeFen

Tier = Literal["green", "yellow", "red"]
PaymentChannel = Literal[
    "wechat_pay", "alipay", "unionpay", "bank_withholding", "cash", "bank_card", "pos"
]
NotificationChannel = Literal["sms", "wechat", "app_push", "email", "letter", "door_notice"]


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Event(BaseModel):
    """Base of every event. Subclasses set ``producer``; topic and type follow from the name."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    producer: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def topic(cls) -> str:
        return f"{cls.producer}.{_kebab(cls.__name__)}"

    @classmethod
    def ce_type(cls) -> str:
        return f"propfee.{cls.producer}.{cls.__name__}.v{cls.version}"

    @classmethod
    def ce_source(cls) -> str:
        return f"/services/{cls.producer}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    fee_item: str = Field(description="Fee item code from the published schedule")
    description: str
    quantity: str = Field(description="Exact decimal quantity, e.g. '98.50' m² or '1'")
    unit_price_fen: Fen
    amount_fen: Fen


class InvoiceIssued(Event):
    """billing issued an invoice to the payer of one unit for one period."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    building_id: str
    unit_id: str
    payer_party_id: str
    period_start: date
    period_end: date
    due_date: date
    lines: list[InvoiceLine]
    total_fen: Fen
    currency: Currency = CURRENCY
    issued_at: AwareDatetime
    schedule_version: str | None = None
    room_label: str | None = None


class InvoiceSettled(Event):
    """billing allocated payments that cover an invoice in full (principal and late fees)."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    total_fen: Fen
    paid_fen: NonNegativeFen
    currency: Currency = CURRENCY
    payment_ids: list[str] = Field(default_factory=list)
    settled_at: AwareDatetime


class PaymentReceived(Event):
    """payments recorded money received for a unit, exactly once per real payment."""

    producer: ClassVar[str] = "payments"

    payment_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str] = Field(default_factory=list)
    amount_fen: NonNegativeFen
    currency: Currency = CURRENCY
    channel: PaymentChannel
    gateway: str | None = None
    gateway_transaction_id: str | None = None
    out_trade_no: str | None = None
    paid_at: AwareDatetime
    received_at: AwareDatetime


class PaymentRefunded(Event):
    """payments returned money of an earlier payment to the payer."""

    producer: ClassVar[str] = "payments"

    refund_id: str
    payment_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    amount_fen: NonNegativeFen
    currency: Currency = CURRENCY
    reason: str
    refunded_at: AwareDatetime


class EscalationAction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["message", "task"]
    channel: str
    template: str | None = None


class ArrearsEscalated(Event):
    """dunning moved an arrears case to its next stage."""

    producer: ClassVar[str] = "dunning"

    case_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    stage: str
    previous_stage: str | None
    tier: Tier
    outstanding_fen: NonNegativeFen
    currency: Currency = CURRENCY
    oldest_due_date: date
    days_overdue: int
    invoice_ids: list[str]
    escalated_at: AwareDatetime
    actions: list[EscalationAction] = Field(default_factory=list)


class NotificationDelivered(Event):
    """notifier has proof that a message reached the person."""

    producer: ClassVar[str] = "notifier"

    notification_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: NotificationChannel
    message_type: str
    subject_id: str = Field(description="What the message was about: invoice, case or payment id")
    stage: str | None = None
    delivered_at: AwareDatetime
    proof: dict[str, str] = Field(default_factory=dict)


class NotificationFailed(Event):
    """notifier gave up on a message on one channel."""

    producer: ClassVar[str] = "notifier"

    notification_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: NotificationChannel
    message_type: str
    subject_id: str
    stage: str | None = None
    reason: str
    final: bool = Field(description="True when no channel is left to fall back to")
    failed_at: AwareDatetime


ALL_EVENTS: tuple[type[Event], ...] = (
    InvoiceIssued,
    InvoiceSettled,
    PaymentReceived,
    PaymentRefunded,
    ArrearsEscalated,
    NotificationDelivered,
    NotificationFailed,
)
EVENTS_BY_TYPE: dict[str, type[Event]] = {e.ce_type(): e for e in ALL_EVENTS}


def json_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")
    schema["$id"] = f"https://propfee.dev/schemas/{event.ce_type()}.json"
    schema["x-topic"] = event.topic()
    schema["x-ce-type"] = event.ce_type()
    return schema
