"""Cases and their escalations, and sweeps. Routes parse, call the service layer and shape
the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from dunning.adapters import xlsx
from dunning.adapters.xlsx import XLSX_TYPE
from dunning.entrypoints import security
from dunning.entrypoints.models import (
    Case,
    CaseStatus,
    CaseTotals,
    Escalation,
    SweepProgress,
    SweepResult,
    Tier,
)
from dunning.service_layer import exports, reads
from dunning.service_layer import sweep as sweeps
from propfee.aging import AgingBucket
from propfee.business_time import as_of_now, utc_now
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()
#: Cases read per query while exporting.
EXPORT_BATCH = 1000


def case_filter(
    unit_id: str | None = None,
    status: CaseStatus | None = None,
    community_id: str | None = None,
    tier: Tier | None = None,
    stage: Annotated[str | None, Query(max_length=64, description="The case's stage code")] = None,
    assigned_to: Annotated[
        str | None, Query(max_length=128, description="The staff member it is assigned to")
    ] = None,
    building_id: Annotated[
        str | None, Query(max_length=128, description="The unit's building (billing's id)")
    ] = None,
    fee_item: Annotated[
        str | None, Query(max_length=64, description="Owes an invoice with this fee item")
    ] = None,
    aging: Annotated[
        AgingBucket | None,
        Query(description="Aging bucket of the oldest unpaid due date, as of today"),
    ] = None,
) -> reads.CaseFilter:
    """The case list's filters, shared by the list, its totals and its export."""
    return reads.CaseFilter(
        unit_id=unit_id, status=status, community_id=community_id, tier=tier, stage=stage,
        assigned_to=assigned_to, building_id=building_id, fee_item=fee_item, aging=aging,
    )  # fmt: skip


Filter = Annotated[reads.CaseFilter, Depends(case_filter)]
Sort = Annotated[
    reads.CaseSort,
    Query(description="The order: opened_at (oldest case first), -outstanding_fen (most "
          "owed first), oldest_unpaid_due_date (longest overdue first), room_label"),
]  # fmt: skip


@router.get("/cases", tags=["cases"], responses=problem_responses(404))
async def list_cases(
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    filters: Filter,
    sort: Sort = "opened_at",
) -> Page[Case]:
    """Cases in the caller's communities (filtered in SQL), in ``sort`` order (then by id);
    for the legal role, the cases on the legal track only. 404 for a community or unit
    outside the caller's scope. ``GET /cases/totals`` adds up every case the same filters
    keep; ``GET /cases.xlsx`` exports them."""
    key = reads.SORTS[sort]
    rows = await reads.list_cases(
        pool, principal, filters, sort=sort, after=page.after_as(key.parse, str),
        limit=page.fetch,
    )  # fmt: skip
    items = [Case.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda c: [key.of(c.model_dump()), c.case_id], request=request,
        response=response,
    )  # fmt: skip


@router.get("/cases/totals", tags=["cases"], responses=problem_responses(404))
async def get_case_totals(pool: Pool, principal: security.Reader, filters: Filter) -> CaseTotals:
    """The totals row of the case list: every case the filters keep (all pages), counted
    and what they owe now, added up in SQL."""
    return CaseTotals.model_validate(await reads.case_totals(pool, principal, filters))


@router.get(
    "/cases.xlsx",
    tags=["cases"],
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
               **problem_responses(404)},
)  # fmt: skip
async def download_cases_xlsx(
    pool: Pool, principal: security.Reader, filters: Filter, sort: Sort = "opened_at"
) -> StreamingResponse:
    """Exactly the cases the filters keep (every page), in ``sort`` order, as an XLSX
    workbook (a header row, then one row per case); what the list shows, streamed."""
    as_of = reads.today()

    async def rows() -> AsyncIterator[list[Any]]:
        key, after = reads.SORTS[sort], None
        while True:
            batch = await reads.list_cases(
                pool, principal, filters, sort=sort, after=after, limit=EXPORT_BATCH,
                as_of=as_of,
            )  # fmt: skip
            for row in batch:
                yield exports.export_row(principal, row)
            if len(batch) < EXPORT_BATCH:
                return
            after = [key.of(batch[-1]), batch[-1]["case_id"]]
            after[0] = key.parse(after[0]) if isinstance(after[0], str) else after[0]

    file = await xlsx.write(rows(), exports.EXPORT_COLUMNS, exports.SHEET)
    name = exports.file_name(as_of)
    return StreamingResponse(
        xlsx.stream(file),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


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
