"""Notifier's event handlers (run in the consumer's inbox transaction): queue each message
exactly once per (subject, message type, stage, channel), keep the projections of
communities and parties, and hand phone calls and visits back to dunning as staff tasks."""

from __future__ import annotations

import uuid

import asyncpg

from notifier.domain.messages import (
    DEFAULT_ESSENTIAL_STAGES,
    MessageRequest,
    bill_request,
    receipt_request,
    reminder_requests,
)
from notifier.service_layer import projections
from notifier.service_layer.tasks import request_task, task_kind
from propfee.consumer import EventContext
from propfee.events import (
    ArrearsEscalated,
    CommunityUpdated,
    InvoiceIssued,
    PartyContactsUpdated,
    PaymentReceived,
)

ESSENTIAL_STAGES: frozenset[str] = DEFAULT_ESSENTIAL_STAGES  # replaced from settings at start


async def queue_requests(
    conn: asyncpg.Connection, requests: list[MessageRequest], source_event_id: str
) -> None:
    await conn.executemany(
        "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, "
        "channel, requested_channel, message_type, subject_id, stage, source_event_id, essential, "
        "params, template, requested_at, next_attempt_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) "
        "ON CONFLICT (dedup_key) DO NOTHING",
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
                m.params,
                m.template,
                m.requested_at,
            )
            for m in requests
        ],
    )


async def on_invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    await queue_requests(conn, [bill_request(event)], context.event_id)


async def on_payment_received(
    conn: asyncpg.Connection, event: PaymentReceived, context: EventContext
) -> None:
    await queue_requests(conn, [receipt_request(event)], context.event_id)


async def on_arrears_escalated(
    conn: asyncpg.Connection, event: ArrearsEscalated, context: EventContext
) -> None:
    await queue_requests(conn, reminder_requests(event, ESSENTIAL_STAGES), context.event_id)
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
