"""Late-fee waivers with approval: asked on an invoice, listed per community, decided by
someone other than the person who asked. Parse, call ``service_layer.waiver_requests``,
answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from billing.entrypoints import models
from billing.entrypoints.models_waiver_requests import (
    WaiverDecisionIn,
    WaiverRequestIn,
    WaiverRequestOut,
)
from billing.entrypoints.security import Reader, WaiverDecider, WaiverRequester
from billing.service_layer import waiver_requests
from propfee.business_time import utc_now
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["late-fee waivers"])


@router.post(
    "/invoices/{invoice_id}/late-fee-waiver-requests",
    status_code=201,
    response_model=WaiverRequestOut,
)
async def request_late_fee_waiver(
    invoice_id: models.Id, body: WaiverRequestIn, pool: Pool, principal: WaiverRequester
) -> WaiverRequestOut:
    """Ask for (part of) the invoice's late fee to be waived, with a reason. Pending until
    someone else (finance, a community manager, a company admin) decides. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await waiver_requests.request_waiver(
            conn, principal, invoice_id, body.amount_fen, body.reason, utc_now()
        )
    return WaiverRequestOut(**row)


@router.get(
    "/communities/{community_id}/late-fee-waiver-requests",
    response_model=Page[WaiverRequestOut],
)
async def list_late_fee_waiver_requests(
    community_id: models.Id,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
) -> Page[WaiverRequestOut]:
    """The community's waiver requests, oldest first (``status`` filters). Paged
    (``limit``, ``cursor``; ``next`` and a ``Link`` header)."""
    after = page.after_as(datetime.fromisoformat, str)
    rows = await waiver_requests.list_requests(
        pool, principal, community_id, status, after, page.fetch
    )
    return page.build(
        [WaiverRequestOut(**r) for r in rows],
        key=lambda r: [r.requested_at.isoformat(), r.request_id],
        request=request,
        response=response,
    )


@router.post(
    "/late-fee-waiver-requests/{waiver_request_id}/decision",
    response_model=WaiverRequestOut,
    responses=problem_responses(409, **{"409": "Decided already."}),
)
async def decide_late_fee_waiver_request(
    waiver_request_id: models.Id, body: WaiverDecisionIn, pool: Pool, principal: WaiverDecider
) -> WaiverRequestOut:
    """Approve (the waiver applied as ``POST /invoices/{id}/late-fee-waivers`` applies it,
    the decider its approver) or reject a pending request. Refused: the person who asked
    (403, ``refused: same_person``); a request decided already (409,
    ``refused: already_decided``). Audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await waiver_requests.decide(
            conn,
            principal,
            waiver_request_id,
            body.decision == "approve",
            body.note,
            utc_now(),
        )
    return WaiverRequestOut(**row)
