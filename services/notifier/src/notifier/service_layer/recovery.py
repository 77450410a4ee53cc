"""What becomes of a claim whose lease ran out (issue 21).

A message is claimed ('sending') in a short transaction, sent outside any transaction and its
outcome recorded in a transaction of its own. A dispatcher that dies (kill -9, a lost node, a
database it cannot reach) between the provider's answer and that recording leaves the message
'sending' with a lease that runs out: the provider may or may not have it. Sending it again
blindly could remind an owner twice for one occasion, so what happens depends on what the
provider offers (``recovery_of``):

``resend``
    The provider deduplicates on our id, or nothing left the building: the owner app's push
    gateway keeps ``Idempotency-Key`` (the notification id; a repeat answers the first
    ``push_id`` and pushes nothing), letters and door notices are rendered here for print.
    The message is queued again and goes through the normal dispatch.
``lookup``
    The provider can be asked what it accepted: Alibaba Cloud SMS ``QuerySendDetails`` by
    phone number and day lists each message with the ``OutId`` we sent (the notification
    id). Found: recorded as sent with what the provider says (``proof.found_by``); not found:
    the provider never accepted it, it is queued again (same OutId); the provider cannot be
    asked: unknown, as below.
``review`` (Tencent Cloud SMS, WeChat, SMTP: no idempotency key, no query by our id)
    The message becomes ``unknown`` and is never sent again by the dispatcher: it counts as
    sent for the occasion (no other channel, no duplicate for the stage, the reminder cap)
    and staff get a ``review_delivery`` task (``StaffTaskRequested``, dunning's task list;
    ``GET /notifications?status=unknown``) with the exact text that may have gone out.

At most once per occasion, then, and never lost silently: a message is sent, failed,
retried, or unknown in front of staff.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg

from notifier.adapters.registry import Channels
from notifier.service_layer.tasks import request_task

Recovery = Literal["resend", "lookup", "review"]

REQUEUE = """
UPDATE notifications SET status = 'queued', claimed_by = NULL, lease_until = NULL,
       sms_segments = NULL, status_reason = $2
 WHERE notification_id = $1
"""

RELEASE_TO = """
UPDATE notifications SET claimed_by = $2, claimed_at = now(),
       lease_until = now() + make_interval(secs => $3)
 WHERE notification_id = $1
"""

UNKNOWN = """
UPDATE notifications SET status = 'unknown', status_reason = $2, claimed_by = NULL,
       lease_until = NULL
 WHERE notification_id = $1
"""

#: A message recorded from the provider's own account of it (found by ``lookup``).
FOUND = """
UPDATE notifications SET status = 'sent', provider = $2, provider_message_id = $3,
       proof = $4, sent_at = decided_at, attempts = attempts + 1, status_reason = NULL,
       sms_segments = $5
 WHERE notification_id = $1
"""


def recovery_of(adapter: Any) -> Recovery:
    if getattr(adapter, "idempotent", False):
        return "resend"
    if callable(getattr(adapter, "lookup", None)):
        return "lookup"
    return "review"


async def take_expired(
    conn: asyncpg.Connection,
    rows: list[Any],
    channels: Channels,
    owner: str,
    lease_s: float,
    at: datetime,
    counts: dict[str, int],
) -> list[Any]:
    """Decide each expired claim (locked by the caller's transaction); the ones to look up at
    their provider come back, claimed anew by ``owner``, to be asked outside the transaction."""
    lookups: list[Any] = []
    for row in rows:
        route = channels.route(row["channel"])
        how = recovery_of(route.adapter) if route is not None else "review"
        if how == "resend":
            await conn.execute(
                REQUEUE,
                row["notification_id"],
                "lease expired before the outcome was recorded; sent again under the same "
                "idempotency key",
            )
            counts["requeued"] += 1
        elif how == "lookup":
            await conn.execute(RELEASE_TO, row["notification_id"], owner, lease_s)
            lookups.append(row)
        else:
            await mark_unknown(
                conn,
                row,
                f"lease expired before {row['provider'] or row['channel']} answered or the "
                "answer was recorded: it may have been sent",
                at,
            )
            counts["unknown"] += 1
    return lookups


async def mark_unknown(conn: asyncpg.Connection, row: Any, reason: str, at: datetime) -> None:
    """Never sent again by the dispatcher; staff review it (the text is on the message)."""
    await conn.execute(UNKNOWN, row["notification_id"], reason)
    await request_task(
        conn,
        key=f"review|{row['notification_id']}",
        kind="review_delivery",
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        party_id=row["party_id"],
        subject_id=row["subject_id"],
        stage=row["stage"],
        reason=f"{row['message_type']} on {row['channel']}: {reason}",
        at=at,
        notification_id=row["notification_id"],
    )
