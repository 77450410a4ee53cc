"""Pauses: a service complaint (the case or one disputed invoice), a hardship or installment
plan, a legal proceeding. Every pause has a reason, an owner and an end; the sweep skips a
paused case (or leaves the disputed invoice out) while the pause is in force."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from propfee.events import ArrearsCasePaused, ArrearsCaseResumed
from propfee.outbox import add_event


async def pause_case(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    reason: str,
    owner: str,
    starts_at: datetime,
    ends_at: datetime,
    invoice_id: str | None = None,
    note: str | None = None,
    plan_id: str | None = None,
) -> str | None:
    """Record a pause and publish ArrearsCasePaused; None when ``plan_id`` was paused before."""
    case = await conn.fetchrow(
        "SELECT community_id, unit_id FROM arrears_cases WHERE case_id = $1", case_id
    )
    if case is None:
        raise LookupError(f"case {case_id} not found")
    pause_id = f"pause-{uuid.uuid4()}"
    inserted = await conn.fetchval(
        "INSERT INTO pauses (pause_id, case_id, scope, invoice_id, reason, owner, starts_at, "
        "ends_at, note, plan_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (plan_id) DO NOTHING RETURNING pause_id",
        pause_id,
        case_id,
        "invoice" if invoice_id else "case",
        invoice_id,
        reason,
        owner,
        starts_at,
        ends_at,
        note,
        plan_id,
    )
    if inserted is None:
        return None
    event = ArrearsCasePaused(
        pause_id=pause_id,
        case_id=case_id,
        community_id=case["community_id"],
        unit_id=case["unit_id"],
        scope="invoice" if invoice_id else "case",
        invoice_id=invoice_id,
        reason=reason,
        owner=owner,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    await add_event(conn, event, key=case["unit_id"], subject=case_id, time=starts_at)
    return pause_id


async def resume(conn: asyncpg.Connection, pause_id: str, resolution: str, at: datetime) -> bool:
    row = await conn.fetchrow(
        "UPDATE pauses p SET resolved_at = $2, resolution = $3, resolution_recorded_at = now() "
        "FROM arrears_cases c "
        "WHERE p.pause_id = $1 AND p.resolved_at IS NULL AND c.case_id = p.case_id "
        "RETURNING p.case_id, c.community_id, c.unit_id",
        pause_id,
        at,
        resolution,
    )
    if row is None:
        return False
    event = ArrearsCaseResumed(
        pause_id=pause_id,
        case_id=row["case_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        resolution=resolution,
        resumed_at=at,
    )
    await add_event(conn, event, key=row["unit_id"], subject=row["case_id"], time=at)
    return True
