"""Payments' read model of billing's invoices: what a household owes, to fix order amounts.

Issued and settled events may arrive in either order; both upsert the same row and the
result is the same whatever the order.
"""

from __future__ import annotations

import asyncpg

from payments.domain.orders import OpenInvoice
from propfee.consumer import EventContext
from propfee.events import InvoiceIssued, InvoiceSettled


async def invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "due_date, period_start, period_end, room_label, issued_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (invoice_id) DO UPDATE SET due_date = EXCLUDED.due_date, "
        "period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, "
        "room_label = EXCLUDED.room_label, issued_at = EXCLUDED.issued_at, "
        "total_fen = EXCLUDED.total_fen",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        event.total_fen,
        event.due_date,
        event.period_start,
        event.period_end,
        event.room_label,
        event.issued_at,
    )


async def invoice_settled(
    conn: asyncpg.Connection, event: InvoiceSettled, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "settled_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled_at = EXCLUDED.settled_at",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        event.total_fen,
        event.settled_at,
    )


async def open_invoices(conn: asyncpg.Connection, unit_id: str) -> dict[str, OpenInvoice]:
    """The unit's issued, unsettled invoices."""
    rows = await conn.fetch(
        "SELECT invoice_id, community_id, unit_id, payer_party_id, total_fen FROM invoices "
        "WHERE unit_id = $1 AND settled_at IS NULL AND issued_at IS NOT NULL "
        "ORDER BY due_date, invoice_id",
        unit_id,
    )
    return {r["invoice_id"]: OpenInvoice(**dict(r)) for r in rows}
