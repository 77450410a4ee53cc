"""Staff's work on a case, as use cases: outcomes, promises, notes, pauses and their
resolution, assignment, letters and their delivery, moving a case by hand, tasks done.

Each use case runs in one transaction (``in_transaction``): it resolves the case (or pause,
task) through the caller's scope (``scope``: 404 outside it), turns the business times staff
send into instants (``business_instant``: back-dated within the company's window, never
forward-dated; the service role, the simulation clock, as of any instant), does the work and
writes the audit row in the same transaction. Refusals are ``errors.CaseRefused`` (409 with
the reason); what does not exist is 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from dunning.errors import CaseRefused, InvalidInput, NotFound
from dunning.service_layer import legal, pauses, people, scope
from propfee import audit, business_time
from propfee.auth import Principal

T = TypeVar("T")


def business_instant(
    principal: Principal, case: Any, requested: datetime | None, field: str
) -> datetime:
    """When staff say something happened (``requested``, default now): never later than now,
    never earlier than the company's back-dating window (403 otherwise); the service role
    (the simulation clock) as of any instant. ``case``: a row from ``scope.case`` or
    ``scope.pause`` (it carries the community's ``backdate_days``)."""
    now = business_time.utc_now()
    at = business_time.business_instant(
        principal, requested, now, field=field, backdate_days=case["backdate_days"]
    )
    # Within the library's clock-skew allowance staff get now: never a later instant.
    return at if business_time.acts_on_own_clock(principal) else min(at, now)


async def in_transaction(pool: Any, call: Callable[[Any], Awaitable[T]]) -> T:
    """``call(conn)`` in one transaction; a missing record is 404, a refusal 409."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await call(conn)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    except people.Refused as exc:
        unmet = [(r.code, r.reason) for r in exc.unmet]
        raise CaseRefused(exc.refusal.code, exc.refusal.reason, unmet) from exc


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
    """The audit row of a manual change of ``case`` (a row from ``scope.case``)."""
    await audit.record(
        conn, principal, action, subject_type, subject_id,
        community_id=case["community_id"], unit_id=case["unit_id"],
        company_id=case["company_id"], before=before, after=after, reason=reason,
    )  # fmt: skip


async def _task_of_case(conn: Any, principal: Principal, task_id: str, case_id: str) -> None:
    """A task named with an outcome must be visible and, when it has a case, the case's."""
    task = await scope.task(conn, principal, task_id)
    if task["case_id"] not in (None, case_id):
        raise NotFound(f"task {task_id} not found")


async def record_outcome(
    pool: Any, principal: Principal, case_id: str, request: dict[str, Any]
) -> str:
    """A call or visit (``request``: the body as JSON) and what the household said; a
    complaint reason pauses the case for 30 days. Audited. The outcome's id."""
    staff_id = request.get("staff_id") or principal.subject

    async def call(conn: Any) -> str:
        case = await scope.case(conn, principal, case_id)
        at = business_instant(principal, case, _instant(request.get("at")), "at")
        if request.get("task_id") is not None:
            await _task_of_case(conn, principal, request["task_id"], case_id)
        outcome_id = await people.record_outcome(
            conn, case_id, kind=request["kind"], reason_code=request["reason_code"],
            staff_id=staff_id, at=at, note=request.get("note"), task_id=request.get("task_id"),
        )  # fmt: skip
        after = {"case_id": case_id, **request, "at": at, "staff_id": staff_id}
        await record_case_change(
            conn, principal, case, "outcome.recorded", "outcome", outcome_id, after=after,
            reason=request["reason_code"],
        )  # fmt: skip
        return outcome_id

    return await in_transaction(pool, call)


async def record_promise(
    pool: Any, principal: Principal, case_id: str, request: dict[str, Any]
) -> str:
    """A promise to pay by a date (a signed one restarts the limitation clocks). Audited."""
    staff_id = request.get("staff_id") or principal.subject

    async def call(conn: Any) -> str:
        case = await scope.case(conn, principal, case_id)
        at = business_instant(principal, case, _instant(request.get("at")), "at")
        promise_id = await people.record_promise(
            conn, case_id, amount_fen=request["amount_fen"],
            promised_date=date.fromisoformat(request["promised_date"]),
            signed=request["signed"], staff_id=staff_id, at=at,
        )  # fmt: skip
        after = {"case_id": case_id, **request, "at": at, "staff_id": staff_id}
        await record_case_change(
            conn, principal, case, "promise.recorded", "promise", promise_id, after=after
        )
        return promise_id

    return await in_transaction(pool, call)


async def add_note(
    pool: Any, principal: Principal, case_id: str, *, body: str, staff_id: str | None,
    at: datetime | None,
) -> int:  # fmt: skip
    async def call(conn: Any) -> int:
        case = await scope.case(conn, principal, case_id)
        when = business_instant(principal, case, at, "at")
        note_id: int = await conn.fetchval(
            "INSERT INTO case_notes (case_id, staff_id, body, at) VALUES ($1, $2, $3, $4) "
            "RETURNING note_id",
            case_id, staff_id or principal.subject, body, when,
        )  # fmt: skip
        return note_id

    return await in_transaction(pool, call)


async def pause_case(
    pool: Any, principal: Principal, case_id: str, request: dict[str, Any]
) -> str | None:
    """Pause the case, or one disputed invoice of it (``starts_at``: a business time, default
    now). Audited. The pause's id, None when nothing was paused."""

    async def call(conn: Any) -> str | None:
        case = await scope.case(conn, principal, case_id)
        starts = business_instant(principal, case, _instant(request.get("starts_at")), "starts_at")
        ends = _instant(request["ends_at"])
        assert ends is not None
        if ends <= starts:
            raise InvalidInput("ends_at: a pause ends after it starts")
        pause_id = await pauses.pause_case(
            conn, case_id=case_id, reason=request["reason"], owner=request["owner"],
            starts_at=starts, ends_at=ends, invoice_id=request.get("invoice_id"),
            note=request.get("note"),
        )  # fmt: skip
        if pause_id is not None:
            after = {"case_id": case_id, **request, "starts_at": starts}
            await record_case_change(
                conn, principal, case, "case.paused", "pause", pause_id, after=after,
                reason=request.get("note") or request["reason"],
            )  # fmt: skip
        return pause_id

    return await in_transaction(pool, call)


async def resolve_pause(
    pool: Any, principal: Principal, pause_id: str, *, resolution: str, at: datetime | None
) -> bool:
    """End a pause early with how it was resolved. Audited. False when it was resolved
    already (by someone else, or by a missed installment)."""

    async def call(conn: Any) -> bool:
        before = await scope.pause(conn, principal, pause_id)
        when = business_instant(principal, before, at, "at")
        if before["resolved_at"] is not None or not await pauses.resume(
            conn, pause_id, resolution, when
        ):
            return False
        await record_case_change(
            conn, principal, before, "pause.resolved", "pause", pause_id,
            before={"case_id": before["case_id"], "reason": before["reason"],
                    "ends_at": before["ends_at"], "resolved_at": None},
            after={"resolution": resolution, "resolved_at": when},
            reason=resolution,
        )  # fmt: skip
        return True

    return await in_transaction(pool, call)


async def assign_case(
    pool: Any, principal: Principal, case_id: str, *, staff_id: str, role: str, owner: bool
) -> None:
    """Assign a housekeeper, collector or legal staff member (``owner``: the red case's
    owner). Audited."""

    async def call(conn: Any) -> None:
        await assign_case_on(conn, principal, case_id, staff_id=staff_id, role=role, owner=owner)

    await in_transaction(pool, call)


async def assign_case_on(
    conn: Any, principal: Principal, case_id: str, *, staff_id: str, role: str, owner: bool
) -> bool:
    """``assign_case`` in the caller's transaction (the bulk job's chunk runs it per case).
    True when the assignment changed; the same assignment again changes nothing and is not
    audited again (a bulk job's chunk done twice)."""
    case = await scope.case(conn, principal, case_id)
    await people.assign(conn, case_id, staff_id=staff_id, role=role, owner=owner)
    before = {k: case[k] for k in ("assigned_to", "assigned_role", "owner_staff_id")}
    after = {
        "assigned_to": staff_id,
        "assigned_role": role,
        "owner_staff_id": staff_id if owner else case["owner_staff_id"],
    }
    if before == after:
        return False
    await record_case_change(
        conn, principal, case, "case.assigned", "case", case_id, before=before, after=after
    )
    return True


async def record_letter(
    pool: Any, principal: Principal, case_id: str, request: dict[str, Any]
) -> tuple[str, str]:
    """A letter sent by EMS or by hand: posted; delivered at once with ``delivered_at`` and
    proof (carrier status or receipt reference). Audited. (letter id, status)."""
    staff_id = request.get("staff_id") or principal.subject

    async def call(conn: Any) -> tuple[str, str]:
        case = await scope.case(conn, principal, case_id)
        sent_at = business_instant(principal, case, _instant(request.get("sent_at")), "sent_at")
        delivered_at = None
        if request.get("delivered_at") is not None:
            delivered_at = business_instant(
                principal, case, _instant(request["delivered_at"]), "delivered_at"
            )
            if delivered_at < sent_at:
                raise InvalidInput("delivered_at: a letter is delivered after it is sent")
        letter_id = await people.record_letter(
            conn, case_id, stage=request["stage"], carrier=request["carrier"],
            tracking_no=request["tracking_no"], sent_at=sent_at, staff_id=staff_id,
        )  # fmt: skip
        status = "posted"
        proof = request.get("carrier_status") or request.get("receipt_reference")
        if delivered_at is not None and proof:
            await people.record_letter_delivery(
                conn, case_id, letter_id, delivered_at=delivered_at,
                carrier_status=request.get("carrier_status"),
                receipt_reference=request.get("receipt_reference"),
                signed_by=request.get("signed_by"), staff_id=staff_id,
            )  # fmt: skip
            status = "delivered"
        after = {
            "case_id": case_id, **request, "sent_at": sent_at, "staff_id": staff_id,
            "status": status,
        }  # fmt: skip
        await record_case_change(
            conn, principal, case, "letter.recorded", "letter", letter_id, after=after
        )
        return letter_id, status

    return await in_transaction(pool, call)


async def record_letter_delivery(
    pool: Any, principal: Principal, case_id: str, letter_id: str, request: dict[str, Any]
) -> None:
    """A posted letter's delivery with proof (422 without); idempotent. Audited."""
    if not (request.get("carrier_status") or request.get("receipt_reference")):
        raise InvalidInput(
            "a delivery needs carrier_status (the carrier's delivery status) or "
            "receipt_reference (the signed receipt's scan or reference)"
        )
    staff_id = request.get("staff_id") or principal.subject

    async def call(conn: Any) -> None:
        case = await scope.case(conn, principal, case_id)
        delivered_at = business_instant(
            principal, case, _instant(request.get("delivered_at")), "delivered_at"
        )
        try:
            changed = await people.record_letter_delivery(
                conn, case_id, letter_id, delivered_at=delivered_at,
                carrier_status=request.get("carrier_status"),
                receipt_reference=request.get("receipt_reference"),
                signed_by=request.get("signed_by"), staff_id=staff_id,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        if changed:
            await record_case_change(
                conn, principal, case, "letter.delivered", "letter", letter_id,
                after={**request, "delivered_at": delivered_at, "staff_id": staff_id},
            )  # fmt: skip

    await in_transaction(pool, call)


async def advance_case(
    pool: Any, principal: Principal, case_id: str, *, stage: str, staff_id: str | None,
    reason: str | None, at: datetime | None,
) -> None:  # fmt: skip
    """Move a case into a later stage by hand. The legal precondition is judged now: the
    server's clock for staff (a back-dated ``at`` dates the record only), the simulation
    clock's instant for the service role. Audited (a stage override)."""
    staff_id = staff_id or principal.subject

    async def call(conn: Any) -> None:
        case = await scope.case(conn, principal, case_id)
        when = business_instant(principal, case, at, "at")
        judged_at = when if business_time.acts_on_own_clock(principal) else business_time.utc_now()
        when = await legal.advance(
            conn, case_id, stage=stage, staff_id=staff_id, at=when, judged_at=judged_at
        )
        await record_case_change(
            conn, principal, case, "case.stage_overridden", "case", case_id,
            before={"stage": case["stage"], "stage_entered_at": case["stage_entered_at"]},
            after={"stage": stage, "stage_entered_at": when, "staff_id": staff_id},
            reason=reason,
        )  # fmt: skip

    await in_transaction(pool, call)


async def complete_task(pool: Any, principal: Principal, task_id: str) -> None:
    """Mark a task done; idempotent for a done task, 404 for a cancelled one (its case
    closed)."""
    task = await scope.task(pool, principal, task_id)
    if task["status"] == "done":
        return
    done = await pool.fetchval(
        "UPDATE tasks SET status = 'done', completed_at = $2 WHERE task_id = $1 "
        "AND status = 'open' RETURNING task_id",
        task_id,
        datetime.now(UTC),
    )
    if done is None:
        raise NotFound(f"no open task {task_id}")


def _instant(value: Any) -> datetime | None:
    """A body's instant, as sent (JSON text) or already parsed."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
