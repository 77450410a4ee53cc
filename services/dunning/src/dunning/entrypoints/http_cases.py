"""Cases and their escalations, and sweeps. Routes parse, call the service layer and shape
the answer."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from dunning.entrypoints import security
from dunning.entrypoints.models import (
    Case,
    Escalation,
    SweepProgress,
    SweepResult,
)
from dunning.service_layer import reads
from dunning.service_layer import sweep as sweeps
from propfee.business_time import as_of_now, utc_now
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()


@router.get("/cases", tags=["cases"], responses=problem_responses(404))
async def list_cases(
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    unit_id: str | None = None,
    status: str | None = None,
    community_id: str | None = None,
    tier: str | None = None,
) -> Page[Case]:
    """Cases in the caller's communities (filtered in SQL), oldest first; for the legal role,
    the cases on the legal track only. 404 for a community or unit outside the caller's
    scope."""
    rows = await reads.list_cases(
        pool, principal, unit_id=unit_id, status=status, community_id=community_id, tier=tier,
        after=page.after_as(datetime.fromisoformat, str), limit=page.fetch,
    )  # fmt: skip
    items = [Case.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda c: [c.opened_at.isoformat(), c.case_id], request=request,
        response=response,
    )  # fmt: skip


@router.get("/cases/{case_id}", tags=["cases"])
async def get_case(case_id: str, pool: Pool, principal: security.Reader) -> Case:
    return Case.model_validate(
        security.shown(principal, await reads.get_case(pool, principal, case_id))
    )


@router.get("/cases/{case_id}/escalations", tags=["cases"])
async def list_case_escalations(
    case_id: str,
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[Escalation]:
    """The case's escalations, oldest first."""
    rows = await reads.list_escalations(
        pool, principal, case_id, after=page.after_as(datetime.fromisoformat, int),
        limit=page.fetch,
    )  # fmt: skip
    items = [Escalation.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda e: [e.escalated_at.isoformat(), e.escalation_id], request=request,
        response=response,
    )  # fmt: skip


class SweepRequest(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"as_of": "2026-03-10T09:30:00+08:00"}]}}

    as_of: AwareDatetime | None = Field(
        default=None,
        description="Default: now. Only the service role (the simulation clock) may choose it",
    )


@router.post("/sweeps", tags=["sweeps"])
async def run_sweep(body: SweepRequest, pool: Pool, principal: security.Sweeper) -> SweepResult:
    """Move every due case in the caller's communities to its next stage. Staff sweep their
    company's (or their listed) communities as of now only (403 for a chosen ``as_of``); the
    service role sweeps its scope (the whole deployment for a ``"*"`` token) as of any
    instant (the simulation clock, the demo). The sweep is split into work items that every
    dunning replica claims; the answer comes when the last is done (``sweep_id``: its
    progress meanwhile, ``GET /sweeps/{sweep_id}``)."""
    as_of = as_of_now(principal, body.as_of, utc_now(), field="as_of")
    result = await sweeps.sweep_for(pool, principal, as_of)
    return SweepResult.model_validate(result.as_dict())


@router.get("/sweeps/{sweep_id}", tags=["sweeps"])
async def get_sweep(sweep_id: int, pool: Pool, principal: security.Sweeper) -> SweepProgress:
    """A sweep's progress: its items done, failed and in all, the cases judged and escalated
    so far, and its items' errors. 404 for another company's sweep."""
    progress = await sweeps.sweep_progress(pool, principal, sweep_id)
    return SweepProgress.model_validate(progress.as_dict())
