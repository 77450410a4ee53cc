"""Refunds over HTTP: asked by staff with a reason (audited), listed per payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.entrypoints.models import (
    CommunityRefund,
    Refund,
    RefundDecisionIn,
    RefundRequested,
    RefundStatus,
)
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
    refunds are confirmed by the gateway's refund notification; counter refunds at once.
    Above ``PAYMENTS_REFUND_SECOND_APPROVAL_OVER_FEN`` (default 50,000 fen) the refund is
    recorded ``pending_approval`` and moves no money until another member of staff approves
    it (``POST /refunds/{refund_id}/approval``)."""
    refund = await refunds.staff_refund(
        pool,
        gateways.clients,
        principal,
        payment_id,
        body.amount_fen,
        body.reason,
        body.requested_by or principal.subject[:64],
        body.at or datetime.now(UTC),
        gateways.settings.refund_second_approval_over_fen,
    )
    return RefundRequested.model_validate(refund)


@router.post(
    "/refunds/{refund_id}/approval",
    response_model=RefundRequested,
    responses=problem_responses(409, **{"409": "Not waiting for approval."}),
)
async def decide_refund(
    refund_id: str,
    body: RefundDecisionIn,
    pool: Pool,
    gateways: GatewaysDep,
    principal: Refunder,
) -> RefundRequested:
    """A second member of staff approves or rejects a refund waiting for approval (above
    the threshold). Approved, it runs as any refund (confirmed at once at the counter, asked
    at the gateway otherwise: ``gateway_error`` as for a new refund); rejected, nothing is
    refunded. Refused: the person who asked (403, ``refused: same_person``); a refund not
    ``pending_approval`` (409, ``refused: not_pending``). Audited."""
    refund = await refunds.decide_refund(
        pool,
        gateways.clients,
        principal,
        refund_id,
        body.decision == "approve",
        body.note,
        datetime.now(UTC),
    )
    return RefundRequested.model_validate(refund)


@router.get("/communities/{community_id}/refunds", response_model=Page[CommunityRefund])
async def list_community_refunds(
    community_id: str,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    status: Annotated[RefundStatus | None, Query()] = None,
) -> Page[CommunityRefund]:
    """The community's refunds, oldest first; ``status=pending_approval`` is the second
    person's queue. Paged (``limit``, ``cursor``; ``next`` and a ``Link`` header)."""
    after = page.after_as(datetime.fromisoformat, str)
    rows = await refunds.list_community_refunds(
        pool, principal, community_id, status, after, page.fetch
    )
    return page.build(
        [CommunityRefund.model_validate(r) for r in rows],
        key=lambda r: [r.requested_at.isoformat(), r.refund_id],
        request=request,
        response=response,
    )


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
