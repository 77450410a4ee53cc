"""Letters, moving a case by hand (the legal track), tasks and work queues."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from dunning.entrypoints import security
from dunning.entrypoints.http import shown
from dunning.entrypoints.http_staff import StaffId, _run, business_instant, record_case_change
from dunning.service_layer import legal, people
from propfee import business_time
from propfee.http import Pool

router = APIRouter()


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


@router.post("/cases/{case_id}/letters", tags=["letters"], status_code=201)
async def record_letter(
    case_id: str, body: LetterIn, pool: Pool, principal: security.LegalWorker
) -> dict[str, str]:
    """A letter sent by EMS or by hand: posted (its tracking number proves posting, not
    delivery). With ``delivered_at`` *and* proof (the carrier's delivery status or a signed
    receipt's reference) it is recorded delivered at once, as
    ``POST /cases/{case_id}/letters/{letter_id}/delivery`` does; ``delivered_at`` without
    proof is not taken as delivery. Both dates are business times: staff back-date them within
    the company's window, never forward-date them (403). Audited."""
    staff_id = body.staff_id or principal.subject

    async def call(conn: Any) -> dict[str, str]:
        case = await security.case(conn, principal, case_id)
        sent_at = business_instant(principal, case, body.sent_at, "sent_at")
        delivered_at = None
        if body.delivered_at is not None:
            delivered_at = business_instant(principal, case, body.delivered_at, "delivered_at")
            if delivered_at < sent_at:
                raise HTTPException(422, "delivered_at: a letter is delivered after it is sent")
        letter_id = await people.record_letter(
            conn, case_id, stage=body.stage, carrier=body.carrier, tracking_no=body.tracking_no,
            sent_at=sent_at, staff_id=staff_id,
        )  # fmt: skip
        status = "posted"
        if delivered_at is not None and (body.carrier_status or body.receipt_reference):
            await people.record_letter_delivery(
                conn, case_id, letter_id, delivered_at=delivered_at,
                carrier_status=body.carrier_status, receipt_reference=body.receipt_reference,
                signed_by=body.signed_by, staff_id=staff_id,
            )  # fmt: skip
            status = "delivered"
        after = {
            "case_id": case_id, **body.model_dump(mode="json"), "sent_at": sent_at,
            "staff_id": staff_id, "status": status,
        }  # fmt: skip
        await record_case_change(
            conn, principal, case, "letter.recorded", "letter", letter_id, after=after
        )
        return {"letter_id": letter_id, "status": status}

    return await _run(pool, call)


@router.post("/cases/{case_id}/letters/{letter_id}/delivery", tags=["letters"])
async def record_letter_delivery(
    case_id: str,
    letter_id: str,
    body: LetterDeliveryIn,
    pool: Pool,
    principal: security.LegalWorker,
) -> dict[str, str]:
    """A posted letter's delivery, with proof: the carrier's delivery status (EMS 妥投/signed)
    or a signed receipt (its scan or reference); 422 without either. Only then is the letter
    delivery evidence of its demand and restarts the limitation clock. ``delivered_at`` is a
    business time (never forward-dated by staff, never before the letter was posted).
    Idempotent: a letter already delivered changes nothing. Audited."""
    if not (body.carrier_status or body.receipt_reference):
        raise HTTPException(
            422, "a delivery needs carrier_status (the carrier's delivery status) or "
            "receipt_reference (the signed receipt's scan or reference)",
        )  # fmt: skip
    staff_id = body.staff_id or principal.subject

    async def call(conn: Any) -> dict[str, str]:
        case = await security.case(conn, principal, case_id)
        delivered_at = business_instant(principal, case, body.delivered_at, "delivered_at")
        try:
            changed = await people.record_letter_delivery(
                conn, case_id, letter_id, delivered_at=delivered_at,
                carrier_status=body.carrier_status, receipt_reference=body.receipt_reference,
                signed_by=body.signed_by, staff_id=staff_id,
            )  # fmt: skip
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if changed:
            await record_case_change(
                conn, principal, case, "letter.delivered", "letter", letter_id,
                after={**body.model_dump(mode="json"), "delivered_at": delivered_at,
                       "staff_id": staff_id},
            )  # fmt: skip
        return {"letter_id": letter_id, "status": "delivered"}

    return await _run(pool, call)


class AdvanceIn(BaseModel):
    stage: str = Field(min_length=1, max_length=100)
    staff_id: str | None = StaffId
    reason: str | None = Field(default=None, max_length=2000, description="Why, for the audit")
    at: AwareDatetime | None = None


@router.post("/cases/{case_id}/advance", tags=["cases"])
async def advance_case(
    case_id: str, body: AdvanceIn, pool: Pool, principal: security.LegalWorker
) -> dict[str, str]:
    """Move a case into a later stage by hand (e.g. mediation, lawsuit). 409 with the reason
    when refused: a legal referral needs a demand delivered in time whose deadline (from
    delivery) has passed, judged at the server's clock now for staff, and such a referral
    is entered then (``at`` is a business time: staff back-date other moves within the
    company's window, never forward); only the service role, the simulation clock, is judged
    as of ``at``. Audited (a stage override)."""
    staff_id = body.staff_id or principal.subject

    async def call(conn: Any) -> None:
        case = await security.case(conn, principal, case_id)
        at = business_instant(principal, case, body.at, "at")
        # The precondition is judged now: the server's clock for staff (a back-dated ``at``
        # dates the record only), the simulation clock's instant for the service role.
        judged_at = at if business_time.acts_on_own_clock(principal) else business_time.utc_now()
        at = await legal.advance(
            conn, case_id, stage=body.stage, staff_id=staff_id, at=at, judged_at=judged_at
        )
        await record_case_change(
            conn, principal, case, "case.stage_overridden", "case", case_id,
            before={"stage": case["stage"], "stage_entered_at": case["stage_entered_at"]},
            after={"stage": body.stage, "stage_entered_at": at, "staff_id": staff_id},
            reason=body.reason,
        )  # fmt: skip

    await _run(pool, call)
    return {"stage": body.stage}


@router.get("/tasks", tags=["tasks"])
async def list_tasks(
    pool: Pool,
    principal: security.Reader,
    case_id: str | None = None,
    assignee: str | None = None,
    status: str | None = "open",
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Tasks in the caller's communities (filtered in SQL); for the legal role, the tasks of
    cases on the legal track only."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT task_id, case_id, community_id, unit_id, kind, stage, reason, source, status, "
        "assignee, window_start, window_end, due_on, notifier_task_id, created_at, completed_at "
        "FROM tasks WHERE ($1::text IS NULL OR case_id = $1) "
        "AND ($2::text IS NULL OR assignee = $2) AND ($3::text IS NULL OR status = $3) "
        f"AND ($4::text IS NULL OR kind = $4) AND {security.scope_sql('tasks.community_id', 5, 6)} "
        f"AND {security.legal_case_sql('tasks.case_id', 7)} "
        "ORDER BY created_at, task_id LIMIT 1000",
        case_id,
        assignee,
        status,
        kind,
        company,
        communities,
        security.legal_only(principal),
    )
    return [shown(principal, r) for r in rows]


@router.post("/tasks/{task_id}/done", tags=["tasks"])
async def complete_task(task_id: str, pool: Pool, principal: security.CaseWorker) -> dict[str, str]:
    """Mark a task done; idempotent for a done task, 404 for a cancelled one (its case
    closed)."""
    task = await security.task(pool, principal, task_id)
    if task["status"] == "done":
        return {"task_id": task_id, "status": "done"}
    done = await pool.fetchval(
        "UPDATE tasks SET status = 'done', completed_at = $2 WHERE task_id = $1 "
        "AND status = 'open' RETURNING task_id",
        task_id,
        datetime.now(UTC),
    )
    if done is None:
        raise HTTPException(404, f"no open task {task_id}")
    return {"task_id": task_id, "status": "done"}


#: ``GET /staff/me/queue``: the caller's own queue.
ME = "me"


@router.get("/staff/{staff_id}/queue", tags=["work-queues"])
async def get_work_queue(
    staff_id: str, pool: Pool, principal: security.QueueReader
) -> list[dict[str, Any]]:
    """A person's open cases in the caller's communities, most valuable first: tier (red,
    yellow, green, current), then what is owed; with the open tasks on each. Staff read their
    own queue (``me``, or their token's subject); managers anyone's. The legal role's queue
    holds the cases on the legal track only."""
    if staff_id == ME:
        staff_id = principal.subject
    if staff_id != principal.subject and not principal.has_any(security.MANAGERS):
        raise HTTPException(403, "you may read your own work queue only")
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.room_label, c.tier, "
        "c.stage, c.outstanding_fen, c.oldest_due_date, c.owner_staff_id = $1 AS owner, "
        "coalesce((SELECT json_agg(json_build_object('task_id', t.task_id, 'kind', t.kind, "
        "  'window_start', t.window_start, 'window_end', t.window_end, 'due_on', t.due_on) "
        "  ORDER BY t.created_at) FROM tasks t WHERE t.case_id = c.case_id "
        "  AND t.status = 'open'), '[]') AS tasks "
        "FROM arrears_cases c WHERE c.status = 'open' "
        "AND (c.assigned_to = $1 OR c.owner_staff_id = $1) "
        f"AND {security.scope_sql('c.community_id', 2, 3)} AND {security.legal_sql('c', 4)} "
        "ORDER BY CASE c.tier WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 WHEN 'green' THEN 1 "
        "ELSE 0 END DESC, c.outstanding_fen DESC, c.case_id LIMIT 500",
        staff_id,
        company,
        communities,
        security.legal_only(principal),
    )
    return [shown(principal, r) for r in rows]
