"""Refunds over HTTP: asked by staff with a reason (audited), listed per payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.entrypoints.models import Refund, RefundRequested
from payments.entrypoints.security import Reader, Refunder
from payments.service_layer import refunds
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["refunds"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]


class RefundIn(BaseModel):
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
    reason: str = Field(min_length=1, max_length=200)
    requested_by: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the token's subject"
    )
    at: AwareDatetime | None = None


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundRequested,
    responses=problem_responses(409, **{"409": "More than the payment has left, or no reason."}),
)
async def request_refund(
    payment_id: str, body: RefundIn, pool: Pool, gateways: GatewaysDep, principal: Refunder
) -> RefundRequested:
    """Staff refund (full or partial), with a reason; audited (``refund.requested``). Gateway
    refunds are confirmed by the gateway's refund notification; counter refunds at once."""
    refund = await refunds.staff_refund(
        pool,
        gateways.clients,
        principal,
        payment_id,
        body.amount_fen,
        body.reason,
        body.requested_by or principal.subject[:64],
        body.at or datetime.now(UTC),
    )
    return RefundRequested.model_validate(refund)


@router.get("/payments/{payment_id}/refunds", response_model=Page[Refund])
async def list_refunds(
    payment_id: str,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[Refund]:
    """The payment's refunds in the order they were asked. Paged (``limit``, ``cursor``;
    ``next`` and a ``Link`` header)."""
    after = page.after_as(datetime.fromisoformat, str)
    rows = await refunds.list_refunds(pool, principal, payment_id, after, page.fetch)
    return page.build(
        [Refund.model_validate(r) for r in rows],
        key=lambda r: [r.requested_at.isoformat(), r.refund_id],
        request=request,
        response=response,
    )
