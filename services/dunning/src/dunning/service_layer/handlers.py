"""Dunning's event handlers. Each converges to the same state whatever the arrival order."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from propfee.consumer import EventContext
from propfee.events import (
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    NotificationDelivered,
    NotificationFailed,
    PaymentReceived,
    PaymentRefunded,
)


async def on_invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, issued) VALUES ($1, $2, $3, $4, $5, $6, true) "
        "ON CONFLICT (invoice_id) DO UPDATE SET due_date = EXCLUDED.due_date, "
        "total_fen = EXCLUDED.total_fen, issued = true, updated_at = now()",
        event.invoice_id,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.due_date,
        event.total_fen,
    )
    await _reconcile_case(
        conn, event.unit_id, event.community_id, event.payer_party_id, event.issued_at
    )


async def on_invoice_settled(
    conn: asyncpg.Connection, event: InvoiceSettled, context: EventContext
) -> None:
    # Settlement may arrive before the invoice itself: remember it, issued stays false.
    # A newer balance (a refund reopening the invoice) is never overwritten by it.
    version = event.balance_version or 0
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, settled, "
        "settled_at, balance_version, status) VALUES ($1, $2, $3, $4, true, $5, $6, 'paid') "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled = true, settled_at = EXCLUDED.settled_at, "
        "balance_version = EXCLUDED.balance_version, status = 'paid', updated_at = now() "
        "WHERE receivables.balance_version <= EXCLUDED.balance_version",
        event.invoice_id,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.settled_at,
        version,
    )
    await _reconcile_case(
        conn, event.unit_id, event.community_id, event.payer_party_id, event.settled_at
    )


async def on_invoice_balance_changed(
    conn: asyncpg.Connection, event: InvoiceBalanceChanged, context: EventContext
) -> None:
    """Keep the newest balance of an invoice; older versions arriving late change nothing."""
    closed = event.status in ("paid", "void", "written_off")
    late_fee_left = max(event.late_fee_fen - event.late_fee_paid_fen - event.late_fee_waived_fen, 0)
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, settled, settled_at, balance_version, status, principal_outstanding_fen, "
        "late_fee_outstanding_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled = EXCLUDED.settled, "
        "settled_at = EXCLUDED.settled_at, balance_version = EXCLUDED.balance_version, "
        "status = EXCLUDED.status, principal_outstanding_fen = EXCLUDED.principal_outstanding_fen, "
        "late_fee_outstanding_fen = EXCLUDED.late_fee_outstanding_fen, updated_at = now() "
        "WHERE receivables.balance_version < EXCLUDED.balance_version",
        event.invoice_id,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.due_date,
        event.total_fen,
        closed,
        event.changed_at if closed else None,
        event.balance_version,
        event.status,
        event.principal_outstanding_fen,
        late_fee_left,
    )
    await _reconcile_case(
        conn, event.unit_id, event.community_id, event.payer_party_id, event.changed_at
    )


async def on_payment_received(
    conn: asyncpg.Connection, event: PaymentReceived, context: EventContext
) -> None:
    """Hold the household's reminders at once, before billing has even allocated the money."""
    await conn.execute(
        "INSERT INTO payments_seen (payment_id, unit_id, amount_fen, paid_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING",
        event.payment_id,
        event.unit_id,
        event.amount_fen,
        event.paid_at,
    )
    await conn.execute(
        "UPDATE arrears_cases SET on_hold = true, hold_payment_id = $2, hold_since = $3 "
        "WHERE unit_id = $1 AND status = 'open'",
        event.unit_id,
        event.payment_id,
        event.received_at,
    )


async def on_payment_refunded(
    conn: asyncpg.Connection, event: PaymentRefunded, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO refunds_seen (refund_id, payment_id, unit_id, amount_fen, refunded_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (refund_id) DO NOTHING",
        event.refund_id,
        event.payment_id,
        event.unit_id,
        event.amount_fen,
        event.refunded_at,
    )


async def on_notification_delivered(
    conn: asyncpg.Connection, event: NotificationDelivered, context: EventContext
) -> None:
    await _record_evidence(conn, event, "delivered", event.delivered_at, dict(event.proof))


async def on_notification_failed(
    conn: asyncpg.Connection, event: NotificationFailed, context: EventContext
) -> None:
    detail = {"reason": event.reason, "final": event.final}
    await _record_evidence(conn, event, "failed", event.failed_at, detail)


async def _record_evidence(
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


async def _reconcile_case(
    conn: asyncpg.Connection, unit_id: str, community_id: str, payer_party_id: str, at: datetime
) -> None:
    """Open a case while anything issued is unsettled; close it when nothing is."""
    # Serialise work on one household's case (two partitions' events may race).
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", unit_id)
    owes = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM receivables WHERE unit_id = $1 AND issued AND NOT settled)",
        unit_id,
    )
    if owes:
        await conn.execute(
            "INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, opened_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_id) WHERE status = 'open' DO NOTHING",
            f"case-{uuid.uuid4()}",
            unit_id,
            community_id,
            payer_party_id,
            at,
        )
    else:
        await conn.execute(
            "UPDATE arrears_cases SET status = 'closed', closed_at = $2, on_hold = false "
            "WHERE unit_id = $1 AND status = 'open'",
            unit_id,
            at,
        )
