"""Write a batch's decisions and provider answers back, set-based where it matters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from notifier.adapters.base import Outbound, SendResult
from notifier.domain import plan, sms
from notifier.domain.schedule import retry_delay
from notifier.service_layer import outcomes, receipts
from notifier.service_layer.templates import Template
from notifier.settings import NotifierSettings


@dataclass
class Sending:
    row: Any
    decision: plan.Decision
    outbound: Outbound | None
    template: Template | None
    compose_error: str | None = None


def _gone_args(x: Sending, r: SendResult, as_of: datetime) -> tuple[Any, ...]:
    o, t = x.outbound, x.template
    assert o is not None and t is not None
    status = {"sent": "sent", "delivered": "delivered", "printing": "printing"}[r.outcome]
    return (
        o.notification_id,
        status,
        o.channel,
        o.address,
        o.body,
        o.subject,
        t.template_id,
        t.version,
        r.provider,
        r.message_id,
        r.proof,
        as_of,
        as_of if r.outcome == "delivered" else None,
        r.document,
        {"letter": o.context} if r.outcome == "printing" else {},
        sms_segments(o),
    )


def sms_segments(o: Outbound) -> int | None:
    """The segments a sent SMS is billed as (its body carries the sign), None for others."""
    return sms.segments(o.body) if o.channel == "sms" else None


async def record(
    conn: asyncpg.Connection,
    done: list[tuple[Sending, SendResult | None]],
    as_of: datetime,
    s: NotifierSettings,
    counts: dict[str, int],
    *,
    apply_receipts: bool = True,
) -> None:
    gone, deferred, awaiting, suppressed, cancelled = [], [], [], [], []
    for x, r in done:
        d = x.decision
        if isinstance(d, plan.Cancel):
            cancelled.append((x.row["notification_id"], d.reason, as_of))
        elif isinstance(d, plan.Defer):
            deferred.append((x.row["notification_id"], d.until, d.reason))
        elif isinstance(d, plan.AwaitContacts):
            awaiting.append((x.row["notification_id"], d.reason))
        elif isinstance(d, plan.Suppress):
            suppressed.append((x.row["notification_id"], d.reason))
        elif isinstance(d, plan.Fail):
            await outcomes.fail(
                conn,
                x.row,
                x.row["requested_channel"],
                d.reason,
                as_of,
                default_zone=s.default_time_zone,
            )
            counts["failed"] += 1
        elif x.compose_error is not None:
            await outcomes.fail(
                conn, x.row, d.channel, x.compose_error, as_of, default_zone=s.default_time_zone
            )
            counts["failed"] += 1
        elif r is not None and r.outcome in {"sent", "delivered", "printing"}:
            gone.append(_gone_args(x, r, as_of))
            counts[r.outcome] += 1
            counts["sms_segments"] += gone[-1][-1] or 0
            if r.outcome == "delivered":
                await outcomes.delivered(conn, x.row, d.channel, r.provider, r.proof, as_of)
        elif r is not None:
            await _failed_try(conn, x, r, as_of, s, counts)
    # Only the statements with rows: an outcome recorded on its own is one of them (an
    # empty executemany still costs a round trip).
    for sql, rows in (
        (outcomes.UPDATE_GONE, gone),
        (
            "UPDATE notifications SET next_attempt_at = $2, status_reason = $3 "
            "WHERE notification_id = $1",
            deferred,
        ),
        (
            "UPDATE notifications SET status = 'awaiting_contacts', status_reason = $2 "
            "WHERE notification_id = $1",
            awaiting,
        ),
        (
            "UPDATE notifications SET status = 'suppressed', status_reason = $2 "
            "WHERE notification_id = $1",
            suppressed,
        ),
        (
            "UPDATE notifications SET status = 'cancelled', status_reason = $2, "
            "cancelled_at = $3 WHERE notification_id = $1",
            cancelled,
        ),
    ):
        if rows:
            await conn.executemany(sql, rows)
    counts["cancelled"] += len(cancelled)
    counts["deferred"] += len(deferred)
    counts["awaiting_contacts"] += len(awaiting)
    counts["suppressed"] += len(suppressed)
    if apply_receipts and any(a[1] == "sent" for a in gone):
        await receipts.apply(conn, as_of, s)  # receipts that raced ahead of this batch


async def _failed_try(
    conn: asyncpg.Connection,
    x: Sending,
    r: SendResult,
    as_of: datetime,
    s: NotifierSettings,
    counts: dict[str, int],
) -> None:
    assert x.outbound is not None
    attempts = x.row["attempts"] + 1
    reason = f"{r.provider}: {r.error}"
    if r.outcome == "retry" and attempts < s.max_attempts:
        delay = retry_delay(
            attempts, timedelta(seconds=s.retry_initial_s), timedelta(seconds=s.retry_max_s)
        )
        await conn.execute(
            "UPDATE notifications SET attempts = $2, next_attempt_at = $3, status_reason = $4, "
            "channel = $5 WHERE notification_id = $1",
            x.row["notification_id"],
            attempts,
            as_of + delay,
            reason,
            x.outbound.channel,
        )
        counts["retried"] += 1
        return
    await outcomes.fail(
        conn,
        x.row,
        x.outbound.channel,
        reason,
        as_of,
        default_zone=s.default_time_zone,
        attempts=attempts,
    )
    counts["failed"] += 1
