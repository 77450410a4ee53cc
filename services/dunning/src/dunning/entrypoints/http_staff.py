"""Staff's HTTP API: outcomes, promises, notes, pauses and assignment. Refusals are 409 with
the reason. Every manual change of a case is audited in its transaction by the service layer
(``service_layer/casework.py``); ``staff_id`` defaults to the caller."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from dunning.entrypoints import security
from dunning.entrypoints.models import (
    CaseAssigned,
    CasePaused,
    NoteAdded,
    OutcomeRecorded,
    Pause,
    PauseResolved,
    Promise,
    PromiseRecorded,
)
from dunning.service_layer import casework, reads
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()
ReasonCode = Literal[
    "forgot", "hardship", "unhappy_with_service", "property_quality",
    "landlord_tenant_dispute", "refuses", "unreachable", "paid_elsewhere", "other",
]  # fmt: skip
StaffId = Field(default=None, min_length=1, max_length=200, description="Default: the caller")
#: What a refused change of a case answers, beyond the automatic ones.
REFUSED = problem_responses(409)


class OutcomeIn(BaseModel):
    kind: Literal["call", "visit"]
    reason_code: ReasonCode
    staff_id: str | None = StaffId
    note: str | None = Field(default=None, max_length=4000)
    task_id: str | None = Field(default=None, max_length=200)
    at: AwareDatetime | None = None


class PromiseIn(BaseModel):
    amount_fen: int = Field(ge=0, le=2**62)
    promised_date: date
    signed: bool = False
    staff_id: str | None = StaffId
    at: AwareDatetime | None = None


class NoteIn(BaseModel):
    staff_id: str | None = StaffId
    body: str = Field(min_length=1, max_length=4000)
    at: AwareDatetime | None = None


class PauseIn(BaseModel):
    reason: Literal[
        "service_complaint", "hardship_plan", "installment_plan", "legal_proceeding",
        "property_quality", "landlord_tenant_dispute", "other",
    ]  # fmt: skip
    owner: str = Field(min_length=1, max_length=200)
    ends_at: AwareDatetime
    invoice_id: str | None = Field(
        default=None, max_length=200, description="Pause only this disputed invoice"
    )
    note: str | None = Field(default=None, max_length=4000)
    starts_at: AwareDatetime | None = None


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000)
    at: AwareDatetime | None = None


class AssignIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=200)
    role: Literal["housekeeper", "collector", "legal"] = "housekeeper"
    owner: bool = False


@router.post("/cases/{case_id}/outcomes", tags=["contacts"], status_code=201, responses=REFUSED)
async def record_outcome(
    case_id: str, body: OutcomeIn, pool: Pool, principal: security.CaseWorker
) -> OutcomeRecorded:
    """A call or visit and what the household said; a complaint reason pauses the case for
    30 days. ``at`` is a business time (staff back-date within the company's window, never
    forward: 403). Audited."""
    request = body.model_dump(mode="json")
    outcome_id = await casework.record_outcome(pool, principal, case_id, request)
    return OutcomeRecorded(outcome_id=outcome_id)


@router.post("/cases/{case_id}/promises", tags=["contacts"], status_code=201, responses=REFUSED)
async def record_promise(
    case_id: str, body: PromiseIn, pool: Pool, principal: security.CaseWorker
) -> PromiseRecorded:
    """A promise to pay by a date (a signed one restarts the limitation clocks). Audited."""
    request = body.model_dump(mode="json")
    promise_id = await casework.record_promise(pool, principal, case_id, request)
    return PromiseRecorded(promise_id=promise_id)


@router.get("/promises", tags=["contacts"], responses=problem_responses(404))
async def list_promises(
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    due_by: Annotated[
        date | None, Query(description="Promised on or before this day (due or overdue)")
    ] = None,
    status: Literal["open", "kept", "broken"] | None = None,
    community_id: Annotated[str | None, Query(max_length=200)] = None,
    case_id: Annotated[str | None, Query(max_length=200)] = None,
    assigned_to: Annotated[
        str | None, Query(max_length=200, description="The case's assignee")
    ] = None,
) -> Page[Promise]:
    """Promises to pay of the caller's communities' cases (filtered in SQL; for the legal
    role, of cases on the legal track only), the soonest promised first. The workbench's
    "promises falling due": ``due_by`` today and ``status=open``. 404 for a community or
    case outside the caller's scope."""
    rows = await reads.list_promises(
        pool, principal, due_by=due_by, status=status, community_id=community_id,
        case_id=case_id, assigned_to=assigned_to,
        after=page.after_as(date.fromisoformat, str), limit=page.fetch,
    )  # fmt: skip
    items = [Promise.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda p: [p.promised_date.isoformat(), p.promise_id], request=request,
        response=response,
    )  # fmt: skip


@router.post("/cases/{case_id}/notes", tags=["contacts"], status_code=201, responses=REFUSED)
async def create_note(
    case_id: str, body: NoteIn, pool: Pool, principal: security.CaseWorker
) -> NoteAdded:
    note_id = await casework.add_note(
        pool, principal, case_id, body=body.body, staff_id=body.staff_id, at=body.at
    )
    return NoteAdded(note_id=note_id)


@router.post("/cases/{case_id}/pauses", tags=["pauses"], status_code=201, responses=REFUSED)
async def pause_case(
    case_id: str, body: PauseIn, pool: Pool, principal: security.CaseWorker
) -> CasePaused:
    """Pause the case, or one disputed invoice of it, with a reason, an owner and an end
    (``starts_at``: a business time, default now). Audited."""
    request = body.model_dump(mode="json")
    return CasePaused(pause_id=await casework.pause_case(pool, principal, case_id, request))


@router.get("/cases/{case_id}/pauses", tags=["pauses"])
async def list_case_pauses(
    case_id: str,
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[Pause]:
    rows = await reads.list_pauses(
        pool, principal, case_id, after=page.after_as(datetime.fromisoformat, str),
        limit=page.fetch,
    )  # fmt: skip
    items = [Pause.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda p: [p.starts_at.isoformat(), p.pause_id], request=request,
        response=response,
    )  # fmt: skip


@router.post(
    "/pauses/{pause_id}/resolve", tags=["pauses"], response_model_exclude_none=True,
    responses=REFUSED,
)  # fmt: skip
async def resolve_pause(
    pause_id: str, body: ResolveIn, pool: Pool, principal: security.CaseWorker
) -> PauseResolved:
    """End a pause early with how it was resolved. Audited. Idempotent: a pause resolved
    already (by someone else, or by a missed installment) answers ``already_resolved``."""
    resolved = await casework.resolve_pause(
        pool, principal, pause_id, resolution=body.resolution, at=body.at
    )
    return PauseResolved(resolved=True, already_resolved=None if resolved else True)


@router.post("/cases/{case_id}/assignment", tags=["cases"], responses=REFUSED)
async def assign_case(
    case_id: str, body: AssignIn, pool: Pool, principal: security.CaseWorker
) -> CaseAssigned:
    """Assign a housekeeper, collector or legal staff member (``owner``: the red case's
    owner). Audited."""
    await casework.assign_case(
        pool, principal, case_id, staff_id=body.staff_id, role=body.role, owner=body.owner
    )
    return CaseAssigned(assigned_to=body.staff_id)
