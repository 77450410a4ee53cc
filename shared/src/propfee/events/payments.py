"""Events payments publishes."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from propfee.events.base import Event, PaymentChannel
from propfee.money import CURRENCY, Currency, NonNegativeFen


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
    cashier: str | None = Field(
        default=None,
        description="Who took the money at the counter (the staff member as signed in); None "
        "for gateway, bank and app payments",
    )


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
