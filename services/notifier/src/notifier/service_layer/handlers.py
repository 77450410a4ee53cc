"""Notifier's event handlers (run in the consumer's inbox transaction): queue each message
exactly once per (subject, message type, stage, channel), keep the projections of
communities and parties, hand phone calls and visits back to dunning as staff tasks, and
cancel queued reminders that a pause, a payment or a promise overtook."""

from __future__ import annotations

import uuid

import asyncpg

from notifier.domain.messages import (
    DEFAULT_ESSENTIAL_STAGES,
    MessageRequest,
    bill_request,
    bills_owner,
    plan_confirmation,
    promise_confirmation,
    receipt_request,
    reminder_requests,
)
from notifier.domain.stops import pause_reason
from notifier.service_layer import projections, stops
from notifier.service_layer.tasks import request_task, task_kind
from propfee import tracing
from propfee.consumer import EventContext
from propfee.events import (
    ArrearsCasePaused,
    ArrearsCaseResumed,
    ArrearsEscalated,
    CommunityUpdated,
    InstallmentPlanCreated,
    InvoiceIssued,
    PartyContactsUpdated,
    PaymentReceived,
    PromiseRecorded,
)

ESSENTIAL_STAGES: frozenset[str] = DEFAULT_ESSENTIAL_STAGES  # replaced from settings at start
CONFIRMATION_CHANNEL = "sms"  # replaced from settings at start

#: A request cancelled by a stop comes back only when a later escalation asks again (dunning
#: re-escalated after a pause); a replay or a producer's duplicate of the old one does not.
REQUEUE_CANCELLED = """
ON CONFLICT (dedup_key) DO UPDATE SET status = 'queued', params = EXCLUDED.params,
       template = EXCLUDED.template, source_event_id = EXCLUDED.source_event_id,
       essential = EXCLUDED.essential, requested_at = EXCLUDED.requested_at,
       next_attempt_at = EXCLUDED.next_attempt_at, channel = EXCLUDED.requested_channel,
       tried_channels = '{}', attempts = 0, status_reason = NULL, cancelled_at = NULL,
       body = NULL, document = NULL
 WHERE notifications.status = 'cancelled' AND EXCLUDED.requested_at > notifications.cancelled_at
"""


async def queue_requests(
    conn: asyncpg.Connection, requests: list[MessageRequest], source_event_id: str
) -> None:
    """Queue the messages; each keeps the trace of the event that asked for it (``trace`` in
    its params), which the dispatcher's send joins (``Dispatcher._send``)."""
    trace = tracing.carrier()
    await conn.executemany(
        "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, "
        "channel, requested_channel, message_type, subject_id, stage, source_event_id, essential, "
        "params, template, requested_at, next_attempt_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) "
        + REQUEUE_CANCELLED,
        [
            (
                f"ntf-{uuid.uuid4()}",
                m.dedup_key,
                m.community_id,
                m.unit_id,
                m.party_id,
                m.channel,
                m.message_type,
                m.subject_id,
                m.stage,
                uuid.UUID(source_event_id),
                m.essential,
                {**m.params, "trace": trace} if trace else m.params,
                m.template,
                m.requested_at,
            )
            for m in requests
        ],
    )


async def on_invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    await projections.record_invoice_period(conn, event)
    if bills_owner(event):
        await queue_requests(conn, [bill_request(event)], context.event_id)


async def on_payment_received(
    conn: asyncpg.Connection, event: PaymentReceived, context: EventContext
) -> None:
    """A receipt; the unit's reminders are not sent (dunning holds the case and escalates
    again if anything is still owed): every one queued now, since it was decided before the
    payment was known here, and any requested before the payment that arrives later (a
    reminder from another topic). Reminders requested after ``paid_at`` come from sweeps that
    already knew of the payment: they go."""
    reason = f"{stops.PAID} (payment {event.payment_id})"
    room = await _room_of(conn, event.unit_id)
    await queue_requests(conn, [receipt_request(event, room=room)], context.event_id)
    await stops.cancel_queued(conn, event.unit_id, reason, event.received_at)
    await stops.add_stop(
        conn,
        stop_id=event.payment_id,
        kind="payment",
        unit_id=event.unit_id,
        case_id=None,
        invoice_id=None,
        stops_before=event.paid_at,
        reason=reason,
        at=event.received_at,
    )
    await stops.review_cancelled_demands(conn, event.unit_id, event.received_at)


async def on_arrears_escalated(
    conn: asyncpg.Connection, event: ArrearsEscalated, context: EventContext
) -> None:
    await queue_requests(conn, reminder_requests(event, ESSENTIAL_STAGES), context.event_id)
    if await stops.cancel_stopped(conn, event.unit_id):  # a pause or payment that came first
        await stops.review_cancelled_demands(conn, event.unit_id, event.escalated_at)
    for action in event.actions:
        if action.kind != "task":
            continue
        await request_task(
            conn,
            key=f"{event.case_id}|{event.stage}|{action.channel}",
            kind=task_kind(action.channel),
            community_id=event.community_id,
            unit_id=event.unit_id,
            party_id=event.payer_party_id,
            subject_id=event.case_id,
            stage=event.stage,
            reason=f"escalation to {event.stage} asks for {action.channel}",
            at=event.escalated_at,
        )


async def on_community_updated(
    conn: asyncpg.Connection, event: CommunityUpdated, context: EventContext
) -> None:
    await projections.upsert_community(conn, event)


async def on_party_contacts_updated(
    conn: asyncpg.Connection, event: PartyContactsUpdated, context: EventContext
) -> None:
    await projections.upsert_party(conn, event)


async def on_arrears_case_paused(
    conn: asyncpg.Connection, event: ArrearsCasePaused, context: EventContext
) -> None:
    """Cancel every not-yet-sent reminder and letter of the case (or of the disputed invoice)."""
    invoice_id = event.invoice_id if event.scope == "invoice" else None
    await stops.add_stop(
        conn,
        stop_id=event.pause_id,
        kind="pause",
        unit_id=event.unit_id,
        case_id=event.case_id,
        invoice_id=invoice_id,
        stops_before=event.ends_at,
        reason=pause_reason(event.reason, invoice_id),
        at=event.starts_at,
    )


async def on_arrears_case_resumed(
    conn: asyncpg.Connection, event: ArrearsCaseResumed, context: EventContext
) -> None:
    await stops.resume(
        conn,
        pause_id=event.pause_id,
        unit_id=event.unit_id,
        case_id=event.case_id,
        at=event.resumed_at,
    )


async def _room_of(conn: asyncpg.Connection, unit_id: str) -> str | None:
    """The room label of the unit as billing gave it (its invoices), else as an earlier bill
    or reminder did."""
    room: str | None = await conn.fetchval(
        "SELECT coalesce((SELECT room_label FROM invoice_periods WHERE unit_id = $1 "
        "AND room_label IS NOT NULL ORDER BY period_end DESC LIMIT 1), "
        "(SELECT params ->> 'room' FROM notifications WHERE unit_id = $1 AND params ? 'room' "
        "ORDER BY created_at DESC LIMIT 1))",
        unit_id,
    )
    return room


async def on_promise_recorded(
    conn: asyncpg.Connection, event: PromiseRecorded, context: EventContext
) -> None:
    """Confirm the promise; reminders of the case queued before it wait no longer (dunning
    defers the case until the promised date and follows up if it passes unpaid)."""
    room = None if event.room_label else await _room_of(conn, event.unit_id)
    request = promise_confirmation(event, CONFIRMATION_CHANNEL, room)
    await queue_requests(conn, [request], context.event_id)
    await stops.add_stop(
        conn,
        stop_id=event.promise_id,
        kind="promise",
        unit_id=event.unit_id,
        case_id=event.case_id,
        invoice_id=None,
        stops_before=event.recorded_at,
        reason=f"cancelled: the payer promised to pay by {event.promised_date.isoformat()}",
        at=event.recorded_at,
    )


async def on_installment_plan_created(
    conn: asyncpg.Connection, event: InstallmentPlanCreated, context: EventContext
) -> None:
    """Confirm the plan (dunning pauses the case for it, which cancels queued reminders)."""
    room = await _room_of(conn, event.unit_id)
    await queue_requests(
        conn, [plan_confirmation(event, CONFIRMATION_CHANNEL, room)], context.event_id
    )
