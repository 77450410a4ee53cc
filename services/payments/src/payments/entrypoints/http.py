"""Payments' HTTP API: counter payments, a payment, a receipt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, Field

from payments.domain.orders import OrderError
from payments.entrypoints import security
from payments.entrypoints.scoping import PREPAYMENT
from payments.entrypoints.security import CounterClerk, Reader
from payments.service_layer import communities, orders
from payments.service_layer.counter import (
    CounterPayment,
    IdempotencyConflict,
    already_recorded,
    record_counter_payment,
)
from propfee import audit
from propfee.auth import Principal, mask_personal
from propfee.business_time import business_instant
from propfee.http import Pool

router = APIRouter(tags=["payments"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]

_PAYMENT_COLUMNS = (
    "payment_id, community_id, unit_id, payer_party_id, invoice_ids, amount_fen, currency, "
    "channel, gateway, gateway_transaction_id, out_trade_no, paid_at, received_at, recorded_at, "
    "receipt_no, received_by, order_id"
)


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


@router.post("/payments/counter", status_code=201, openapi_extra=PREPAYMENT)
async def counter_payment(
    body: CounterPaymentIn,
    pool: Pool,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
    principal: CounterClerk,
) -> dict[str, Any]:
    """Record a payment taken at the counter; the Idempotency-Key header makes retries safe.
    Money on account (no invoice named) is refused (422) beyond the advance-collection cap.
    Audited (``payment.counter_recorded``)."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        company = await security.community(conn, principal, body.community_id)
        paid_at = business_instant(
            principal,
            body.paid_at,
            now,
            field="paid_at",
            backdate_days=await communities.backdate_days(conn, body.community_id),
        )
        if not body.invoice_ids and not await already_recorded(conn, idempotency_key):
            try:  # money on account: within the advance-collection cap
                await orders.check_advance(
                    conn, body.community_id, body.unit_id, body.amount_fen, paid_at
                )
            except OrderError as exc:
                raise HTTPException(422, str(exc)) from exc
        payment = CounterPayment(
            idempotency_key=idempotency_key,
            received_at=paid_at,
            **body.model_dump(exclude={"paid_at"}),
            paid_at=paid_at,
            requested_paid_at=body.paid_at,
            cashier=cashier_of(principal),
        )
        try:
            payment_id, created = await record_counter_payment(conn, payment)
        except IdempotencyConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        view = await _payment_view(conn, payment_id)
        if created:
            await audit.record(
                conn,
                principal,
                "payment.counter_recorded",
                "payment",
                payment_id,
                community_id=body.community_id,
                unit_id=body.unit_id,
                after=view,
                company_id=company,
            )
    if not created:
        response.status_code = 200
    return mask_personal(principal, view)


def cashier_of(principal: Principal) -> str:
    """The signed-in staff member as the receipt names the cashier: the token's ``name``
    claim where the identity provider sends one, else its subject (the staff id)."""
    name = principal.claims.get("name")
    return name if isinstance(name, str) and name.strip() else principal.subject


async def _payment_view(conn: Any, payment_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1", payment_id
    )
    assert row is not None
    return dict(row)


async def payment_view(pool: Pool, principal: Principal, payment_id: str) -> dict[str, Any]:
    row = await security.payment(pool, principal, payment_id)
    return mask_personal(principal, {k: row[k] for k in _PAYMENT_COLUMNS.split(", ")})


@router.get("/payments/{payment_id}")
async def get_payment(payment_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    return await payment_view(pool, principal, payment_id)


@router.get("/receipts/{receipt_no}")
async def get_receipt(receipt_no: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """A counter payment by the receipt number printed for the payer."""
    payment_id = await security.receipt(pool, principal, receipt_no)
    return await payment_view(pool, principal, payment_id)
