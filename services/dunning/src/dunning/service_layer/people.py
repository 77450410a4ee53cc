"""What staff record and decide: outcomes of calls and visits, promises, notes, assignment,
letters with tracking numbers, and moving a case by hand (guardrails still apply)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg

from dunning.domain.guardrails import Refusal
from dunning.service_layer.limitation import add_restarts, local_date, open_invoices_of_case
from dunning.service_layer.pauses import pause_case
from propfee.events import PromiseRecorded
from propfee.outbox import add_event

#: Reasons that mean "fix the problem first": the case pauses while a complaint is open.
COMPLAINT_REASONS = {
    "unhappy_with_service": "service_complaint",
    "property_quality": "property_quality",
}


class Refused(Exception):
    """``refusal``: the first reason; ``unmet``: every one (default: that one)."""

    def __init__(self, refusal: Refusal, unmet: Sequence[Refusal] = ()) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.unmet = list(unmet) or [refusal]


async def case_row(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM arrears_cases WHERE case_id = $1", case_id)
    if row is None:
        raise LookupError(f"case {case_id} not found")
    return row


async def record_outcome(
    conn: asyncpg.Connection,
    case_id: str,
    *,
    kind: str,
    reason_code: str,
    staff_id: str,
    at: datetime,
    note: str | None = None,
    task_id: str | None = None,
) -> str:
    await case_row(conn, case_id)
    outcome_id = f"outcome-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO contact_outcomes (outcome_id, case_id, task_id, kind, reason_code, note, "
        "staff_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        outcome_id, case_id, task_id, kind, reason_code, note, staff_id, at,
    )  # fmt: skip
    if task_id:
        await conn.execute(
            "UPDATE tasks SET status = 'done', completed_at = $2 WHERE task_id = $1", task_id, at
        )
    pause_reason = COMPLAINT_REASONS.get(reason_code)
    if pause_reason:
        active = await conn.fetchval(
            "SELECT 1 FROM pauses WHERE case_id = $1 AND scope = 'case' AND resolved_at IS NULL "
            "AND reason = $2 AND ends_at > $3",
            case_id, pause_reason, at,
        )  # fmt: skip
        if not active:
            await pause_case(
                conn, case_id=case_id, reason=pause_reason, owner=staff_id, starts_at=at,
                ends_at=at + timedelta(days=30), note=f"opened by outcome {outcome_id}",
            )  # fmt: skip
    return outcome_id


async def record_promise(
    conn: asyncpg.Connection,
    case_id: str,
    *,
    amount_fen: int,
    promised_date: date,
    signed: bool,
    staff_id: str,
    at: datetime,
) -> str:
    """A promise defers reminders until its date; a signed one acknowledges the debt and so
    restarts the limitation clock of every open invoice of the case. PromiseRecorded goes out
    through the outbox in the same transaction (notifier confirms the promise to the payer)."""
    case = await case_row(conn, case_id)
    promise_id = f"promise-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO promises (promise_id, case_id, amount_fen, promised_date, signed, staff_id, "
        "made_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        promise_id, case_id, amount_fen, promised_date, signed, staff_id, at,
    )  # fmt: skip
    event = PromiseRecorded(
        promise_id=promise_id, case_id=case_id, community_id=case["community_id"],
        unit_id=case["unit_id"], payer_party_id=case["payer_party_id"], amount_fen=amount_fen,
        promised_date=promised_date, signed=signed, recorded_at=at,
        room_label=case["room_label"],
    )  # fmt: skip
    await add_event(conn, event, key=case["unit_id"], subject=case_id, time=at)
    if signed:
        on = local_date(at)
        invoices = await open_invoices_of_case(conn, case_id, on + timedelta(days=1))
        await add_restarts(conn, [(i, "acknowledgement", on, promise_id) for i in invoices], at=at)
    return promise_id


async def assign(
    conn: asyncpg.Connection, case_id: str, *, staff_id: str, role: str, owner: bool
) -> None:
    """Assign a housekeeper or collector; ``owner`` names the person for a red case."""
    await case_row(conn, case_id)
    await conn.execute(
        "UPDATE arrears_cases SET assigned_to = $2, assigned_role = $3, "
        "owner_staff_id = CASE WHEN $4 THEN $2 ELSE owner_staff_id END WHERE case_id = $1",
        case_id, staff_id, role, owner,
    )  # fmt: skip
    await conn.execute(
        "UPDATE tasks SET assignee = $2 WHERE case_id = $1 AND status = 'open' "
        "AND (assignee IS NULL OR kind = 'assign_owner')",
        case_id, staff_id,
    )  # fmt: skip
    if owner:
        await conn.execute(
            "UPDATE tasks SET status = 'done', completed_at = now() WHERE case_id = $1 "
            "AND kind = 'assign_owner' AND status = 'open'",
            case_id,
        )


async def record_letter(
    conn: asyncpg.Connection,
    case_id: str,
    *,
    stage: str,
    carrier: str,
    tracking_no: str,
    sent_at: datetime,
    staff_id: str,
) -> str:
    """A letter sent by EMS or by hand: posted (its tracking number), not delivered. It proves
    nothing until its delivery is recorded (:func:`record_letter_delivery`)."""
    await case_row(conn, case_id)
    letter_id = f"letter-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO letters (letter_id, case_id, stage, carrier, tracking_no, sent_at, "
        "staff_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        letter_id, case_id, stage, carrier, tracking_no, sent_at, staff_id,
    )  # fmt: skip
    return letter_id


async def record_letter_delivery(
    conn: asyncpg.Connection,
    case_id: str,
    letter_id: str,
    *,
    delivered_at: datetime,
    carrier_status: str | None,
    receipt_reference: str | None,
    signed_by: str | None,
    staff_id: str,
) -> bool:
    """A posted letter delivered, with proof: the carrier's delivery status (EMS 妥投/signed)
    or a signed receipt (its scan or reference). Then, and only then, it is delivery evidence
    of the demand and restarts the limitation clock of the case's open invoices. False when
    it was delivered already (nothing changes); LookupError for no such letter; ValueError
    without proof or when delivered before it was posted."""
    if not (carrier_status or receipt_reference):
        raise ValueError("a delivery needs the carrier's status or a signed receipt's reference")
    case = await case_row(conn, case_id)
    letter = await conn.fetchrow(
        "SELECT * FROM letters WHERE letter_id = $1 AND case_id = $2 FOR UPDATE", letter_id, case_id
    )
    if letter is None:
        raise LookupError(f"letter {letter_id} not found")
    if letter["delivered_at"] is not None:
        return False
    if delivered_at < letter["sent_at"]:
        raise ValueError("delivered_at: a letter is delivered after it is posted")
    await conn.execute(
        "UPDATE letters SET delivered_at = $2, carrier_status = $3, receipt_reference = $4, "
        "signed_by = $5, delivery_recorded_by = $6, delivery_recorded_at = now() "
        "WHERE letter_id = $1",
        letter_id, delivered_at, carrier_status, receipt_reference, signed_by, staff_id,
    )  # fmt: skip
    proof = {
        "carrier": letter["carrier"], "tracking_no": letter["tracking_no"],
        "carrier_status": carrier_status, "receipt_reference": receipt_reference,
        "signed_by": signed_by, "recorded_by": staff_id,
    }  # fmt: skip
    await conn.execute(
        "INSERT INTO contact_evidence (notification_id, outcome, unit_id, party_id, channel, "
        "message_type, subject_id, stage, at, detail) VALUES ($1, 'delivered', $2, $3, "
        "'letter', 'letter', $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        letter_id, case["unit_id"], case["payer_party_id"], case_id, letter["stage"],
        delivered_at, {k: v for k, v in proof.items() if v is not None},
    )  # fmt: skip
    on = local_date(delivered_at)
    invoices = await open_invoices_of_case(conn, case_id, on)
    await add_restarts(
        conn, [(i, "delivered_demand", on, letter_id) for i in invoices], at=delivered_at
    )
    return True
