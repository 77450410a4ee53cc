"""Record what happened to each message, publish the evidence, fall back on final failure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from notifier.domain.channels import CHANNELS, fallback_channel
from notifier.service_layer.queries import recipient_of
from notifier.service_layer.tasks import request_task
from propfee.events import NotificationDelivered, NotificationFailed
from propfee.outbox import add_event

UPDATE_GONE = """
UPDATE notifications SET status = $2, channel = $3, address = $4, body = $5, subject_line = $6,
       template_id = $7, template_version = $8, provider = $9, provider_message_id = $10,
       proof = $11, sent_at = $12, delivered_at = $13, document = $14,
       params = params || $15::jsonb, attempts = attempts + 1, status_reason = NULL,
       sms_segments = $16
 WHERE notification_id = $1
"""

#: The next channel's message: same subject, stage and parameters; its own dedup key (a
#: jointly liable party's keeps its ``|<party_id>`` suffix, MessageRequest.dedup_key).
FALLBACK = """
INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, channel,
       requested_channel, message_type, subject_id, stage, source_event_id, essential, params,
       template, requested_at, next_attempt_at, tried_channels, fallback_of)
SELECT $2, subject_id || '|' || message_type || '|' || coalesce(stage, '-') || '|' || $3
       || coalesce('|' || nullif(split_part(dedup_key, '|', 5), ''), ''),
       community_id, unit_id, party_id, $3, $3, message_type, subject_id, stage, source_event_id,
       essential, params - 'letter', template, requested_at, $4, $5, notification_id
  FROM notifications WHERE notification_id = $1
    ON CONFLICT (dedup_key) DO NOTHING
"""


def _event_channel(channel: str) -> Any:
    return channel if channel in CHANNELS else "sms"


async def delivered(
    conn: asyncpg.Connection,
    row: Any,
    channel: str,
    provider: str,
    proof: dict[str, str],
    at: datetime,
) -> None:
    event = NotificationDelivered(
        notification_id=row["notification_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        party_id=row["party_id"],
        channel=_event_channel(channel),
        message_type=row["message_type"],
        subject_id=row["subject_id"],
        stage=row["stage"],
        delivered_at=at,
        proof={k: str(v) for k, v in proof.items()},
        provider=provider,
        requested_channel=row["requested_channel"],
    )
    await add_event(conn, event, key=row["unit_id"], subject=row["subject_id"])


async def fail(
    conn: asyncpg.Connection,
    row: Any,
    channel: str,
    reason: str,
    at: datetime,
    *,
    default_zone: str,
    attempts: int | None = None,
) -> None:
    """Final failure on ``channel``: record it, queue the next channel if any, tell dunning;
    with no channel left, ask staff to act (fix the contact data, deliver by hand)."""
    tried = sorted({*(row["tried_channels"] or ()), channel})
    recipient = recipient_of(row, default_zone)
    nxt = (
        fallback_channel(tried, recipient.contact, recipient.prefs, essential=row["essential"])
        if recipient
        else None
    )
    await conn.execute(
        "UPDATE notifications SET status = 'failed', channel = $2, status_reason = $3, "
        "failed_at = $4, tried_channels = $5, attempts = coalesce($6, attempts) "
        "WHERE notification_id = $1",
        row["notification_id"],
        channel,
        reason,
        at,
        tried,
        attempts,
    )
    if nxt is not None:
        await conn.execute(
            FALLBACK,
            row["notification_id"],
            f"ntf-{uuid.uuid4()}",
            nxt.channel,
            at,
            tried,
        )
    event = NotificationFailed(
        notification_id=row["notification_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        party_id=row["party_id"],
        channel=_event_channel(channel),
        message_type=row["message_type"],
        subject_id=row["subject_id"],
        stage=row["stage"],
        reason=reason,
        final=nxt is None,
        failed_at=at,
        fallback_channel=_event_channel(nxt.channel) if nxt else None,
        attempts=attempts,
    )
    await add_event(conn, event, key=row["unit_id"], subject=row["subject_id"])
    if nxt is None:
        await request_task(
            conn,
            key=f"contact|{row['notification_id']}",
            kind="fix_contact",
            community_id=row["community_id"],
            unit_id=row["unit_id"],
            party_id=row["party_id"],
            subject_id=row["subject_id"],
            stage=row["stage"],
            reason=f"{row['message_type']} not delivered: {reason}",
            at=at,
            notification_id=row["notification_id"],
        )
