"""Finance over HTTP: exceptions to review, refunds initiated by staff (audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.refunds import RefundError
from payments.entrypoints import security
from payments.entrypoints.security import FinanceReader, FinanceWriter, Reader, Refunder
from payments.service_layer import refunds
from payments.service_layer.exceptions import Resolution, ResolutionError, resolve_exception
from propfee import audit
from propfee.auth import mask_personal
from propfee.http import Pool
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["finance"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]


def _view(row: Any) -> dict[str, Any]:
    view = dict(row)
    view.pop("community_company_id", None)
    return view


@router.get("/exceptions")
async def list_exceptions(
    pool: Pool,
    principal: FinanceReader,
    status: Annotated[str, Query(max_length=32)] = "open",
) -> list[dict[str, Any]]:
    """The caller's communities' exceptions (and, for company-wide callers, those whose
    community is unknown — money for an order payments never had — of the company's merchant
    accounts)."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT * FROM payment_exceptions e WHERE status = $1 AND "
        + security.scope_sql("e.community_id", 2, 3, gateway_level="e.company_id")
        + " ORDER BY created_at",
        status,
        company,
        communities,
    )
    return [mask_personal(principal, dict(r)) for r in rows]


class ResolutionIn(BaseModel):
    resolution: Literal["applied", "refunded", "dismissed"]
    note: str = Field(min_length=1, max_length=2000)
    resolved_by: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the token's subject"
    )
    community_id: str | None = Field(default=None, max_length=64)
    unit_id: str | None = Field(default=None, max_length=64)
    payer_party_id: str | None = Field(default=None, max_length=64)
    invoice_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=120)] = []


@router.post("/exceptions/{exception_id}/resolve")
async def resolve_payment_exception(
    exception_id: str, body: ResolutionIn, pool: Pool, principal: FinanceWriter
) -> dict[str, Any]:
    """Close a review with a note (audited, ``exception.resolved``); ``applied`` turns the
    money into a payment of the household named (by default the order's)."""
    resolution = Resolution(
        **{
            **body.model_dump(),
            "resolved_by": body.resolved_by or principal.subject[:64],
            "invoice_ids": tuple(body.invoice_ids),
        }
    )
    async with pool.acquire() as conn, conn.transaction():
        before = await security.exception(conn, principal, exception_id)
        if body.community_id is not None:
            await security.community(conn, principal, body.community_id)
        try:
            row = await resolve_exception(conn, exception_id, resolution, datetime.now(UTC))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ResolutionError as exc:
            raise HTTPException(409, str(exc)) from exc
        community_id = before["community_id"]
        payment = None
        if row["payment_id"] is not None:
            payment = await conn.fetchrow(
                "SELECT community_id, unit_id FROM payments WHERE payment_id = $1",
                row["payment_id"],
            )
            community_id = payment["community_id"] if payment else community_id
        company = (
            await security.company_of(conn, community_id)
            if community_id
            else before["company_id"]  # the merchant account's company
        )
        await audit.record(
            conn,
            principal,
            "exception.resolved",
            "payment_exception",
            exception_id,
            community_id=community_id,
            unit_id=payment["unit_id"] if payment else before["unit_id"],
            before=_view(before),
            after=dict(row),
            reason=body.note,
            company_id=company,
        )
    return mask_personal(principal, dict(row))


class RefundIn(BaseModel):
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
    reason: str = Field(min_length=1, max_length=200)
    requested_by: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the token's subject"
    )
    at: AwareDatetime | None = None


@router.post("/payments/{payment_id}/refunds", status_code=201)
async def request_refund(
    payment_id: str, body: RefundIn, pool: Pool, gateways: GatewaysDep, principal: Refunder
) -> dict[str, Any]:
    """Staff refund (full or partial), with a reason; audited (``refund.requested``). Gateway
    refunds are confirmed by the gateway's refund notification; counter refunds at once."""
    now = body.at or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        payment = await security.payment(conn, principal, payment_id, for_update=True)
        try:
            refund = await refunds.request_refund(
                conn,
                payment_id,
                body.amount_fen,
                body.reason,
                body.requested_by or principal.subject[:64],
                now,
            )
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except RefundError as exc:
            raise HTTPException(409, str(exc)) from exc
        await audit.record(
            conn,
            principal,
            "refund.requested",
            "refund",
            refund["refund_id"],
            community_id=payment["community_id"],
            unit_id=payment["unit_id"],
            before={"payment_id": payment_id, "amount_fen": payment["amount_fen"]},
            after=dict(refund),
            reason=body.reason,
            company_id=payment["company_id"],
        )
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
async def list_refunds(payment_id: str, pool: Pool, principal: Reader) -> list[dict[str, Any]]:
    await security.payment(pool, principal, payment_id)
    rows = await pool.fetch(
        "SELECT * FROM refunds WHERE payment_id = $1 ORDER BY requested_at", payment_id
    )
    return [dict(r) for r in rows]
