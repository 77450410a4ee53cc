"""Late-fee waivers with approval: one person asks, another decides.

Whoever works with owners (a housekeeper, customer service, a fee clerk ...) asks for a waiver
of (part of) an invoice's late fee with a reason; someone with the power to forgive money
(finance, a community manager, a company admin) who is NOT the person who asked approves or
rejects it, once. An approval applies the waiver through ``adjustments.waive``, the very
function of ``POST /invoices/{id}/late-fee-waivers``: the same cap (never more than the late
fee due that day), the same account replay and events, the same ``late_fee.waived`` audit
row, with the decider's subject as approver. Each step is audited too
(``late_fee_waiver.requested`` / ``.approved`` / ``.rejected``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from billing.errors import Conflict, Forbidden
from billing.service_layer import adjustments, visibility
from billing.service_layer.ids import new_id
from propfee import audit
from propfee.auth import Principal

COLUMNS = (
    "request_id, invoice_id, unit_id, community_id, amount_fen, reason, requested_by, "
    "requested_at, status, decided_by, decided_at, decision_note, waiver_id"
)


async def request_waiver(
    conn: asyncpg.Connection,
    principal: Principal,
    invoice_id: str,
    amount_fen: int,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a pending request on an invoice the caller may see (404 otherwise); audited.
    Nothing changes on the invoice until someone else approves it."""
    scope = await visibility.invoice(conn, principal, invoice_id)
    row = await conn.fetchrow(
        "INSERT INTO late_fee_waiver_requests (request_id, invoice_id, unit_id, community_id, "
        "amount_fen, reason, requested_by, requested_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}",
        new_id("lwr"),
        invoice_id,
        scope["unit_id"],
        scope["community_id"],
        amount_fen,
        reason,
        principal.subject,
        now,
    )
    request = dict(row)
    await audit.record(
        conn,
        principal,
        "late_fee_waiver.requested",
        "late_fee_waiver_request",
        request["request_id"],
        community_id=scope["community_id"],
        unit_id=scope["unit_id"],
        company_id=scope["company_id"],
        after=request,
        reason=reason,
    )
    return request


async def list_requests(
    conn: asyncpg.Connection | asyncpg.Pool,
    principal: Principal,
    community_id: str,
    status: str | None,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A community's requests (404 for a community the caller may not see), oldest first,
    ``limit`` after the key ``after`` (``requested_at``, ``request_id``)."""
    await visibility.community(conn, principal, community_id)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM late_fee_waiver_requests "
        "WHERE community_id = $1 AND ($2::text IS NULL OR status = $2) "
        "AND ($3::timestamptz IS NULL OR (requested_at, request_id) > ($3, $4)) "
        "ORDER BY requested_at, request_id LIMIT $5",
        community_id,
        status,
        *(after or (None, None)),
        limit,
    )
    return [dict(r) for r in rows]


async def decide(
    conn: asyncpg.Connection,
    principal: Principal,
    request_id: str,
    approve: bool,
    note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Approve (the waiver applied, the decider its approver) or reject a pending request,
    inside the caller's transaction. 404 for a request the caller may not see; 403 for the
    person who asked; 409 for a request decided already."""
    row = await visibility.visible_waiver_request(conn, principal, request_id)
    if row["status"] != "pending":
        raise Conflict(
            f"waiver request {request_id} was {row['status']} already "
            f"by {row['decided_by']}: a request is decided once",
            refused="already_decided",
        )
    if row["requested_by"] == principal.subject:
        raise Forbidden(
            f"waiver request {request_id}: the person who asked for a waiver cannot approve "
            "or reject it; someone else decides",
            refused="same_person",
        )
    before = {k: row[k] for k in ("status", "amount_fen", "requested_by")}
    waiver_id = None
    if approve:
        scope = {
            "unit_id": row["unit_id"],
            "community_id": row["community_id"],
            "company_id": row["company_id"],
        }
        waiver_id = await adjustments.waive(
            conn,
            principal,
            scope,
            row["invoice_id"],
            row["amount_fen"],
            row["reason"],
            principal.subject,
            now,
        )
    decided = await conn.fetchrow(
        "UPDATE late_fee_waiver_requests SET status = $2, decided_by = $3, decided_at = $4, "
        f"decision_note = $5, waiver_id = $6 WHERE request_id = $1 RETURNING {COLUMNS}",
        request_id,
        "approved" if approve else "rejected",
        principal.subject,
        now,
        note,
        waiver_id,
    )
    result = dict(decided)
    await audit.record(
        conn,
        principal,
        f"late_fee_waiver.{result['status']}",
        "late_fee_waiver_request",
        request_id,
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        company_id=row["company_id"],
        before=before,
        after=result,
        reason=note or row["reason"],
    )
    return result
