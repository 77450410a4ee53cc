"""Forgiving money on an invoice (void with a credit note, a late-fee waiver, a write-off),
each audited with the invoice's balance before and after."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from billing.service_layer import payments
from propfee import audit
from propfee.auth import Principal

BALANCE_COLUMNS = (
    "invoice_id, unit_id, community_id, status, total_fen, principal_paid_fen, "
    "late_fee_paid_fen, late_fee_waived_fen"
)


async def _balance(conn: asyncpg.Connection, invoice_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {BALANCE_COLUMNS} FROM invoices WHERE invoice_id = $1", invoice_id
    )
    return dict(row) if row else {}


async def _audited(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    invoice_id: str,
    action: str,
    before: dict[str, Any],
    reason: str,
    **details: Any,
) -> None:
    after = await _balance(conn, invoice_id)
    await audit.record(
        conn,
        principal,
        action,
        "invoice",
        invoice_id,
        community_id=scope["community_id"],
        unit_id=scope["unit_id"],
        company_id=scope["company_id"],
        before=before,
        after={**after, **details},
        reason=reason,
    )


async def void(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    invoice_id: str,
    reason: str,
    at: datetime,
) -> str:
    """Void with a credit note (its number returned); what was paid becomes credit."""
    before = await _balance(conn, invoice_id)
    note = await payments.void_invoice(conn, invoice_id, reason, at)
    await _audited(
        conn,
        principal,
        scope,
        invoice_id,
        "invoice.voided",
        before,
        reason,
        credit_note_no=note,
        at=at,
    )
    return note


async def waive(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    invoice_id: str,
    amount_fen: int,
    reason: str,
    approved_by: str,
    at: datetime,
) -> str:
    """Waive (part of) the late fee; the waiver's id."""
    before = await _balance(conn, invoice_id)
    waiver_id = await payments.waive_late_fee(conn, invoice_id, amount_fen, reason, approved_by, at)
    await _audited(
        conn,
        principal,
        scope,
        invoice_id,
        "late_fee.waived",
        before,
        reason,
        waiver_id=waiver_id,
        amount_fen=amount_fen,
        approved_by=approved_by,
        at=at,
    )
    return waiver_id


async def write_off(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    invoice_id: str,
    reason: str,
    approved_by: str,
    at: datetime,
) -> None:
    before = await _balance(conn, invoice_id)
    await payments.write_off(conn, invoice_id, reason, approved_by, at)
    await _audited(
        conn,
        principal,
        scope,
        invoice_id,
        "invoice.written_off",
        before,
        reason,
        approved_by=approved_by,
        at=at,
    )
