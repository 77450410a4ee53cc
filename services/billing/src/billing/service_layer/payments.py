"""Payments and refunds from the payments service, receipts, voids, waivers, write-offs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from billing.errors import InvoiceStateError as InvoiceStateError
from billing.service_layer import billed_months
from billing.service_layer.accounts import (
    ChangeContext,
    lock_units,
    recompute_account,
    recompute_accounts,
)
from billing.service_layer.ids import stable_id
from propfee.consumer import EventContext
from propfee.events import PaymentReceived, PaymentRefunded


async def record_payments(
    conn: asyncpg.Connection, items: list[tuple[PaymentReceived, EventContext]]
) -> None:
    """Allocate payments (once per payment id, whatever the event id) and number receipts.

    Set-based: one insert, one replay per affected unit with five loads in all, one write of
    the journals and balances, one receipt numbering per community and year.
    """
    payments = [event for event, _ in items]
    inserted = await conn.fetch(
        "INSERT INTO payments_received (payment_id, unit_id, community_id, payer_party_id, "
        "amount_fen, invoice_ids, channel, paid_at, received_at) "
        "SELECT p, u, c, y, a, coalesce(string_to_array(i, ','), '{}'), ch, pa, ra "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], "
        "$7::text[], $8::timestamptz[], $9::timestamptz[]) AS x(p, u, c, y, a, i, ch, pa, ra) "
        "ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id",
        [p.payment_id for p in payments],
        [p.unit_id for p in payments],
        [p.community_id for p in payments],
        [p.payer_party_id for p in payments],
        [p.amount_fen for p in payments],
        [",".join(p.invoice_ids) if p.invoice_ids else None for p in payments],
        [p.channel for p in payments],
        [p.paid_at for p in payments],
        [p.received_at for p in payments],
    )
    fresh = {r["payment_id"] for r in inserted}
    new = list({p.payment_id: p for p in payments if p.payment_id in fresh}.values())
    if not new:
        return
    at = max(p.received_at for p in new)
    await recompute_accounts(conn, [p.unit_id for p in new], at, ChangeContext("payment"))
    # Last, so each community's receipt counter stays locked only until the commit.
    await issue_receipts(conn, new)


async def record_payment(
    conn: asyncpg.Connection, payment: PaymentReceived, context: EventContext
) -> None:
    await record_payments(conn, [(payment, context)])


async def record_refunds(
    conn: asyncpg.Connection, items: list[tuple[PaymentRefunded, EventContext]]
) -> None:
    """Refunds reverse their payments' allocations (a refund before its payment waits for it).
    The units of the batch are locked at once in one global order before any is replayed."""
    await lock_units(conn, [refund.unit_id for refund, _ in items])
    for refund, _ in items:
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
                conn,
                refund.unit_id,
                refund.refunded_at,
                ChangeContext("refund", note=refund.reason),
            )


async def record_refund(
    conn: asyncpg.Connection, refund: PaymentRefunded, context: EventContext
) -> None:
    await record_refunds(conn, [(refund, context)])


async def next_numbers(
    conn: asyncpg.Connection, community_id: str, year: int, series: str, count: int
) -> range:
    """``count`` consecutive numbers; gap-free because the counter row stays locked until the
    transaction ends and rolls back with it."""
    last: int = await conn.fetchval(
        "INSERT INTO receipt_counters (community_id, year, last_seq) VALUES ($1, $2, $3) "
        "ON CONFLICT (community_id, year) DO UPDATE "
        "SET last_seq = receipt_counters.last_seq + $3 RETURNING last_seq",
        f"{community_id}:{series}",
        year,
        count,
    )
    return range(last - count + 1, last + 1)


async def next_number(conn: asyncpg.Connection, community_id: str, year: int, series: str) -> int:
    return (await next_numbers(conn, community_id, year, series, 1))[0]


async def issue_receipts(conn: asyncpg.Connection, payments: list[PaymentReceived]) -> None:
    """One receipt per payment, numbered per community and year in order of payment time,
    with what the printed receipt names: the gateway's transaction number and the cashier."""
    zones = dict(
        await conn.fetch(
            "SELECT community_id, time_zone FROM communities WHERE community_id = ANY($1::text[])",
            list({p.community_id for p in payments}),
        )
    )
    groups: dict[tuple[str, int], list[PaymentReceived]] = {}
    for p in sorted(payments, key=lambda p: (p.paid_at, p.payment_id)):
        year = p.paid_at.astimezone(ZoneInfo(zones.get(p.community_id, "Asia/Shanghai"))).year
        groups.setdefault((p.community_id, year), []).append(p)
    rows = []
    for (community_id, year), group in sorted(groups.items()):
        numbers = await next_numbers(conn, community_id, year, "receipt", len(group))
        for seq, p in zip(numbers, group, strict=True):
            rows.append(
                (
                    f"{community_id}/R{year}-{seq:07d}",
                    community_id,
                    year,
                    seq,
                    p.payment_id,
                    p.unit_id,
                    p.payer_party_id,
                    p.amount_fen,
                    p.channel,
                    p.paid_at,
                    p.gateway,
                    p.gateway_transaction_id,
                    p.cashier,
                )
            )
    await conn.copy_records_to_table(
        "receipts",
        records=rows,
        columns=[
            "receipt_no",
            "community_id",
            "year",
            "seq",
            "payment_id",
            "unit_id",
            "payer_party_id",
            "amount_fen",
            "channel",
            "paid_at",
            "gateway",
            "gateway_transaction_id",
            "cashier",
        ],
    )


async def _open_invoice(
    conn: asyncpg.Connection, invoice_id: str, at: datetime, *, closing: bool = False
) -> asyncpg.Record:
    """The invoice, locked, if it may be adjusted at business time ``at``: not before it was
    issued, and (``closing``: a void, a write-off) not before a waiver already recorded on
    it, which the account's replay would otherwise apply to a closed invoice."""
    row = await conn.fetchrow(
        "SELECT i.invoice_id, i.unit_id, i.community_id, i.status, i.issued_at, c.time_zone "
        "FROM invoices i JOIN communities c USING (community_id) WHERE invoice_id = $1 FOR UPDATE",
        invoice_id,
    )
    if row is None:
        raise LookupError(f"invoice {invoice_id} not found")
    if row["status"] in ("void", "written_off"):
        raise InvoiceStateError(f"invoice {invoice_id} is {row['status']}")
    if at < row["issued_at"]:
        raise ValueError(
            f"at: {at.isoformat()} is before invoice {invoice_id} was issued "
            f"({row['issued_at'].isoformat()})"
        )
    if closing:
        waived: datetime | None = await conn.fetchval(
            "SELECT max(waived_at) FROM late_fee_waivers WHERE invoice_id = $1", invoice_id
        )
        if waived is not None and at <= waived:
            raise ValueError(
                f"at: {at.isoformat()} is not after the late-fee waiver of "
                f"{waived.isoformat()} on invoice {invoice_id}"
            )
    return row


async def void_invoice(conn: asyncpg.Connection, invoice_id: str, reason: str, at: datetime) -> str:
    """Void with a credit note; money paid on it returns to the account as credit."""
    row = await _open_invoice(conn, invoice_id, at, closing=True)
    year = at.astimezone(ZoneInfo(row["time_zone"])).year
    credit_note_no = f"CN{year}-{await next_number(conn, row['community_id'], year, 'credit'):07d}"
    await conn.execute(
        "UPDATE invoices SET voided_at = $2, void_reason = $3, credit_note_no = $4, "
        "voided_recorded_at = now() WHERE invoice_id = $1",
        invoice_id,
        at,
        reason,
        credit_note_no,
    )
    await billed_months.release(conn, row["unit_id"], invoice_id)  # the months may be billed again
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
    row = await _open_invoice(conn, invoice_id, at)
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
    row = await _open_invoice(conn, invoice_id, at, closing=True)
    await conn.execute(
        "UPDATE invoices SET written_off_at = $2, write_off_reason = $3, "
        "written_off_recorded_at = now() WHERE invoice_id = $1",
        invoice_id,
        at,
        f"{reason} (approved by {approved_by})",
    )
    await recompute_account(
        conn, row["unit_id"], at, ChangeContext("write_off", note=reason, approved_by=approved_by)
    )
