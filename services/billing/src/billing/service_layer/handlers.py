"""Billing's use cases: load, decide (domain), save, emit (outbox) in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from billing.domain.allocation import OpenInvoice, allocate_payment
from billing.domain.invoices import LineInput, invoice_total, price_line
from propfee.consumer import EventContext
from propfee.events import (
    InvoiceIssued,
    InvoiceLine,
    InvoiceSettled,
    PaymentReceived,
    PaymentRefunded,
)
from propfee.outbox import add_event


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True)
class NewUnit:
    community_id: str
    building_id: str
    room_label: str
    floor_area_m2: str
    payer_party_id: str
    unit_id: str | None = None


async def create_unit(conn: asyncpg.Connection, unit: NewUnit) -> tuple[str, bool]:
    """Register a unit; the same unit_id with the same data is a no-op (returns created=False)."""
    unit_id = unit.unit_id or f"unit-{uuid.uuid4()}"
    row = await conn.fetchrow(
        "INSERT INTO units (unit_id, community_id, building_id, room_label, floor_area_m2, "
        "payer_party_id) VALUES ($1, $2, $3, $4, $5::numeric, $6) "
        "ON CONFLICT (unit_id) DO NOTHING RETURNING unit_id",
        unit_id,
        unit.community_id,
        unit.building_id,
        unit.room_label,
        unit.floor_area_m2,
        unit.payer_party_id,
    )
    if row is not None:
        return unit_id, True
    existing = await conn.fetchrow(
        "SELECT community_id, building_id, room_label, payer_party_id FROM units "
        "WHERE unit_id = $1",
        unit_id,
    )
    assert existing is not None
    if (existing["community_id"], existing["building_id"], existing["room_label"]) != (
        unit.community_id,
        unit.building_id,
        unit.room_label,
    ):
        raise Conflict(f"unit {unit_id} already exists with different data")
    return unit_id, False


@dataclass(frozen=True)
class NewInvoice:
    unit_id: str
    period_start: date
    period_end: date
    due_date: date
    lines: list[LineInput]
    issued_at: datetime
    invoice_id: str | None = None


async def issue_invoice(conn: asyncpg.Connection, new: NewInvoice) -> tuple[str, bool]:
    """Issue an invoice and publish InvoiceIssued; an existing invoice_id is not issued twice.

    Credit already on the account (a payment that arrived first) is applied at once.
    """
    if new.period_end < new.period_start:
        raise Conflict("period_end is before period_start")
    if not new.lines:
        raise Conflict("an invoice needs at least one line")
    unit = await conn.fetchrow(
        "SELECT unit_id, community_id, building_id, payer_party_id, room_label FROM units "
        "WHERE unit_id = $1",
        new.unit_id,
    )
    if unit is None:
        raise NotFound(f"unit {new.unit_id} does not exist")
    priced = [price_line(line) for line in new.lines]
    total = invoice_total(priced)
    invoice_id = new.invoice_id or f"inv-{uuid.uuid4()}"
    lines_json = [
        {
            "fee_item": p.fee_item,
            "description": p.description,
            "quantity": p.quantity,
            "unit_price_fen": p.unit_price_fen,
            "amount_fen": p.amount_fen,
        }
        for p in priced
    ]
    inserted = await conn.fetchval(
        "INSERT INTO invoices (invoice_id, unit_id, community_id, building_id, payer_party_id, "
        "period_start, period_end, due_date, lines, total_fen, issued_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (invoice_id) DO NOTHING RETURNING true",
        invoice_id,
        unit["unit_id"],
        unit["community_id"],
        unit["building_id"],
        unit["payer_party_id"],
        new.period_start,
        new.period_end,
        new.due_date,
        lines_json,
        total,
        new.issued_at,
    )
    if not inserted:
        return invoice_id, False
    event = InvoiceIssued(
        invoice_id=invoice_id,
        community_id=unit["community_id"],
        building_id=unit["building_id"],
        unit_id=unit["unit_id"],
        payer_party_id=unit["payer_party_id"],
        period_start=new.period_start,
        period_end=new.period_end,
        due_date=new.due_date,
        lines=[InvoiceLine(**line) for line in lines_json],
        total_fen=total,
        issued_at=new.issued_at,
        room_label=unit["room_label"],
    )
    await add_event(conn, event, key=unit["unit_id"], subject=invoice_id, time=new.issued_at)
    await _apply_credit(conn, unit["unit_id"], new.issued_at)
    return invoice_id, True


async def record_payment(
    conn: asyncpg.Connection, payment: PaymentReceived, context: EventContext
) -> None:
    """Allocate a payment to the unit's open invoices; the rest is credit. Once per payment."""
    inserted = await conn.fetchval(
        "INSERT INTO payments_received (payment_id, unit_id, community_id, payer_party_id, "
        "amount_fen, invoice_ids, paid_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (payment_id) DO NOTHING RETURNING true",
        payment.payment_id,
        payment.unit_id,
        payment.community_id,
        payment.payer_party_id,
        payment.amount_fen,
        payment.invoice_ids,
        payment.paid_at,
    )
    if not inserted:
        return  # the same payment under another event id: already allocated
    await _allocate(
        conn,
        source=payment.payment_id,
        unit_id=payment.unit_id,
        amount_fen=payment.amount_fen,
        named=payment.invoice_ids,
        at=payment.received_at,
    )


async def record_refund(
    conn: asyncpg.Connection, refund: PaymentRefunded, context: EventContext
) -> None:
    """Record a refund; its effect on balances arrives with the payments issue."""
    await conn.execute(
        "INSERT INTO refunds_received (refund_id, payment_id, unit_id, amount_fen, reason, "
        "refunded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (refund_id) DO NOTHING",
        refund.refund_id,
        refund.payment_id,
        refund.unit_id,
        refund.amount_fen,
        refund.reason,
        refund.refunded_at,
    )


async def _apply_credit(conn: asyncpg.Connection, unit_id: str, at: datetime) -> None:
    credit = await conn.fetchval(
        "SELECT balance_fen FROM credit_balances WHERE unit_id = $1 FOR UPDATE", unit_id
    )
    if credit:
        await conn.execute("UPDATE credit_balances SET balance_fen = 0 WHERE unit_id = $1", unit_id)
        await _allocate(
            conn, source=f"credit:{unit_id}", unit_id=unit_id, amount_fen=credit, named=[], at=at
        )


async def _allocate(
    conn: asyncpg.Connection,
    *,
    source: str,
    unit_id: str,
    amount_fen: int,
    named: list[str],
    at: datetime,
) -> None:
    """Split ``amount_fen`` over open invoices (domain rule), settle the ones paid in full."""
    rows = await conn.fetch(
        "SELECT invoice_id, due_date, total_fen - paid_fen AS outstanding FROM invoices "
        "WHERE unit_id = $1 AND status = 'open' ORDER BY due_date, invoice_id FOR UPDATE",
        unit_id,
    )
    result = allocate_payment(
        amount_fen,
        [OpenInvoice(r["invoice_id"], r["due_date"], r["outstanding"]) for r in rows],
        named,
    )
    targets: list[str | None] = [a.invoice_id for a in result.allocations]
    amounts = [a.amount_fen for a in result.allocations]
    if result.credit_fen:
        targets.append(None)
        amounts.append(result.credit_fen)
    await conn.execute(
        "INSERT INTO allocations (payment_id, unit_id, invoice_id, amount_fen, allocated_at) "
        "SELECT $1, $2, t.invoice_id, t.amount, $5 FROM unnest($3::text[], $4::bigint[]) "
        "AS t(invoice_id, amount)",
        source,
        unit_id,
        targets,
        amounts,
        at,
    )
    if result.credit_fen:
        await conn.execute(
            "INSERT INTO credit_balances (unit_id, balance_fen) VALUES ($1, $2) "
            "ON CONFLICT (unit_id) DO UPDATE SET balance_fen = credit_balances.balance_fen + $2",
            unit_id,
            result.credit_fen,
        )
    if not result.allocations:
        return
    settled = await conn.fetch(
        """
        UPDATE invoices AS i
           SET paid_fen = i.paid_fen + a.amount,
               status = CASE WHEN i.paid_fen + a.amount = i.total_fen
                             THEN 'settled' ELSE 'open' END,
               settled_at = CASE WHEN i.paid_fen + a.amount = i.total_fen THEN $3::timestamptz END
          FROM unnest($1::text[], $2::bigint[]) AS a(invoice_id, amount)
         WHERE i.invoice_id = a.invoice_id
        RETURNING i.invoice_id, i.community_id, i.unit_id, i.payer_party_id, i.total_fen,
                  i.paid_fen, i.status,
                  ARRAY(SELECT DISTINCT x.payment_id FROM allocations x
                         WHERE x.invoice_id = i.invoice_id AND x.payment_id NOT LIKE 'credit:%'
                         ORDER BY 1) AS payment_ids
        """,
        [a.invoice_id for a in result.allocations],
        [a.amount_fen for a in result.allocations],
        at,
    )
    for row in settled:
        if row["status"] != "settled":
            continue
        event = InvoiceSettled(
            invoice_id=row["invoice_id"],
            community_id=row["community_id"],
            unit_id=row["unit_id"],
            payer_party_id=row["payer_party_id"],
            total_fen=row["total_fen"],
            paid_fen=row["paid_fen"],
            payment_ids=list(row["payment_ids"]),
            settled_at=at,
        )
        await add_event(conn, event, key=row["unit_id"], subject=row["invoice_id"], time=at)
