"""Payments over HTTP: a payment taken at the counter, a payment, a receipt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Response
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.scoping import PREPAYMENT
from payments.entrypoints.models import Payment
from payments.entrypoints.security import CounterClerk, Reader
from payments.service_layer import counter
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["payments"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class CounterPaymentIn(BaseModel):
    community_id: Id
    unit_id: Id
    payer_party_id: Id
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
    channel: Literal["cash", "bank_card", "pos"]
    received_by: str | None = Field(
        default=None,
        max_length=64,
        description="Staff member (the audit trail has the token's subject)",
    )
    paid_at: AwareDatetime | None = Field(
        default=None,
        description="When the money was taken (business time); default now. Staff may "
        "back-date it within the company's window (default 7 days), never forward-date it "
        "(403); the payment also keeps the real time it was recorded (recorded_at)",
    )


@router.post(
    "/payments/counter",
    status_code=201,
    openapi_extra=PREPAYMENT,
    response_model=Payment,
    responses={
        200: {"model": Payment, "description": "A replay of the same Idempotency-Key"},
        **problem_responses(
            404,
            409,
            **{
                "404": "An id the body names is not in the caller's scope.",
                "409": "The Idempotency-Key was used for another payment.",
            },
        ),
    },
)
async def record_counter_payment(
    body: CounterPaymentIn,
    pool: Pool,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
    principal: CounterClerk,
) -> Payment:
    """Record a payment taken at the counter; the Idempotency-Key header makes retries safe
    (a replay answers 200 with the first payment). Money on account (no invoice named) is
    refused (422) beyond the advance-collection cap. Audited (``payment.counter_recorded``)."""
    request = counter.CounterRequest(
        community_id=body.community_id,
        unit_id=body.unit_id,
        payer_party_id=body.payer_party_id,
        invoice_ids=body.invoice_ids,
        amount_fen=body.amount_fen,
        channel=body.channel,
        received_by=body.received_by,
        paid_at=body.paid_at,
    )
    view, created = await counter.take_counter_payment(
        pool, principal, request, idempotency_key, datetime.now(UTC)
    )
    if not created:
        response.status_code = 200
    return Payment.model_validate(view)


@router.get("/payments/{payment_id}", response_model=Payment)
async def get_payment(payment_id: str, pool: Pool, principal: Reader) -> Payment:
    return Payment.model_validate(await counter.visible_payment(pool, principal, payment_id))


@router.get("/receipts/{receipt_no}", response_model=Payment)
async def get_receipt(receipt_no: str, pool: Pool, principal: Reader) -> Payment:
    """A counter payment by the receipt number printed for the payer."""
    return Payment.model_validate(await counter.visible_receipt(pool, principal, receipt_no))
