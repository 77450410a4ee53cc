"""Notifier's event handlers: queue each message exactly once per dedup key."""

from __future__ import annotations

import uuid

import asyncpg

from notifier.domain.messages import Message, bill_message, receipt_message, reminder_messages
from propfee.consumer import EventContext
from propfee.events import ArrearsEscalated, InvoiceIssued, PaymentReceived


async def queue_messages(
    conn: asyncpg.Connection, messages: list[Message], source_event_id: str
) -> None:
    await conn.executemany(
        "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, "
        "channel, message_type, subject_id, stage, body, source_event_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (dedup_key) DO NOTHING",
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
                m.body,
                uuid.UUID(source_event_id),
            )
            for m in messages
        ],
    )


async def on_invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    await queue_messages(conn, [bill_message(event)], context.event_id)


async def on_payment_received(
    conn: asyncpg.Connection, event: PaymentReceived, context: EventContext
) -> None:
    await queue_messages(conn, [receipt_message(event)], context.event_id)


async def on_arrears_escalated(
    conn: asyncpg.Connection, event: ArrearsEscalated, context: EventContext
) -> None:
    await queue_messages(conn, reminder_messages(event), context.event_id)
