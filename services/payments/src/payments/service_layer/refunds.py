"""Refunds: staff ask with a reason; the gateway's refund notification confirms.

Counter payments (cash, card at the counter) are refunded by staff in person, so the refund is
confirmed when it is recorded. ``payments.payment-refunded`` is published once, on confirmation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from payments.domain.refunds import (
    RefundMismatch,
    RefundReport,
    check_refund,
    new_out_refund_no,
)
from payments.service_layer import access
from propfee import audit
from propfee.auth import Principal
from propfee.events import PaymentRefunded
from propfee.logging import get_logger
from propfee.outbox import add_event
from propfee.problems import Conflict, Forbidden, NotFound

log = get_logger(__name__)

COUNTER_GATEWAYS = ("counter", "bank")


async def request_refund(
    conn: asyncpg.Connection,
    payment_id: str,
    amount_fen: int,
    reason: str,
    requested_by: str,
    now: datetime,
    *,
    requested_subject: str | None = None,
    needs_approval: bool = False,
) -> asyncpg.Record:
    """Record the request (inside a transaction); counter refunds are confirmed at once. One
    that ``needs_approval`` is recorded ``pending_approval``: its amount is reserved against
    the payment, no money moves (``approve_refund`` runs it)."""
    payment = await conn.fetchrow(
        "SELECT * FROM payments WHERE payment_id = $1 FOR UPDATE", payment_id
    )
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    taken = await conn.fetchval(
        "SELECT coalesce(sum(amount_fen), 0) FROM refunds "
        "WHERE payment_id = $1 AND status NOT IN ('failed', 'rejected')",
        payment_id,
    )
    check_refund(payment["amount_fen"], taken, amount_fen, reason)
    refund_id = f"ref-{uuid.uuid4()}"
    at_counter = payment["gateway"] in COUNTER_GATEWAYS or payment["gateway"] is None
    await conn.execute(
        "INSERT INTO refunds (refund_id, out_refund_no, payment_id, amount_fen, reason, "
        "requested_by, status, requested_at, requested_subject) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        refund_id,
        new_out_refund_no(now),
        payment_id,
        amount_fen,
        reason,
        requested_by,
        "pending_approval" if needs_approval else "requested",
        now,
        requested_subject,
    )
    if at_counter and not needs_approval:
        await _confirm(conn, refund_id, refund_id, now)
    row = await conn.fetchrow("SELECT * FROM refunds WHERE refund_id = $1", refund_id)
    assert row is not None
    return row


async def confirm_refund(conn: asyncpg.Connection, report: RefundReport) -> str:
    """Apply a gateway's refund result once; returns the refund's status afterwards."""
    refund = await conn.fetchrow(
        "SELECT r.*, p.gateway AS payment_gateway FROM refunds r JOIN payments p "
        "USING (payment_id) WHERE r.out_refund_no = $1 FOR UPDATE OF r",
        report.out_refund_no,
    )
    if refund is None:
        log.warning("refund notification for an unknown out_refund_no; left to reconciliation")
        return "unknown"
    if report.gateway and refund["payment_gateway"] != report.gateway:
        # Authentic for its gateway, but the payment was made through another: not its word.
        log.warning(
            "refund notification from another gateway than the payment's; refused",
            gateway=report.gateway,
            payment_gateway=refund["payment_gateway"],
        )
        raise RefundMismatch(f"the refund is not of a {report.gateway} payment")
    if refund["status"] in ("succeeded", "failed", "review", "pending_approval", "rejected"):
        # Final, or never asked at the gateway (waiting for a second person, or rejected):
        # a notification moves no money here.
        return str(refund["status"])
    if report.succeeded and report.amount_fen != refund["amount_fen"]:
        # Authentic but not what was asked: finance looks at it; no event until then.
        await conn.execute(
            "UPDATE refunds SET status = 'review', failure = $2 WHERE refund_id = $1",
            refund["refund_id"],
            f"gateway refunded {report.amount_fen} fen, {refund['amount_fen']} fen was asked",
        )
        return "review"
    if report.succeeded:
        await _confirm(conn, refund["refund_id"], report.gateway_refund_id, report.at)
        return "succeeded"
    await conn.execute(
        "UPDATE refunds SET status = 'failed', failure = $2, gateway_refund_id = $3 "
        "WHERE refund_id = $1",
        refund["refund_id"],
        report.failure or "refused by the gateway",
        report.gateway_refund_id,
    )
    return "failed"


async def _confirm(
    conn: asyncpg.Connection, refund_id: str, gateway_refund_id: str, at: datetime
) -> None:
    row = await conn.fetchrow(
        "UPDATE refunds SET status = 'succeeded', refunded_at = $2, gateway_refund_id = $3 "
        "WHERE refund_id = $1 RETURNING payment_id, amount_fen, reason",
        refund_id,
        at,
        gateway_refund_id,
    )
    assert row is not None
    payment = await conn.fetchrow("SELECT * FROM payments WHERE payment_id = $1", row["payment_id"])
    assert payment is not None
    event = PaymentRefunded(
        refund_id=refund_id,
        payment_id=payment["payment_id"],
        community_id=payment["community_id"],
        unit_id=payment["unit_id"],
        payer_party_id=payment["payer_party_id"],
        amount_fen=row["amount_fen"],
        reason=row["reason"],
        refunded_at=at,
    )
    await add_event(conn, event, key=payment["unit_id"], subject=refund_id, time=at)


async def staff_refund(
    pool: asyncpg.Pool,
    clients: Mapping[str, Any],
    principal: Principal,
    payment_id: str,
    amount_fen: int,
    reason: str,
    requested_by: str,
    now: datetime,
    approval_over_fen: int | None = None,
) -> dict[str, Any]:
    """A refund asked by staff of a payment they may see (404 otherwise), with a reason;
    audited (``refund.requested``). Above ``approval_over_fen`` (None: never) it waits for a
    second person (``pending_approval``, no money moved: ``approve_refund``). Otherwise counter
    refunds are confirmed at once; a gateway refund is asked at the gateway after the request
    committed (its confirmation comes with the gateway's refund notification). A gateway that
    fails leaves the refund ``requested`` and the answer says why (``gateway_error``)."""
    needs_approval = approval_over_fen is not None and amount_fen > approval_over_fen
    async with pool.acquire() as conn, conn.transaction():
        payment = await access.payment(conn, principal, payment_id, for_update=True)
        refund = await request_refund(
            conn,
            payment_id,
            amount_fen,
            reason,
            requested_by,
            now,
            requested_subject=principal.subject,
            needs_approval=needs_approval,
        )
        await audit.record(
            conn,
            principal,
            "refund.requested",
            "refund",
            refund["refund_id"],
            community_id=payment["community_id"],
            unit_id=payment["unit_id"],
            before={"payment_id": payment_id, "amount_fen": payment["amount_fen"]},
            after=dict(refund),
            reason=reason,
            company_id=payment["company_id"],
        )
    return await _ask_gateway(pool, clients, payment, refund)


async def _ask_gateway(
    pool: asyncpg.Pool,
    clients: Mapping[str, Any],
    payment: Mapping[str, Any],
    refund: Mapping[str, Any],
) -> dict[str, Any]:
    """After the refund's request committed: a gateway refund (still ``requested``) is asked
    at its gateway; anything else is answered as it is."""
    view = dict(refund)
    if refund["status"] != "requested":
        return view
    client = clients.get(payment["channel"])
    if client is None:
        view["gateway_error"] = f"{payment['channel']} is not configured"
        return view
    try:
        report = await client.refund(payment, refund)
    except Exception as exc:
        log.warning("refund request failed", channel=payment["channel"], error=type(exc).__name__)
        view["gateway_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return view
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE refunds SET status = 'processing' "
            "WHERE refund_id = $1 AND status = 'requested'",
            refund["refund_id"],
        )
        if report is not None:
            await confirm_refund(conn, report)
        row = await conn.fetchrow("SELECT * FROM refunds WHERE refund_id = $1", refund["refund_id"])
    return dict(row) if row else view


async def list_refunds(
    pool: asyncpg.Pool,
    principal: Principal,
    payment_id: str,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The refunds of a payment the caller may see (404 otherwise) in the order they were
    asked, ``limit`` after the key ``after`` (``requested_at``, ``refund_id``)."""
    await access.payment(pool, principal, payment_id)
    rows = await pool.fetch(
        "SELECT * FROM refunds WHERE payment_id = $1 AND ($2::timestamptz IS NULL OR "
        "(requested_at, refund_id) > ($2, $3)) ORDER BY requested_at, refund_id LIMIT $4",
        payment_id,
        *(after or (None, None)),
        limit,
    )
    return [dict(r) for r in rows]


async def decide_refund(
    pool: asyncpg.Pool,
    clients: Mapping[str, Any],
    principal: Principal,
    refund_id: str,
    approve: bool,
    note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The second person's word on a refund waiting for approval (404 for one the caller may
    not see; 403 for the person who asked; 409 unless ``pending_approval``). Approved, it
    runs the path every refund runs (``request_refund``'s confirmation at the counter, then
    ``_ask_gateway``); rejected, its amount is free again. Audited (``refund.approved`` /
    ``refund.rejected``)."""
    async with pool.acquire() as conn, conn.transaction():
        refund = await access.refund(conn, principal, refund_id, for_update=True)
        if refund["status"] != "pending_approval":
            raise Conflict(
                f"refund {refund_id} is {refund['status']}: only a refund waiting for "
                "approval can be approved or rejected",
                refused="not_pending",
            )
        if refund["requested_subject"] == principal.subject:
            raise Forbidden(
                f"refund {refund_id}: the person who asked for a refund cannot approve or "
                "reject it; a second member of staff decides",
                refused="same_person",
            )
        payment = await access.payment(conn, principal, refund["payment_id"], for_update=True)
        await conn.execute(
            "UPDATE refunds SET status = $2, decided_by = $3, decided_at = $4, "
            "decision_note = $5 WHERE refund_id = $1",
            refund_id,
            "requested" if approve else "rejected",
            principal.subject,
            now,
            note,
        )
        at_counter = payment["gateway"] in COUNTER_GATEWAYS or payment["gateway"] is None
        if approve and at_counter:
            await _confirm(conn, refund_id, refund_id, now)
        row = await conn.fetchrow("SELECT * FROM refunds WHERE refund_id = $1", refund_id)
        assert row is not None
        await audit.record(
            conn,
            principal,
            "refund.approved" if approve else "refund.rejected",
            "refund",
            refund_id,
            community_id=payment["community_id"],
            unit_id=payment["unit_id"],
            before={"status": "pending_approval", "requested_by": refund["requested_by"]},
            after=dict(row),
            reason=note or refund["reason"],
            company_id=payment["company_id"],
        )
    return await _ask_gateway(pool, clients, payment, row)


async def list_community_refunds(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    status: str | None,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A community's refunds (404 for one the caller may not see) with their payment's unit
    and channel, oldest first, ``limit`` after the key ``after`` (``requested_at``,
    ``refund_id``); ``status`` filters (``pending_approval``: the second person's queue)."""
    await access.community(pool, principal, community_id)
    rows = await pool.fetch(
        "SELECT r.*, p.community_id, p.unit_id, p.channel, p.amount_fen AS payment_amount_fen "
        "FROM refunds r JOIN payments p USING (payment_id) "
        "WHERE p.community_id = $1 AND ($2::text IS NULL OR r.status = $2) "
        "AND ($3::timestamptz IS NULL OR (r.requested_at, r.refund_id) > ($3, $4)) "
        "ORDER BY r.requested_at, r.refund_id LIMIT $5",
        community_id,
        status,
        *(after or (None, None)),
        limit,
    )
    return [dict(r) for r in rows]
