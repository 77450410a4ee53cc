"""What dunning learns from notifier: delivery proof (evidence, and a restart of the
limitation clock for a delivered individual reminder) and staff tasks it asks for."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dunning.service_layer.limitation import (
    add_restarts,
    liable_invoices,
    local_date,
    open_invoices_of_case,
)
from propfee.consumer import EventContext
from propfee.events import NotificationDelivered, NotificationFailed, StaffTaskRequested

#: Messages that reach the person individually and demand payment (a door notice does not
#: reach the person; a bill is not a demand).
DEMAND_MESSAGE_TYPES = frozenset({"reminder", "letter", "demand"})
INDIVIDUAL_CHANNELS = frozenset({"sms", "wechat", "app_push", "email", "letter"})
#: notifier's task when a payment cancelled a demand not yet sent or printed: staff decide
#: whether to issue it again (issue 18 rule 10).
REVIEW_DEMAND = "review_legal_demand"


#: Proof that a letter (or door notice) reached the person: the carrier's delivery status or
#: a signed receipt. A tracking number alone means posted (issue 18 rule 3).
LETTER_PROOF = ("carrier_status", "receipt_reference")


async def on_notification_delivered(
    conn: asyncpg.Connection, event: NotificationDelivered, context: EventContext
) -> None:
    if event.channel in ("letter", "door_notice") and not any(
        event.proof.get(k) for k in LETTER_PROOF
    ):
        return  # posted, not delivered (an event of a notifier from before the rule)
    await record_evidence(conn, event, "delivered", event.delivered_at, dict(event.proof))
    if event.message_type in DEMAND_MESSAGE_TYPES and event.channel in INDIVIDUAL_CHANNELS:
        on = local_date(event.delivered_at)
        # The escalation addressed to this party (the case's payer, or the owner jointly
        # liable with a tenant, issue 18 rule 7): the invoices its demand named.
        invoices = await conn.fetchval(
            "SELECT invoice_ids FROM escalations WHERE case_id = $1 AND stage = $2 "
            "ORDER BY payer_party_id = $3 DESC, escalated_at DESC LIMIT 1",
            event.subject_id,
            event.stage,
            event.party_id,
        )
        if invoices is None:
            invoices = await open_invoices_of_case(conn, event.subject_id, on)
        invoices = await liable_invoices(conn, invoices, event.party_id)
        await add_restarts(
            conn,
            [(i, "delivered_demand", on, event.notification_id) for i in invoices],
            at=event.delivered_at,
        )


async def on_notification_failed(
    conn: asyncpg.Connection, event: NotificationFailed, context: EventContext
) -> None:
    detail = {"reason": event.reason, "final": event.final}
    await record_evidence(conn, event, "failed", event.failed_at, detail)


async def record_evidence(
    conn: asyncpg.Connection,
    event: NotificationDelivered | NotificationFailed,
    outcome: str,
    at: datetime,
    detail: dict[str, object],
) -> None:
    await conn.execute(
        "INSERT INTO contact_evidence (notification_id, outcome, unit_id, party_id, channel, "
        "message_type, subject_id, stage, at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10) ON CONFLICT DO NOTHING",
        event.notification_id,
        outcome,
        event.unit_id,
        event.party_id,
        event.channel,
        event.message_type,
        event.subject_id,
        event.stage,
        at,
        detail,
    )


async def on_staff_task_requested(
    conn: asyncpg.Connection, event: StaffTaskRequested, context: EventContext
) -> None:
    """Into the task list; a task the sweep already created for the same case, stage and kind
    is linked rather than duplicated."""
    case_id = await conn.fetchval(
        "SELECT case_id FROM arrears_cases "
        "WHERE case_id = $1 OR (unit_id = $2 AND status = 'open') "
        "ORDER BY case_id = $1 DESC, payer_party_id = $3 DESC LIMIT 1",
        event.subject_id,
        event.unit_id,
        event.party_id,
    )
    kind = "visit" if event.kind == "visit" else event.kind
    linked = await conn.fetchval(
        "UPDATE tasks SET notifier_task_id = $4 WHERE case_id = $1 AND stage = $2 AND kind = $3 "
        "AND source = 'sweep' RETURNING task_id",
        case_id,
        event.stage,
        kind,
        event.task_id,
    )
    if linked:
        return
    created = await conn.fetchval(
        "INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, stage, "
        "reason, source, notifier_task_id, assignee, due_on, created_at) "
        "SELECT $1, 'notifier|' || $1, $2, $3, $4, $5, $6, $7, 'notifier', $1, "
        "(SELECT coalesce(owner_staff_id, assigned_to) FROM arrears_cases WHERE case_id = $2), "
        "$8, $9 ON CONFLICT (dedup_key) DO NOTHING RETURNING true",
        event.task_id,
        case_id,
        event.community_id,
        event.unit_id,
        kind,
        event.stage,
        event.reason,
        local_date(event.requested_at),
        event.requested_at,
    )
    if created and case_id and kind == REVIEW_DEMAND:
        # The case says why its demand did not go (issue 18 rule 10); staff decide on the task.
        await conn.execute(
            "INSERT INTO case_notes (case_id, staff_id, body, at) VALUES ($1, 'notifier', $2, $3)",
            case_id,
            event.reason,
            event.requested_at,
        )
