"""Invoices issued one at a time (a special service, a correction): priced from the schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.advance import check_advance
from billing.domain.billed import TIME_BASED
from billing.domain.schedule import ScheduleError
from billing.service_layer import billed_months
from billing.service_layer.accounts import ChangeContext, recompute_account
from billing.service_layer.ids import new_id
from billing.service_layer.issuing import late_fee_contract, liable_parties, owners_on
from billing.service_layer.registry import Conflict
from billing.service_layer.schedules import load_history
from propfee import audit
from propfee.auth import Principal
from propfee.events import InvoiceIssued, InvoiceLine
from propfee.labels import room_label_of_key
from propfee.money import round_half_up
from propfee.outbox import add_event
from propfee.problems import NotFound


class InvoiceError(ValueError):
    pass


LINE_COLUMNS = (
    "invoice_id",
    "line_no",
    "fee_item",
    "description",
    "quantity",
    "unit_price_fen",
    "amount_fen",
)


async def copy_invoices(
    conn: asyncpg.Connection,
    invoices: Sequence[tuple[object, ...]],
    columns: tuple[str, ...],
    lines: Sequence[tuple[object, ...]],
) -> None:
    """Bulk-write invoices and their lines with COPY (runs and ledger imports)."""
    await conn.copy_records_to_table("invoices", records=invoices, columns=list(columns))
    await conn.copy_records_to_table("invoice_lines", records=lines, columns=list(LINE_COLUMNS))


@dataclass(frozen=True)
class ManualLine:
    fee_item: str
    quantity: Decimal
    description: str | None = None


@dataclass(frozen=True)
class ManualInvoice:
    unit_id: str
    period_start: date
    period_end: date
    due_date: date
    lines: tuple[ManualLine, ...]
    issued_at: datetime
    #: The client's own identifier, unique within the community: the same reference again
    #: for the same unit finds the invoice (a safe retry) instead of issuing another.
    reference: str | None = None
    #: The day of recording the advance-collection cap counts from: the community's today
    #: (the simulation clock's day for the service role). None: the day of ``issued_at``.
    recorded_on: date | None = None


async def issue_manual_invoice(conn: asyncpg.Connection, new: ManualInvoice) -> tuple[str, bool]:
    """Only items of the schedule effective on the period's first day; price from the schedule.
    Refused: a period past the advance-collection cap or the contract's end (422), a month of a
    time-based item (area, fixed, parking) the unit is billed for already (409)."""
    if new.period_end < new.period_start:
        raise InvoiceError("period_end: before period_start")
    if new.due_date < new.period_start:
        raise InvoiceError("due_date: before period_start")
    unit = await conn.fetchrow(
        "SELECT u.unit_id, u.community_id, u.building_id, u.unit_type, u.unit_key, "
        "c.advance_cap_months, c.contract_end, c.time_zone, "
        "(SELECT party_id FROM unit_parties p WHERE p.unit_id = u.unit_id AND p.pays "
        "  AND p.valid_from <= $2 AND (p.valid_to IS NULL OR p.valid_to >= $2) "
        "  ORDER BY p.valid_from DESC LIMIT 1) AS payer "
        "FROM units u JOIN communities c USING (community_id) WHERE u.unit_id = $1",
        new.unit_id,
        new.period_start,
    )
    if unit is None:
        raise LookupError(f"unit {new.unit_id} does not exist")
    await billed_months.lock_billing(conn, unit["community_id"])
    if new.reference is not None:
        existing = await conn.fetchrow(
            "SELECT invoice_id, unit_id FROM invoices WHERE community_id = $1 AND reference = $2",
            unit["community_id"],
            new.reference,
        )
        if existing is not None and existing["unit_id"] == new.unit_id:
            return existing["invoice_id"], False
        if existing is not None:
            raise Conflict(
                f"reference: {new.reference} is already used in this community "
                f"(invoice {existing['invoice_id']} of unit {existing['unit_id']})"
            )
    recorded_on = new.recorded_on or new.issued_at.astimezone(ZoneInfo(unit["time_zone"])).date()
    check_advance(new.period_end, recorded_on, unit["advance_cap_months"], unit["contract_end"])
    if unit["payer"] is None:
        raise InvoiceError(f"unit {new.unit_id}: nobody pays it on {new.period_start}")
    schedule = (await load_history(conn, unit["community_id"])).effective_on(new.period_start)
    if schedule is None:
        raise InvoiceError(f"no fee schedule is effective on {new.period_start}")
    lines = []
    for n, line in enumerate(new.lines):
        item = schedule.item(line.fee_item, unit["unit_type"])
        if item is None:
            raise ScheduleError(
                f"lines[{n}].fee_item: {line.fee_item!r} is not in schedule version "
                f"{schedule.version}: only published items can be billed"
            )
        if not line.quantity.is_finite() or line.quantity <= 0:
            raise InvoiceError(f"lines[{n}].quantity: must be a positive number")
        amount = round_half_up(Fraction(line.quantity) * Fraction(item.rate_fen))
        lines.append((item, line, amount))
    time_based = sorted({item.code for item, _, _ in lines if item.kind in TIME_BASED})
    billed = await billed_months.conflicts(
        conn, new.unit_id, time_based, new.period_start, new.period_end
    )
    if billed:
        found = ", ".join(f"{r['fee_item']} {r['month']:%Y-%m} ({r['invoice_id']})" for r in billed)
        raise Conflict(
            f"lines: a unit-month is billed once per fee item; already billed: {found} "
            "(void that invoice first to bill the month again)"
        )
    invoice_id = new_id("inv")
    total = sum(amount for _, _, amount in lines)
    inserted = await conn.fetchval(
        "INSERT INTO invoices (invoice_id, community_id, building_id, unit_id, payer_party_id, "
        "kind, period_start, period_end, due_date, schedule_version, total_fen, issued_at, "
        "reference) VALUES ($1, $2, $3, $4, $5, 'manual', $6, $7, $8, $9, $10, $11, $12) "
        "ON CONFLICT (invoice_id) DO NOTHING RETURNING true",
        invoice_id,
        unit["community_id"],
        unit["building_id"],
        new.unit_id,
        unit["payer"],
        new.period_start,
        new.period_end,
        new.due_date,
        schedule.version,
        total,
        new.issued_at,
        new.reference,
    )
    if not inserted:
        return invoice_id, False
    await conn.executemany(
        "INSERT INTO invoice_lines (invoice_id, line_no, fee_item, description, quantity, "
        "unit_price_fen, amount_fen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                invoice_id,
                n,
                item.code,
                line.description or item.name,
                line.quantity,
                item.rate_fen,
                amount,
            )
            for n, (item, line, amount) in enumerate(lines, start=1)
        ],
    )
    event = InvoiceIssued(
        invoice_id=invoice_id,
        community_id=unit["community_id"],
        building_id=unit["building_id"],
        unit_id=new.unit_id,
        payer_party_id=unit["payer"],
        period_start=new.period_start,
        period_end=new.period_end,
        due_date=new.due_date,
        lines=[
            InvoiceLine(
                fee_item=item.code,
                description=line.description or item.name,
                quantity=str(line.quantity),
                unit_price_fen=round_half_up(Fraction(item.rate_fen)),
                unit_price_exact=str(item.rate_fen),
                amount_fen=amount,
            )
            for item, line, amount in lines
        ],
        total_fen=total,
        issued_at=new.issued_at,
        schedule_version=str(schedule.version),
        room_label=room_label_of_key(unit["unit_key"]),
        kind="manual",
        collection="property",
        liable_party_ids=liable_parties(
            unit["payer"], (await owners_on(conn, [new.unit_id], new.period_start)).get(new.unit_id)
        ),
        interest_from=(await late_fee_contract(conn, unit["community_id"])).interest_from(
            new.due_date, new.issued_at
        ),
    )
    await add_event(conn, event, key=new.unit_id, subject=invoice_id, time=new.issued_at)
    await billed_months.record_invoice(conn, new.unit_id, invoice_id, time_based)
    await recompute_account(conn, new.unit_id, new.issued_at, ChangeContext("credit"))
    return invoice_id, True


async def load_invoice(conn: asyncpg.Connection | asyncpg.Pool, invoice_id: str) -> dict[str, Any]:
    """An invoice with its lines, what was paid on it and the principal still owed (404 when
    it does not exist)."""
    row = await conn.fetchrow(
        "SELECT i.*, coalesce((SELECT json_agg(json_build_object('line_no', l.line_no, "
        "'fee_item', l.fee_item, 'description', l.description, 'quantity', l.quantity::text, "
        "'unit_price_fen', l.unit_price_fen::text, 'amount_fen', l.amount_fen) ORDER BY l.line_no) "
        "FROM invoice_lines l WHERE l.invoice_id = i.invoice_id), '[]') AS lines "
        "FROM invoices i WHERE invoice_id = $1",
        invoice_id,
    )
    if row is None:
        raise NotFound(f"invoice {invoice_id} not found")
    result = dict(row)
    result["paid_fen"] = row["principal_paid_fen"] + row["late_fee_paid_fen"]
    result["principal_outstanding_fen"] = (
        0
        if row["status"] in ("void", "written_off")
        # A lapsed prepayment discount is owed again (issue 17 rule 11).
        else row["total_fen"] + row["discount_lapsed_fen"] - row["principal_paid_fen"]
    )
    result["currency"] = "CNY"
    return result


async def issue_manual_invoice_audited(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    new: ManualInvoice,
    request: dict[str, Any],
) -> tuple[str, bool]:
    """``issue_manual_invoice`` with its audit row (only when it was created)."""
    invoice_id, created = await issue_manual_invoice(conn, new)
    if created:
        await audit.record(
            conn,
            principal,
            "invoice.issued",
            "invoice",
            invoice_id,
            community_id=scope["community_id"],
            unit_id=new.unit_id,
            company_id=scope["company_id"],
            after={**request, "issued_at": new.issued_at},
        )
    return invoice_id, created
