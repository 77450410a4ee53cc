"""Letters, moving a case by hand (the legal track), tasks and work queues."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from dunning.entrypoints import security
from dunning.entrypoints.http_staff import REFUSED, StaffId
from dunning.entrypoints.models import CaseAdvanced, LetterRecorded, QueueEntry, Task, TaskDone
from dunning.errors import Forbidden
from dunning.service_layer import casework, reads
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()
#: ``GET /staff/me/queue``: the caller's own queue.
ME = "me"


class LetterIn(BaseModel):
    stage: str = Field(min_length=1, max_length=100)
    carrier: str = Field(default="EMS", min_length=1, max_length=100)
    tracking_no: str = Field(min_length=1, max_length=200)
    sent_at: AwareDatetime | None = Field(default=None, description="Posted; default now")
    delivered_at: AwareDatetime | None = Field(
        default=None,
        description="Delivered, only with carrier_status or receipt_reference as proof; "
        "without proof the letter is posted (a tracking number is not delivery)",
    )
    carrier_status: str | None = Field(default=None, min_length=1, max_length=200)
    receipt_reference: str | None = Field(default=None, min_length=1, max_length=500)
    signed_by: str | None = Field(default=None, min_length=1, max_length=200)
    staff_id: str | None = StaffId


class LetterDeliveryIn(BaseModel):
    delivered_at: AwareDatetime | None = Field(default=None, description="Default now")
    carrier_status: str | None = Field(
        default=None, min_length=1, max_length=200, description="The carrier's delivery status "
        "(EMS 妥投, signed); this or receipt_reference is required",
    )  # fmt: skip
    receipt_reference: str | None = Field(
        default=None, min_length=1, max_length=500,
        description="The signed receipt's scan or reference",
    )  # fmt: skip
    signed_by: str | None = Field(default=None, min_length=1, max_length=200)
    staff_id: str | None = StaffId


@router.post("/cases/{case_id}/letters", tags=["letters"], status_code=201, responses=REFUSED)
async def record_letter(
    case_id: str, body: LetterIn, pool: Pool, principal: security.LegalWorker
) -> LetterRecorded:
    """A letter sent by EMS or by hand: posted (its tracking number proves posting, not
    delivery). With ``delivered_at`` *and* proof (the carrier's delivery status or a signed
    receipt's reference) it is recorded delivered at once, as
    ``POST /cases/{case_id}/letters/{letter_id}/delivery`` does; ``delivered_at`` without
    proof is not taken as delivery. Both dates are business times: staff back-date them within
    the company's window, never forward-date them (403). Audited."""
    request = body.model_dump(mode="json")
    letter_id, status = await casework.record_letter(pool, principal, case_id, request)
    return LetterRecorded(letter_id=letter_id, status=status)


@router.post("/cases/{case_id}/letters/{letter_id}/delivery", tags=["letters"], responses=REFUSED)
async def record_letter_delivery(
    case_id: str,
    letter_id: str,
    body: LetterDeliveryIn,
    pool: Pool,
    principal: security.LegalWorker,
) -> LetterRecorded:
    """A posted letter's delivery, with proof: the carrier's delivery status (EMS 妥投/signed)
    or a signed receipt (its scan or reference); 422 without either. Only then is the letter
    delivery evidence of its demand and restarts the limitation clock. ``delivered_at`` is a
    business time (never forward-dated by staff, never before the letter was posted).
    Idempotent: a letter already delivered changes nothing. Audited."""
    request = body.model_dump(mode="json")
    await casework.record_letter_delivery(pool, principal, case_id, letter_id, request)
    return LetterRecorded(letter_id=letter_id, status="delivered")


class AdvanceIn(BaseModel):
    stage: str = Field(min_length=1, max_length=100)
    staff_id: str | None = StaffId
    reason: str | None = Field(default=None, max_length=2000, description="Why, for the audit")
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/advance", tags=["cases"], responses=REFUSED)
async def advance_case(
    case_id: str, body: AdvanceIn, pool: Pool, principal: security.LegalWorker
) -> CaseAdvanced:
    """Move a case into a later stage by hand (e.g. mediation, lawsuit). 409 when refused:
    ``refused`` names the first reason and ``unmet`` lists every unmet precondition as
    ``{code, detail}`` (paused, under a plan, a late fee only, the demand, not later). A
    legal referral needs a demand delivered in time whose deadline (from delivery) has
    passed, judged at the server's clock now for staff, and such a referral
    is entered then (``at`` is a business time: staff back-date other moves within the
    company's window, never forward); only the service role, the simulation clock, is judged
    as of ``at``. Audited (a stage override)."""
    await casework.advance_case(
        pool, principal, case_id, stage=body.stage, staff_id=body.staff_id,
        reason=body.reason, at=body.at,
    )  # fmt: skip
    return CaseAdvanced(stage=body.stage)


@router.get("/tasks", tags=["tasks"], responses=problem_responses(404))
async def list_tasks(
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    case_id: str | None = None,
    assignee: str | None = None,
    status: str | None = "open",
    kind: str | None = None,
    due_by: date | None = None,
) -> Page[Task]:
    """Tasks in the caller's communities (filtered in SQL); for the legal role, the tasks of
    cases on the legal track only. 404 for a case outside the caller's scope. ``due_by``
    (the workbench's "due today"): calls whose lawful call window (set by the sweep) opens
    by that day, in the community's time zone, and other tasks due on or before it."""
    rows = await reads.list_tasks(
        pool, principal, case_id=case_id, assignee=assignee, status=status, kind=kind,
        after=page.after_as(datetime.fromisoformat, str), limit=page.fetch, due_by=due_by,
    )  # fmt: skip
    items = [Task.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda t: [t.created_at.isoformat(), t.task_id], request=request,
        response=response,
    )  # fmt: skip


@router.post("/tasks/{task_id}/done", tags=["tasks"])
async def complete_task(task_id: str, pool: Pool, principal: security.CaseWorker) -> TaskDone:
    """Mark a task done; idempotent for a done task, 404 for a cancelled one (its case
    closed)."""
    await casework.complete_task(pool, principal, task_id)
    return TaskDone(task_id=task_id, status="done")


@router.get("/staff/{staff_id}/queue", tags=["work-queues"])
async def get_work_queue(
    staff_id: str,
    pool: Pool,
    principal: security.QueueReader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[QueueEntry]:
    """A person's open cases in the caller's communities, most valuable first: tier (red,
    yellow, green, current), then what is owed; with the open tasks on each. Staff read their
    own queue (``me``, or their token's subject); managers anyone's (403 otherwise). The
    legal role's queue holds the cases on the legal track only."""
    if staff_id == ME:
        staff_id = principal.subject
    if staff_id != principal.subject and not principal.has_any(security.MANAGERS):
        raise Forbidden("you may read your own work queue only")
    rows = await reads.work_queue(
        pool, principal, staff_id, after=page.after_as(int, int, str), limit=page.fetch
    )
    keys = {r["case_id"]: [r["rank_key"], -r["outstanding_fen"], r["case_id"]] for r in rows}
    items = [QueueEntry.model_validate(security.shown(principal, r)) for r in rows]
    return page.build(items, key=lambda q: keys[q.case_id], request=request, response=response)
