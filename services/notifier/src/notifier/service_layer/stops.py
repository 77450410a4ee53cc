"""Reminders that must no longer go: dunning paused the case (or a disputed invoice of it),
the household paid, or promised to pay. Each is stored as a stop (so a reminder that arrives
later, or a fallback queued meanwhile, is cancelled too: the dispatcher checks the stops of
every claimed row), and every not-yet-sent reminder it covers is cancelled with the reason.
A resumed pause stops nothing new and brings nothing back: dunning escalates again."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from notifier.service_layer.tasks import request_task

#: The reason a payment's cancellation carries (handlers.on_payment_received).
PAID = "cancelled: the household paid"
#: The staff task when a payment cancelled a demand before it went (issue 18 rule 10).
REVIEW_DEMAND = "review_legal_demand"

#: Demands (reminders stating a deadline: the legal demand and any stage with a deadline) of
#: the unit that a payment cancelled before they were sent or printed.
CANCELLED_DEMANDS = """
SELECT n.notification_id, n.community_id, n.unit_id, n.party_id, n.subject_id, n.stage,
       n.channel, n.status_reason, n.params ->> 'deadline' AS deadline, n.cancelled_at
  FROM notifications n
 WHERE n.unit_id = $1 AND n.status = 'cancelled' AND n.message_type = 'reminder'
   AND n.params ->> 'deadline' IS NOT NULL AND n.status_reason LIKE $2 || '%'
 ORDER BY n.notification_id
"""

#: Not yet sent: queued, waiting for contacts, or a letter rendered but not batched for print.
CANCEL = """
UPDATE notifications n
   SET status = 'cancelled', status_reason = s.reason, cancelled_at = s.at
  FROM reminder_stops s
 WHERE n.unit_id = $1 AND s.unit_id = $1 AND n.message_type = 'reminder'
   AND (n.status IN ('queued', 'awaiting_contacts')
        OR (n.status = 'printing' AND n.batch_id IS NULL))
   AND (s.case_id IS NULL OR s.case_id = n.subject_id)
   AND (s.invoice_id IS NULL OR coalesce(n.params -> 'invoice_ids', '[]') ? s.invoice_id)
   AND n.requested_at < s.stops_before
RETURNING n.notification_id
"""

CANCEL_ALL = """
UPDATE notifications n SET status = 'cancelled', status_reason = $2, cancelled_at = $3
 WHERE n.unit_id = $1 AND n.message_type = 'reminder'
   AND (n.status IN ('queued', 'awaiting_contacts')
        OR (n.status = 'printing' AND n.batch_id IS NULL))
RETURNING n.notification_id
"""


async def cancel_stopped(conn: asyncpg.Connection, unit_id: str) -> int:
    """Cancel this unit's reminders that a stop covers; the number cancelled."""
    return len(await conn.fetch(CANCEL, unit_id))


async def cancel_queued(conn: asyncpg.Connection, unit_id: str, reason: str, at: datetime) -> int:
    """Cancel every not-yet-sent reminder of the unit, whenever it was requested."""
    return len(await conn.fetch(CANCEL_ALL, unit_id, reason, at))


async def add_stop(
    conn: asyncpg.Connection,
    *,
    stop_id: str,
    kind: str,
    unit_id: str,
    case_id: str | None,
    invoice_id: str | None,
    stops_before: datetime,
    reason: str,
    at: datetime,
) -> int:
    """Record the stop (a replay changes nothing; a pause whose resume came first keeps the
    resume's earlier end) and cancel what it covers."""
    await conn.execute(
        "INSERT INTO reminder_stops (stop_id, kind, unit_id, case_id, invoice_id, stops_before, "
        "reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (stop_id) DO UPDATE SET invoice_id = EXCLUDED.invoice_id, "
        "reason = EXCLUDED.reason, at = EXCLUDED.at, "
        "stops_before = least(EXCLUDED.stops_before, reminder_stops.resumed_at)",
        stop_id,
        kind,
        unit_id,
        case_id,
        invoice_id,
        stops_before,
        reason,
        at,
    )
    return await cancel_stopped(conn, unit_id)


async def resume(
    conn: asyncpg.Connection, *, pause_id: str, unit_id: str, case_id: str, at: datetime
) -> None:
    """The pause ended at ``at``: reminders requested from then on may go. Cancelled ones stay
    cancelled. A resume that arrives before its pause (another topic) is kept until it does."""
    await conn.execute(
        "INSERT INTO reminder_stops (stop_id, kind, unit_id, case_id, stops_before, reason, at, "
        "resumed_at) VALUES ($1, 'pause', $2, $3, $4, 'cancelled: dunning paused the case', "
        "$4, $4) ON CONFLICT (stop_id) DO UPDATE SET resumed_at = EXCLUDED.resumed_at, "
        "stops_before = least(reminder_stops.stops_before, EXCLUDED.resumed_at)",
        pause_id,
        unit_id,
        case_id,
        at,
    )


async def review_cancelled_demands(conn: asyncpg.Connection, unit_id: str, at: datetime) -> int:
    """A payment does not silently kill a demand: for each demand of the unit a payment
    cancelled before it was sent or printed, staff get a task (StaffTaskRequested, kind
    ``review_legal_demand``, the reason naming the payment) to decide whether to issue it
    again; dunning records the reason on the case. Once per case, stage and payment."""
    asked = 0
    for n in await conn.fetch(CANCELLED_DEMANDS, unit_id, PAID):
        reason = (
            f"the {n['stage']} demand ({n['channel']}, deadline {n['deadline']}) was not "
            f"issued: {n['status_reason']}; decide whether to issue it again"
        )
        asked += await request_task(
            conn,
            key=f"{REVIEW_DEMAND}|{n['subject_id']}|{n['stage']}|{n['status_reason']}",
            kind=REVIEW_DEMAND,
            community_id=n["community_id"],
            unit_id=n["unit_id"],
            party_id=n["party_id"],
            subject_id=n["subject_id"],
            stage=n["stage"],
            reason=reason,
            at=n["cancelled_at"] or at,
            notification_id=n["notification_id"],
        )
    return asked
