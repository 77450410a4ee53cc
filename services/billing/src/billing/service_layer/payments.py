"""Payments and refunds from the payments service, receipts, voids, waivers, write-offs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from billing.service_layer.accounts import ChangeContext, recompute_account
from billing.service_layer.ids import stable_id
from propfee.consumer import EventContext
from propfee.events import PaymentReceived, PaymentRefunded


class InvoiceStateError(ValueError):
    pass


async def record_payment(
    conn: asyncpg.Connection, payment: PaymentReceived, context: EventContext
) -> None:
    """Allocate a payment (once per payment id, whatever the event id) and number its receipt."""
    inserted = await conn.fetchval(
        "INSERT INTO payments_received (payment_id, unit_id, community_id, payer_party_id, "
        "amount_fen, invoice_ids, channel, paid_at, received_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (payment_id) DO NOTHING RETURNING true",
        payment.payment_id,
        payment.unit_id,
        payment.community_id,
        payment.payer_party_id,
        payment.amount_fen,
        payment.invoice_ids,
        payment.channel,
        payment.paid_at,
        payment.received_at,
    )
    if not inserted:
        return
    await issue_receipt(conn, payment)
    await recompute_account(conn, payment.unit_id, payment.received_at, ChangeContext("payment"))


async def record_refund(
    conn: asyncpg.Connection, refund: PaymentRefunded, context: EventContext
) -> None:
    """A refund reverses its payment's allocation (a refund before its payment waits for it)."""
    inserted = await conn.fetchval(
        "INSERT INTO refunds_received (refund_id, payment_id, unit_id, amount_fen, reason, "
        "refunded_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (refund_id) DO NOTHING RETURNING true",
        refund.refund_id,
        refund.payment_id,
        refund.unit_id,
        refund.amount_fen,
        refund.reason,
        refund.refunded_at,
    )
    if inserted:
        await recompute_account(
            conn, refund.unit_id, refund.refunded_at, ChangeContext("refund", note=refund.reason)
        )


async def next_number(conn: asyncpg.Connection, community_id: str, year: int, series: str) -> int:
    """Gap-free: the counter row is locked until the transaction ends and rolls back with it."""
    seq: int = await conn.fetchval(
        "INSERT INTO receipt_counters (community_id, year, last_seq) VALUES ($1, $2, 1) "
        "ON CONFLICT (community_id, year) DO UPDATE SET last_seq = receipt_counters.last_seq + 1 "
        "RETURNING last_seq",
        f"{community_id}:{series}",
        year,
    )
    return seq


async def issue_receipt(conn: asyncpg.Connection, payment: PaymentReceived) -> str:
    tz_name = await conn.fetchval(
        "SELECT time_zone FROM communities WHERE community_id = $1", payment.community_id
    )
    local = payment.paid_at.astimezone(ZoneInfo(tz_name or "Asia/Shanghai"))
    seq = await next_number(conn, payment.community_id, local.year, "receipt")
    receipt_no = f"R{local.year}-{seq:07d}"
    await conn.execute(
        "INSERT INTO receipts (receipt_no, community_id, year, seq, payment_id, unit_id, "
        "payer_party_id, amount_fen, channel, paid_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        f"{payment.community_id}/{receipt_no}",
        payment.community_id,
        local.year,
        seq,
        payment.payment_id,
        payment.unit_id,
        payment.payer_party_id,
        payment.amount_fen,
        payment.channel,
        payment.paid_at,
    )
    return receipt_no


async def _open_invoice(conn: asyncpg.Connection, invoice_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT i.invoice_id, i.unit_id, i.community_id, i.status, c.time_zone "
        "FROM invoices i JOIN communities c USING (community_id) WHERE invoice_id = $1 FOR UPDATE",
        invoice_id,
    )
    if row is None:
        raise LookupError(f"invoice {invoice_id} not found")
    if row["status"] in ("void", "written_off"):
        raise InvoiceStateError(f"invoice {invoice_id} is {row['status']}")
    return row


async def void_invoice(conn: asyncpg.Connection, invoice_id: str, reason: str, at: datetime) -> str:
    """Void with a credit note; money paid on it returns to the account as credit."""
    row = await _open_invoice(conn, invoice_id)
    year = at.astimezone(ZoneInfo(row["time_zone"])).year
    credit_note_no = f"CN{year}-{await next_number(conn, row['community_id'], year, 'credit'):07d}"
    await conn.execute(
        "UPDATE invoices SET voided_at = $2, void_reason = $3, credit_note_no = $4 "
        "WHERE invoice_id = $1",
        invoice_id,
        at,
        reason,
        credit_note_no,
    )
    await recompute_account(
        conn, row["unit_id"], at, ChangeContext("void", note=reason, credit_note_no=credit_note_no)
    )
    return credit_note_no


async def waive_late_fee(
    conn: asyncpg.Connection,
    invoice_id: str,
    amount_fen: int,
    reason: str,
    approved_by: str,
    at: datetime,
) -> str:
    row = await _open_invoice(conn, invoice_id)
    waiver_id = stable_id("wvr", invoice_id, at.isoformat(), amount_fen)
    await conn.execute(
        "INSERT INTO late_fee_waivers (waiver_id, invoice_id, unit_id, amount_fen, reason, "
        "approved_by, waived_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        waiver_id,
        invoice_id,
        row["unit_id"],
        amount_fen,
        reason,
        approved_by,
        at,
    )
    await recompute_account(
        conn, row["unit_id"], at, ChangeContext("waiver", note=reason, approved_by=approved_by)
    )
    return waiver_id


async def write_off(
    conn: asyncpg.Connection, invoice_id: str, reason: str, approved_by: str, at: datetime
) -> None:
    row = await _open_invoice(conn, invoice_id)
    await conn.execute(
        "UPDATE invoices SET written_off_at = $2, write_off_reason = $3 WHERE invoice_id = $1",
        invoice_id,
        at,
        f"{reason} (approved by {approved_by})",
    )
    await recompute_account(
        conn, row["unit_id"], at, ChangeContext("write_off", note=reason, approved_by=approved_by)
    )
