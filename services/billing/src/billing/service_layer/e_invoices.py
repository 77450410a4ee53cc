"""Owners' requests for an electronic invoice (发票) of a payment, and the outcome finance
records from the tax platform."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import asyncpg

from billing.service_layer.ids import stable_id
from propfee import audit
from propfee.auth import Principal
from propfee.problems import NotFound

Outcome = Literal["issued", "failed"]


async def request(
    conn: asyncpg.Connection | asyncpg.Pool,
    scope: Mapping[str, Any],
    payment_id: str,
    title: str,
    tax_id: str | None,
    email: str | None,
    at: datetime,
) -> str:
    """Record the request (the same title and tax id again is the same request); its id."""
    request_id = stable_id("einv", payment_id, title, tax_id)
    await conn.execute(
        "INSERT INTO e_invoice_requests (request_id, payment_id, unit_id, title, tax_id, email, "
        "requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        request_id,
        payment_id,
        scope["unit_id"],
        title,
        tax_id,
        email,
        at,
    )
    return request_id


async def record_outcome(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    request_id: str,
    status: Outcome,
    note: str | None,
) -> None:
    """Finance records what the tax platform answered; audited."""
    before = await conn.fetchrow(
        "SELECT status, note FROM e_invoice_requests WHERE request_id = $1 FOR UPDATE",
        request_id,
    )
    await conn.execute(
        "UPDATE e_invoice_requests SET status = $2, note = $3, updated_at = now() "
        "WHERE request_id = $1",
        request_id,
        status,
        note,
    )
    await audit.record(
        conn,
        principal,
        "e_invoice.outcome_recorded",
        "e_invoice_request",
        request_id,
        community_id=scope["community_id"],
        unit_id=scope["unit_id"],
        company_id=scope["company_id"],
        before=dict(before) if before else None,
        after={"status": status, "note": note},
    )


async def load(conn: asyncpg.Connection | asyncpg.Pool, request_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT request_id, payment_id, unit_id, title, tax_id, email, status, note, "
        "requested_at, updated_at, recorded_at FROM e_invoice_requests WHERE request_id = $1",
        request_id,
    )
    if row is None:
        raise NotFound(f"e-invoice request {request_id} not found")
    return dict(row)
