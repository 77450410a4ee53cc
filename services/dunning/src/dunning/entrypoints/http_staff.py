"""Staff's HTTP API: outcomes, promises, notes, pauses, assignment, letters, moving a case,
tasks and work queues. Refusals are 409 with the reason. Every manual change of a case is
audited in its transaction (``propfee.audit``); ``staff_id`` defaults to the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from dunning.entrypoints import security
from dunning.entrypoints.http import shown
from dunning.service_layer import pauses, people
from propfee import audit, business_time
from propfee.auth import Principal
from propfee.http import Pool

router = APIRouter()
ReasonCode = Literal[
    "forgot", "hardship", "unhappy_with_service", "property_quality",
    "landlord_tenant_dispute", "refuses", "unreachable", "paid_elsewhere", "other",
]  # fmt: skip
StaffId = Field(default=None, min_length=1, max_length=200, description="Default: the caller")
T = TypeVar("T")


def business_instant(
    principal: Principal, case: Any, requested: datetime | None, field: str
) -> datetime:
    """When staff say something happened (``requested``, default now): never later than now,
    never earlier than the company's back-dating window (403 otherwise); the service role
    (the simulation clock) as of any instant. ``case``: a row from ``security.case`` or
    ``security.pause`` (it carries the community's ``backdate_days``)."""
    now = business_time.utc_now()
    at = business_time.business_instant(
        principal, requested, now, field=field, backdate_days=case["backdate_days"]
    )
    # Within the library's clock-skew allowance staff get now: never a later instant.
    return at if business_time.acts_on_own_clock(principal) else min(at, now)


async def _run(pool: Any, call: Callable[[Any], Awaitable[T]]) -> T:
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await call(conn)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except people.Refused as exc:
        raise HTTPException(
            409, {"refused": exc.refusal.code, "reason": exc.refusal.reason}
        ) from exc


async def record_case_change(
    conn: Any,
    principal: Principal,
    case: Any,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> None:
    """The audit row of a manual change of ``case`` (a row from ``security.case``)."""
    await audit.record(
        conn, principal, action, subject_type, subject_id,
        community_id=case["community_id"], unit_id=case["unit_id"],
        company_id=case["company_id"], before=before, after=after, reason=reason,
    )  # fmt: skip


class OutcomeIn(BaseModel):
    kind: Literal["call", "visit"]
    reason_code: ReasonCode
    staff_id: str | None = StaffId
    note: str | None = Field(default=None, max_length=4000)
    task_id: str | None = Field(default=None, max_length=200)
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/outcomes", tags=["contacts"], status_code=201)
async def record_outcome(
    case_id: str, body: OutcomeIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, str]:
    """A call or visit and what the household said; a complaint reason pauses the case for
    30 days. Audited."""
    staff_id = body.staff_id or principal.subject

    async def call(conn: Any) -> str:
        case = await security.case(conn, principal, case_id)
        at = business_instant(principal, case, body.at, "at")
        if body.task_id is not None:
            await _task_of_case(conn, principal, body.task_id, case_id)
        outcome_id = await people.record_outcome(
            conn, case_id, kind=body.kind, reason_code=body.reason_code,
            staff_id=staff_id, at=at, note=body.note, task_id=body.task_id,
        )  # fmt: skip
        after = {
            "case_id": case_id, **body.model_dump(mode="json"), "at": at, "staff_id": staff_id
        }  # fmt: skip
        await record_case_change(
            conn, principal, case, "outcome.recorded", "outcome", outcome_id, after=after,
            reason=body.reason_code,
        )  # fmt: skip
        return outcome_id

    return {"outcome_id": await _run(pool, call)}


class PromiseIn(BaseModel):
    amount_fen: int = Field(ge=0, le=2**62)
    promised_date: date
    signed: bool = False
    staff_id: str | None = StaffId
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/promises", tags=["contacts"], status_code=201)
async def record_promise(
    case_id: str, body: PromiseIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, str]:
    """A promise to pay by a date (a signed one restarts the limitation clocks). Audited."""
    staff_id = body.staff_id or principal.subject

    async def call(conn: Any) -> str:
        case = await security.case(conn, principal, case_id)
        at = business_instant(principal, case, body.at, "at")
        promise_id = await people.record_promise(
            conn, case_id, amount_fen=body.amount_fen, promised_date=body.promised_date,
            signed=body.signed, staff_id=staff_id, at=at,
        )  # fmt: skip
        after = {
            "case_id": case_id, **body.model_dump(mode="json"), "at": at, "staff_id": staff_id
        }  # fmt: skip
        await record_case_change(
            conn, principal, case, "promise.recorded", "promise", promise_id, after=after
        )
        return promise_id

    return {"promise_id": await _run(pool, call)}


class NoteIn(BaseModel):
    staff_id: str | None = StaffId
    body: str = Field(min_length=1, max_length=4000)
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/notes", tags=["contacts"], status_code=201)
async def create_note(
    case_id: str, body: NoteIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, int]:
    async def call(conn: Any) -> int:
        case = await security.case(conn, principal, case_id)
        at = business_instant(principal, case, body.at, "at")
        note_id: int = await conn.fetchval(
            "INSERT INTO case_notes (case_id, staff_id, body, at) VALUES ($1, $2, $3, $4) "
            "RETURNING note_id",
            case_id, body.staff_id or principal.subject, body.body, at,
        )  # fmt: skip
        return note_id

    return {"note_id": await _run(pool, call)}


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


@router.post("/cases/{case_id}/pauses", tags=["pauses"], status_code=201)
async def pause_case(
    case_id: str, body: PauseIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, str | None]:
    """Pause the case, or one disputed invoice of it, with a reason, an owner and an end
    (``starts_at``: a business time, default now). Audited."""

    async def call(conn: Any) -> str | None:
        case = await security.case(conn, principal, case_id)
        starts = business_instant(principal, case, body.starts_at, "starts_at")
        if body.ends_at <= starts:
            raise HTTPException(422, "ends_at: a pause ends after it starts")
        pause_id = await pauses.pause_case(
            conn, case_id=case_id, reason=body.reason, owner=body.owner, starts_at=starts,
            ends_at=body.ends_at, invoice_id=body.invoice_id, note=body.note,
        )  # fmt: skip
        if pause_id is not None:
            after = {"case_id": case_id, **body.model_dump(mode="json"), "starts_at": starts}
            await record_case_change(
                conn, principal, case, "case.paused", "pause", pause_id, after=after,
                reason=body.note or body.reason,
            )  # fmt: skip
        return pause_id

    return {"pause_id": await _run(pool, call)}


@router.get("/cases/{case_id}/pauses", tags=["pauses"])
async def list_case_pauses(
    case_id: str, pool: Pool, principal: security.Reader
) -> list[dict[str, Any]]:
    await security.case(pool, principal, case_id)
    rows = await pool.fetch(
        "SELECT pause_id, scope, invoice_id, reason, owner, starts_at, ends_at, note, plan_id, "
        "resolved_at, resolution FROM pauses WHERE case_id = $1 ORDER BY starts_at",
        case_id,
    )
    return [shown(principal, r) for r in rows]


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000)
    at: AwareDatetime | None = None


@router.post("/pauses/{pause_id}/resolve", tags=["pauses"])
async def resolve_pause(
    pause_id: str, body: ResolveIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, bool]:
    """End a pause early with how it was resolved. Audited. Idempotent: a pause resolved
    already (by someone else, or by a missed installment) answers ``already_resolved``."""

    async def call(conn: Any) -> bool:
        before = await security.pause(conn, principal, pause_id)
        at = business_instant(principal, before, body.at, "at")
        if before["resolved_at"] is not None or not await pauses.resume(
            conn, pause_id, body.resolution, at
        ):
            return False
        await record_case_change(
            conn, principal, before, "pause.resolved", "pause", pause_id,
            before={"case_id": before["case_id"], "reason": before["reason"],
                    "ends_at": before["ends_at"], "resolved_at": None},
            after={"resolution": body.resolution, "resolved_at": at},
            reason=body.resolution,
        )  # fmt: skip
        return True

    if not await _run(pool, call):
        return {"resolved": True, "already_resolved": True}
    return {"resolved": True}


class AssignIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=200)
    role: Literal["housekeeper", "collector", "legal"] = "housekeeper"
    owner: bool = False


@router.post("/cases/{case_id}/assignment", tags=["cases"])
async def assign_case(
    case_id: str, body: AssignIn, pool: Pool, principal: security.CaseWorker
) -> dict[str, str]:
    """Assign a housekeeper, collector or legal staff member (``owner``: the red case's
    owner). Audited."""

    async def call(conn: Any) -> None:
        case = await security.case(conn, principal, case_id)
        await people.assign(conn, case_id, staff_id=body.staff_id, role=body.role, owner=body.owner)
        before = {k: case[k] for k in ("assigned_to", "assigned_role", "owner_staff_id")}
        after = {
            "assigned_to": body.staff_id,
            "assigned_role": body.role,
            "owner_staff_id": body.staff_id if body.owner else case["owner_staff_id"],
        }
        await record_case_change(
            conn, principal, case, "case.assigned", "case", case_id, before=before, after=after
        )

    await _run(pool, call)
    return {"assigned_to": body.staff_id}


async def _task_of_case(conn: Any, principal: Principal, task_id: str, case_id: str) -> None:
    """A task named with an outcome must be visible and, when it has a case, the case's."""
    task = await security.task(conn, principal, task_id)
    if task["case_id"] not in (None, case_id):
        raise HTTPException(404, f"task {task_id} not found")
