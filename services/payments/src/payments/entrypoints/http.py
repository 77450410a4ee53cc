"""Payments' HTTP API (walking skeleton: counter payments)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, Field

from payments.service_layer.counter import (
    CounterPayment,
    IdempotencyConflict,
    record_counter_payment,
)
from propfee.http import Pool

router = APIRouter(tags=["payments"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class CounterPaymentIn(BaseModel):
    community_id: Id
    unit_id: Id
    payer_party_id: Id
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
    channel: Literal["cash", "bank_card", "pos"]
    received_by: str | None = Field(default=None, max_length=64, description="Staff member")
    paid_at: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post("/payments/counter", status_code=201)
async def counter_payment(
    body: CounterPaymentIn,
    pool: Pool,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
) -> dict[str, Any]:
    """Record a payment taken at the counter; the Idempotency-Key header makes retries safe."""
    now = datetime.now(UTC)
    payment = CounterPayment(
        idempotency_key=idempotency_key,
        received_at=body.paid_at or now,
        **body.model_dump(exclude={"paid_at"}),
        paid_at=body.paid_at or now,
    )
    async with pool.acquire() as conn, conn.transaction():
        try:
            payment_id, created = await record_counter_payment(conn, payment)
        except IdempotencyConflict as exc:
            raise HTTPException(409, str(exc)) from exc
    if not created:
        response.status_code = 200
    return await get_payment(payment_id, pool)


@router.get("/payments/{payment_id}")
async def get_payment(payment_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT payment_id, community_id, unit_id, payer_party_id, invoice_ids, amount_fen, "
        "currency, channel, gateway, gateway_transaction_id, out_trade_no, paid_at, received_at, "
        "receipt_no, received_by, order_id "
        "FROM payments WHERE payment_id = $1",
        payment_id,
    )
    if row is None:
        raise HTTPException(404, f"payment {payment_id} not found")
    return dict(row)


@router.get("/receipts/{receipt_no}")
async def get_receipt(receipt_no: str, pool: Pool) -> dict[str, Any]:
    """A counter payment by the receipt number printed for the payer."""
    payment_id = await pool.fetchval(
        "SELECT payment_id FROM payments WHERE receipt_no = $1", receipt_no
    )
    if payment_id is None:
        raise HTTPException(404, f"receipt {receipt_no} not found")
    return await get_payment(payment_id, pool)
