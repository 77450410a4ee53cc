"""Review cases over HTTP (``/exceptions``: money finance reviews), listed and resolved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from payments.entrypoints.models import ReviewCase
from payments.entrypoints.security import FinanceReader, FinanceWriter
from payments.service_layer import review_cases
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["exceptions"])


@router.get("/exceptions", response_model=Page[ReviewCase])
async def list_exceptions(
    pool: Pool,
    principal: FinanceReader,
    page: PageQuery,
    request: Request,
    response: Response,
    status: Annotated[Literal["open", "resolved"], Query()] = "open",
) -> Page[ReviewCase]:
    """The caller's communities' review cases, oldest first (and, for company-wide callers,
    those whose community is unknown — money for an order payments never had — of the
    company's merchant accounts). Paged (``limit``, ``cursor``; ``next`` and a ``Link``
    header)."""
    after = page.after_as(datetime.fromisoformat, str)
    rows = await review_cases.list_cases(pool, principal, status, after, page.fetch)
    return page.build(
        [ReviewCase.model_validate(r) for r in rows],
        key=lambda c: [c.created_at.isoformat(), c.exception_id],
        request=request,
        response=response,
    )


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


@router.post(
    "/exceptions/{exception_id}/resolve",
    response_model=ReviewCase,
    responses=problem_responses(409, **{"409": "Already resolved, or the household is missing."}),
)
async def resolve_exception(
    exception_id: str, body: ResolutionIn, pool: Pool, principal: FinanceWriter
) -> ReviewCase:
    """Close a review with a note (audited, ``exception.resolved``); ``applied`` turns the
    money into a payment of the household named (by default the order's)."""
    resolution = review_cases.Resolution(
        resolution=body.resolution,
        note=body.note,
        resolved_by=body.resolved_by or principal.subject[:64],
        community_id=body.community_id,
        unit_id=body.unit_id,
        payer_party_id=body.payer_party_id,
        invoice_ids=tuple(body.invoice_ids),
    )
    row = await review_cases.resolve_case(
        pool, principal, exception_id, resolution, datetime.now(UTC)
    )
    return ReviewCase.model_validate(row)
