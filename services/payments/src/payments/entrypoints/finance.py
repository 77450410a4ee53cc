"""Finance over HTTP: exceptions to review, refunds initiated by staff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, get_gateways
from payments.domain.refunds import RefundError
from payments.service_layer import refunds
from payments.service_layer.exceptions import Resolution, ResolutionError, resolve_exception
from propfee.http import Pool
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["finance"])
GatewaysDep = Annotated[Gateways, Depends(get_gateways)]


@router.get("/exceptions")
async def list_exceptions(pool: Pool, status: str = "open") -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM payment_exceptions WHERE status = $1 ORDER BY created_at", status
    )
    return [dict(r) for r in rows]


class ResolutionIn(BaseModel):
    resolution: Literal["applied", "refunded", "dismissed"]
    note: str = Field(min_length=1, max_length=2000)
    resolved_by: str = Field(min_length=1, max_length=64)
    community_id: str | None = None
    unit_id: str | None = None
    payer_party_id: str | None = None
    invoice_ids: list[str] = []


@router.post("/exceptions/{exception_id}/resolve")
async def resolve(exception_id: str, body: ResolutionIn, pool: Pool) -> dict[str, Any]:
    resolution = Resolution(**{**body.model_dump(), "invoice_ids": tuple(body.invoice_ids)})
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await resolve_exception(conn, exception_id, resolution, datetime.now(UTC))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ResolutionError as exc:
            raise HTTPException(409, str(exc)) from exc
    return dict(row)


class RefundIn(BaseModel):
    amount_fen: Annotated[int, Field(strict=True, gt=0)]
    reason: str = Field(min_length=1, max_length=200)
    requested_by: str = Field(min_length=1, max_length=64)
    at: AwareDatetime | None = None


@router.post("/payments/{payment_id}/refunds", status_code=201)
async def request_refund(
    payment_id: str, body: RefundIn, pool: Pool, gateways: GatewaysDep
) -> dict[str, Any]:
    """Staff refund (full or partial). Gateway refunds are confirmed by the gateway's refund
    notification; counter refunds at once."""
    now = body.at or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        try:
            refund = await refunds.request_refund(
                conn, payment_id, body.amount_fen, body.reason, body.requested_by, now
            )
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except RefundError as exc:
            raise HTTPException(409, str(exc)) from exc
        payment = await conn.fetchrow("SELECT * FROM payments WHERE payment_id = $1", payment_id)
    view = dict(refund)
    if refund["status"] != "requested":
        return view
    client = gateways.clients.get(payment["channel"])
    if client is None:
        view["gateway_error"] = f"{payment['channel']} is not configured"
        return view
    try:
        report = await client.refund(payment, refund)
    except Exception as exc:
        log.warning("refund request failed", channel=payment["channel"], error=type(exc).__name__)
        view["gateway_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return view
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE refunds SET status = 'processing' "
            "WHERE refund_id = $1 AND status = 'requested'",
            refund["refund_id"],
        )
        if report is not None:
            await refunds.confirm_refund(conn, report)
        row = await conn.fetchrow("SELECT * FROM refunds WHERE refund_id = $1", refund["refund_id"])
    return dict(row) if row else view


@router.get("/payments/{payment_id}/refunds")
async def list_refunds(payment_id: str, pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM refunds WHERE payment_id = $1 ORDER BY requested_at", payment_id
    )
    return [dict(r) for r in rows]
