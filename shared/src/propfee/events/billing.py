"""Events billing publishes."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from propfee.events.base import Event
from propfee.money import CURRENCY, Currency, Fen, NonNegativeFen


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
