"""Staff's HTTP API: outcomes, promises, notes, pauses, assignment, letters, moving a case,
tasks and work queues. Refusals are 409 with the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from dunning.service_layer import pauses, people
from propfee.http import Pool

router = APIRouter(tags=["staff"])
ReasonCode = Literal[
    "forgot", "hardship", "unhappy_with_service", "property_quality",
    "landlord_tenant_dispute", "refuses", "unreachable", "paid_elsewhere", "other",
]  # fmt: skip


def _now(at: datetime | None) -> datetime:
    return at or datetime.now(UTC)


async def _run(pool: Any, call: Any) -> Any:
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await call(conn)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except people.Refused as exc:
        raise HTTPException(
            409, {"refused": exc.refusal.code, "reason": exc.refusal.reason}
        ) from exc


class OutcomeIn(BaseModel):
    kind: Literal["call", "visit"]
    reason_code: ReasonCode
    staff_id: str
    note: str | None = None
    task_id: str | None = None
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/outcomes", status_code=201)
async def record_outcome(case_id: str, body: OutcomeIn, pool: Pool) -> dict[str, str]:
    async def call(conn: Any) -> str:
        return await people.record_outcome(
            conn, case_id, kind=body.kind, reason_code=body.reason_code,
            staff_id=body.staff_id, at=_now(body.at), note=body.note, task_id=body.task_id,
        )  # fmt: skip

    return {"outcome_id": await _run(pool, call)}


class PromiseIn(BaseModel):
    amount_fen: int = Field(ge=0)
    promised_date: date
    signed: bool = False
    staff_id: str
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/promises", status_code=201)
async def record_promise(case_id: str, body: PromiseIn, pool: Pool) -> dict[str, str]:
    async def call(conn: Any) -> str:
        return await people.record_promise(
            conn, case_id, amount_fen=body.amount_fen, promised_date=body.promised_date,
            signed=body.signed, staff_id=body.staff_id, at=_now(body.at),
        )  # fmt: skip

    return {"promise_id": await _run(pool, call)}


class NoteIn(BaseModel):
    staff_id: str
    body: str = Field(min_length=1, max_length=4000)
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/notes", status_code=201)
async def add_note(case_id: str, body: NoteIn, pool: Pool) -> dict[str, int]:
    async def call(conn: Any) -> int:
        await people.case_row(conn, case_id)
        note_id: int = await conn.fetchval(
            "INSERT INTO case_notes (case_id, staff_id, body, at) VALUES ($1, $2, $3, $4) "
            "RETURNING note_id",
            case_id, body.staff_id, body.body, _now(body.at),
        )  # fmt: skip
        return note_id

    return {"note_id": await _run(pool, call)}


class PauseIn(BaseModel):
    reason: Literal[
        "service_complaint", "hardship_plan", "installment_plan", "legal_proceeding",
        "property_quality", "landlord_tenant_dispute", "other",
    ]  # fmt: skip
    owner: str
    ends_at: AwareDatetime
    invoice_id: str | None = Field(default=None, description="Pause only this disputed invoice")
    note: str | None = None
    starts_at: AwareDatetime | None = None


@router.post("/cases/{case_id}/pauses", status_code=201)
async def pause(case_id: str, body: PauseIn, pool: Pool) -> dict[str, str | None]:
    starts = _now(body.starts_at)
    if body.ends_at <= starts:
        raise HTTPException(422, "a pause ends after it starts")

    async def call(conn: Any) -> str | None:
        return await pauses.pause_case(
            conn, case_id=case_id, reason=body.reason, owner=body.owner, starts_at=starts,
            ends_at=body.ends_at, invoice_id=body.invoice_id, note=body.note,
        )  # fmt: skip

    return {"pause_id": await _run(pool, call)}


@router.get("/cases/{case_id}/pauses")
async def list_pauses(case_id: str, pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT pause_id, scope, invoice_id, reason, owner, starts_at, ends_at, note, plan_id, "
        "resolved_at, resolution FROM pauses WHERE case_id = $1 ORDER BY starts_at",
        case_id,
    )
    return [dict(r) for r in rows]


class ResolveIn(BaseModel):
    resolution: str
    at: AwareDatetime | None = None


@router.post("/pauses/{pause_id}/resolve")
async def resolve(pause_id: str, body: ResolveIn, pool: Pool) -> dict[str, bool]:
    async def call(conn: Any) -> bool:
        return await pauses.resume(conn, pause_id, body.resolution, _now(body.at))

    if not await _run(pool, call):
        raise HTTPException(404, f"no open pause {pause_id}")
    return {"resolved": True}


class AssignIn(BaseModel):
    staff_id: str
    role: Literal["housekeeper", "collector", "legal"] = "housekeeper"
    owner: bool = False


@router.post("/cases/{case_id}/assignment")
async def assign(case_id: str, body: AssignIn, pool: Pool) -> dict[str, str]:
    async def call(conn: Any) -> None:
        await people.assign(conn, case_id, staff_id=body.staff_id, role=body.role, owner=body.owner)

    await _run(pool, call)
    return {"assigned_to": body.staff_id}
