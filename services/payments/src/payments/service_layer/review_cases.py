"""Review cases ("exceptions" in the API and the ``payment_exceptions`` table): money for
finance to review, resolved by a person, with a note, never silently.

``applied`` turns the money into a payment of the household finance names (by default the
order's), published like any payment; ``refunded`` and ``dismissed`` only close the review
(a refund of unapplied money is made at the gateway console and shows in reconciliation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from payments.errors import ResolutionError
from payments.service_layer import access
from propfee import audit
from propfee.auth import Principal, mask_personal
from propfee.events import PaymentReceived
from propfee.outbox import add_event
from propfee.problems import NotFound


@dataclass(frozen=True)
class Resolution:
    resolution: str  # applied | refunded | dismissed
    note: str
    resolved_by: str
    community_id: str | None = None
    unit_id: str | None = None
    payer_party_id: str | None = None
    invoice_ids: tuple[str, ...] = ()


async def resolve_exception(
    conn: asyncpg.Connection, exception_id: str, r: Resolution, now: datetime
) -> asyncpg.Record:
    exc = await conn.fetchrow(
        "SELECT * FROM payment_exceptions WHERE exception_id = $1 FOR UPDATE", exception_id
    )
    if exc is None:
        raise NotFound(f"exception {exception_id} not found")
    if exc["status"] != "open":
        raise ResolutionError(f"exception {exception_id} is already {exc['status']}")
    if not r.note.strip() or not r.resolved_by.strip():
        raise ResolutionError("a resolution needs a note and the person resolving it")
    payment_id = None
    if r.resolution == "applied":
        payment_id = await _apply(conn, exc, r, now)
    await conn.execute(
        "UPDATE payment_exceptions SET status = 'resolved', resolution = $2, "
        "resolution_note = $3, resolved_by = $4, resolved_at = $5, payment_id = $6 "
        "WHERE exception_id = $1",
        exception_id,
        r.resolution,
        r.note,
        r.resolved_by,
        now,
        payment_id,
    )
    row = await conn.fetchrow(
        "SELECT * FROM payment_exceptions WHERE exception_id = $1", exception_id
    )
    assert row is not None
    return row


async def _apply(
    conn: asyncpg.Connection, exc: asyncpg.Record, r: Resolution, now: datetime
) -> str:
    if exc["currency"] != "CNY":
        raise ResolutionError("money in another currency cannot be applied; refund it")
    order = None
    if exc["order_id"]:
        order = await conn.fetchrow(
            "SELECT * FROM payment_orders WHERE order_id = $1", exc["order_id"]
        )
    community_id = r.community_id or (order["community_id"] if order else None)
    unit_id = r.unit_id or (order["unit_id"] if order else None)
    payer = r.payer_party_id or (order["payer_party_id"] if order else None)
    if not (community_id and unit_id and payer):
        raise ResolutionError("name the community, unit and payer the money belongs to")
    invoice_ids = (
        list(r.invoice_ids)
        if r.invoice_ids or r.unit_id
        else (list(order["invoice_ids"]) if order else [])
    )
    payment_id = f"pay-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO payments (payment_id, dedup_key, community_id, unit_id, payer_party_id, "
        "invoice_ids, amount_fen, channel, gateway, gateway_transaction_id, out_trade_no, "
        "paid_at, received_at, request_hash, order_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $2, $14)",
        payment_id,
        exc["dedup_key"],
        community_id,
        unit_id,
        payer,
        invoice_ids,
        exc["amount_fen"],
        exc["channel"],
        exc["gateway"],
        exc["transaction_id"],
        exc["out_trade_no"],
        exc["paid_at"],
        now,
        exc["order_id"],
    )
    event = PaymentReceived(
        payment_id=payment_id,
        community_id=community_id,
        unit_id=unit_id,
        payer_party_id=payer,
        invoice_ids=invoice_ids,
        amount_fen=exc["amount_fen"],
        channel=exc["channel"],
        gateway=exc["gateway"],
        gateway_transaction_id=exc["transaction_id"],
        out_trade_no=exc["out_trade_no"],
        paid_at=exc["paid_at"],
        received_at=now,
    )
    await add_event(conn, event, key=unit_id, subject=payment_id, time=now)
    return payment_id


async def list_cases(
    pool: asyncpg.Pool,
    principal: Principal,
    status: str,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The caller's communities' review cases of ``status`` in the order they came (and, for
    company-wide callers, those whose community is unknown — money for an order payments
    never had — of the company's merchant accounts), ``limit`` after the key ``after``
    (``created_at``, ``exception_id``); personal ids masked for the caller."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT * FROM payment_exceptions e WHERE status = $1 AND "
        + access.scope_sql("e.community_id", 2, 3, gateway_level="e.company_id")
        + " AND ($4::timestamptz IS NULL OR (e.created_at, e.exception_id) > ($4, $5))"
        " ORDER BY e.created_at, e.exception_id LIMIT $6",
        status,
        company,
        communities,
        *(after or (None, None)),
        limit,
    )
    return [mask_personal(principal, dict(r)) for r in rows]


async def resolve_case(
    pool: asyncpg.Pool,
    principal: Principal,
    exception_id: str,
    resolution: Resolution,
    now: datetime,
) -> dict[str, Any]:
    """Close a review case the caller may see (the household named, if any, within its scope
    too); audited (``exception.resolved``)."""
    async with pool.acquire() as conn, conn.transaction():
        before = await access.exception(conn, principal, exception_id)
        if resolution.community_id is not None:
            await access.community(conn, principal, resolution.community_id)
        row = await resolve_exception(conn, exception_id, resolution, now)
        community_id = before["community_id"]
        payment = None
        if row["payment_id"] is not None:
            payment = await conn.fetchrow(
                "SELECT community_id, unit_id FROM payments WHERE payment_id = $1",
                row["payment_id"],
            )
            community_id = payment["community_id"] if payment else community_id
        company = (
            await access.company_of(conn, community_id)
            if community_id
            else before["company_id"]  # the merchant account's company
        )
        before_view = dict(before)
        before_view.pop("community_company_id", None)
        await audit.record(
            conn,
            principal,
            "exception.resolved",
            "payment_exception",
            exception_id,
            community_id=community_id,
            unit_id=payment["unit_id"] if payment else before["unit_id"],
            before=before_view,
            after=dict(row),
            reason=resolution.note,
            company_id=company,
        )
    return mask_personal(principal, dict(row))
