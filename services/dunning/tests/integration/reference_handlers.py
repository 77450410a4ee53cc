"""The per-event handlers of billing's invoice events as they were before the batch handlers
(commit a90a912), kept as the reference the batch handlers must agree with."""

from __future__ import annotations

import asyncpg

from dunning.service_layer.cases import reconcile_case
from dunning.service_layer.limitation import add_restarts, local_date, lock_clocks, recompute
from dunning.service_layer.plans import pause_pending_plans
from propfee.consumer import EventContext
from propfee.events import InvoiceBalanceChanged, InvoiceIssued, InvoiceSettled


async def on_invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    """A receivable (with how billing issued it: an 'opening_late_fee' invoice is late fee,
    not principal, for the sweep; and who is liable for it); opens the payer's case on the
    unit (rule 7: one per unit and payer); starts (or, for a changed due date, moves)
    the invoice's limitation clock, which is published."""
    await lock_clocks(conn, [event.invoice_id])  # before the row's lock, as every clock writer
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, issued, room_label, kind, period_start, period_end, schedule_version, "
        "liable_party_ids, building_id, fee_items) "
        "VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10, $11, $12, $13, $14) "
        "ON CONFLICT (invoice_id) DO UPDATE SET due_date = EXCLUDED.due_date, "
        "total_fen = EXCLUDED.total_fen, issued = true, room_label = EXCLUDED.room_label, "
        "kind = coalesce(EXCLUDED.kind, receivables.kind), "
        "period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, "
        "schedule_version = EXCLUDED.schedule_version, "
        "liable_party_ids = coalesce(EXCLUDED.liable_party_ids, receivables.liable_party_ids), "
        "building_id = EXCLUDED.building_id, fee_items = EXCLUDED.fee_items, "
        "updated_at = now()",
        event.invoice_id,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.due_date,
        event.total_fen,
        event.room_label,
        event.kind,
        event.period_start,  # the period, the schedule: what the evidence bundle's claim names
        event.period_end,
        event.schedule_version,
        event.liable_party_ids,
        event.building_id,  # the arrears list's filters
        sorted({line.fee_item for line in event.lines}),
    )
    await recompute(conn, [event.invoice_id], at=event.issued_at)
    await reconcile_case(
        conn, event.unit_id, event.community_id, event.payer_party_id, event.issued_at
    )
    await pause_pending_plans(conn, event.unit_id)
    if event.room_label:
        await conn.execute(
            "UPDATE arrears_cases SET room_label = $2 WHERE unit_id = $1 AND status = 'open' "
            "AND room_label IS DISTINCT FROM $2",
            event.unit_id,
            event.room_label,
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
    await reconcile_case(
        conn,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.settled_at,
        lift_hold=True,
    )


async def on_invoice_balance_changed(
    conn: asyncpg.Connection, event: InvoiceBalanceChanged, context: EventContext
) -> None:
    """Keep the newest balance of an invoice; older versions arriving late change nothing.
    A part payment restarts the invoice's limitation clock whatever the order; an invoice
    first known from its balance (its InvoiceIssued not yet here) gets its clock too."""
    await lock_clocks(conn, [event.invoice_id])  # before the row's lock, as every clock writer
    closed = event.status in ("paid", "void", "written_off")
    late_fee_left = max(event.late_fee_fen - event.late_fee_paid_fen - event.late_fee_waived_fen, 0)
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, settled, settled_at, balance_version, status, principal_outstanding_fen, "
        "late_fee_outstanding_fen, late_fee_basis, late_fee_as_of) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled = EXCLUDED.settled, "
        "settled_at = EXCLUDED.settled_at, balance_version = EXCLUDED.balance_version, "
        "status = EXCLUDED.status, principal_outstanding_fen = EXCLUDED.principal_outstanding_fen, "
        "late_fee_outstanding_fen = EXCLUDED.late_fee_outstanding_fen, "
        "late_fee_basis = EXCLUDED.late_fee_basis, late_fee_as_of = EXCLUDED.late_fee_as_of, "
        "due_date = coalesce(receivables.due_date, EXCLUDED.due_date), updated_at = now() "
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
        # How the late fee accrues (rate, cap, days): the evidence bundle's claim shows it.
        None if event.late_fee_basis is None else event.late_fee_basis.model_dump(mode="json"),
        local_date(event.changed_at),
    )
    if event.reason == "payment" and event.status == "partially_paid":
        source = f"balance-v{event.balance_version}"
        await add_restarts(
            conn,
            [(event.invoice_id, "part_payment", local_date(event.changed_at), source)],
            at=event.changed_at,
        )
    else:
        await recompute(conn, [event.invoice_id], at=event.changed_at)
    await reconcile_case(
        conn,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.changed_at,
        lift_hold=event.reason in ("payment", "credit"),
    )
