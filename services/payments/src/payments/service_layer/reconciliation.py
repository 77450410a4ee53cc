"""Import a gateway statement for a day, match it, keep discrepancies open for a person."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import asyncpg

from payments.domain.reconciliation import Recorded, reconcile
from payments.domain.statements import parse_alipay_bill, parse_wechat_bill
from payments.service_layer import access
from payments.service_layer.accounts import MerchantAccount, statement_account
from propfee import audit, uploads
from propfee.auth import Principal
from propfee.money import MoneyError
from propfee.problems import Conflict, InvalidInput

PARSERS = {"wechatpay": parse_wechat_bill, "alipay": parse_alipay_bill}


async def import_statement(
    conn: asyncpg.Connection,
    account: MerchantAccount,
    bill_date: date,
    text: str,
    now: datetime,
) -> dict[str, Any]:
    """Inside a transaction; re-importing a day keeps resolved discrepancies resolved, and
    importing the same statement again changes nothing (not even the import's time). The
    import and its discrepancies belong to the merchant account (and its company). The
    account is the gateway's one configured account: its payments are the gateway's."""
    gateway = account.gateway
    rows = PARSERS[gateway](text)
    recorded = await conn.fetch(
        "SELECT 'payment' AS kind, gateway_transaction_id AS reference, amount_fen FROM payments "
        "WHERE gateway = $1 AND (paid_at AT TIME ZONE 'Asia/Shanghai')::date = $2 "
        "UNION ALL "
        "SELECT 'refund', r.out_refund_no, r.amount_fen FROM refunds r "
        "JOIN payments p USING (payment_id) WHERE p.gateway = $1 AND r.status = 'succeeded' "
        "AND (r.refunded_at AT TIME ZONE 'Asia/Shanghai')::date = $2",
        gateway,
        bill_date,
    )
    summary = reconcile(
        rows, [Recorded(r["kind"], r["reference"], r["amount_fen"]) for r in recorded]
    )
    await conn.execute(
        "INSERT INTO statement_imports AS s (gateway, bill_date, imported_at, payments_fen, "
        "refunds_fen, fee_fen, matched, merchant_id, company_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (gateway, merchant_id, bill_date) DO UPDATE SET imported_at = $3, "
        "payments_fen = $4, refunds_fen = $5, fee_fen = $6, matched = $7 "
        "WHERE (s.payments_fen, s.refunds_fen, s.fee_fen, s.matched) "
        "IS DISTINCT FROM ($4, $5, $6, $7)",
        gateway,
        bill_date,
        now,
        summary.gateway_payments_fen,
        summary.gateway_refunds_fen,
        summary.fee_fen,
        summary.count("matched"),
        account.merchant_id,
        account.company_id,
    )
    open_lines = [ln for ln in summary.lines if ln.result != "matched"]
    await conn.execute(
        "INSERT INTO discrepancies (gateway, bill_date, kind, reference, result, gateway_fen, "
        "recorded_fen, found_at, merchant_id, company_id) "
        "SELECT $1, $2, k, r, res, g, o, $8, $9, $10 FROM unnest($3::text[], "
        "$4::text[], $5::text[], $6::bigint[], $7::bigint[]) AS x(k, r, res, g, o) "
        "ON CONFLICT (gateway, merchant_id, bill_date, kind, reference) DO NOTHING",
        gateway,
        bill_date,
        [ln.kind for ln in open_lines],
        [ln.reference for ln in open_lines],
        [ln.result for ln in open_lines],
        [ln.gateway_fen for ln in open_lines],
        [ln.recorded_fen for ln in open_lines],
        now,
        account.merchant_id,
        account.company_id,
    )
    counts = {
        r: summary.count(r)
        for r in ("matched", "missing_here", "missing_at_gateway", "amount_mismatch")
    }
    return {
        "gateway": gateway,
        "merchant_id": account.merchant_id,
        "bill_date": bill_date.isoformat(),
        **counts,
        "fee_fen": summary.fee_fen,
        "gateway_payments_fen": summary.gateway_payments_fen,
        "gateway_refunds_fen": summary.gateway_refunds_fen,
    }


async def daily_close(
    conn: asyncpg.Connection,
    day: date,
    scope: tuple[str | None, list[str] | None] = (None, None),
) -> list[dict[str, Any]]:
    """日清日结: per community and channel, what came in and went out that day (integer fen:
    PostgreSQL's sum of bigint is numeric, so it is cast back). ``scope`` is the caller's
    ``principal.sql_scope()`` (communities as payments knows their company)."""
    rows = await conn.fetch(
        "WITH p AS (SELECT community_id, channel, count(*) AS payments, sum(amount_fen)::bigint AS "
        "received_fen FROM payments WHERE (paid_at AT TIME ZONE 'Asia/Shanghai')::date = $1 "
        "GROUP BY 1, 2), "
        "r AS (SELECT p.community_id, p.channel, count(*) AS refunds, sum(r.amount_fen)::bigint AS "
        "refunded_fen FROM refunds r JOIN payments p USING (payment_id) WHERE r.status = "
        "'succeeded' AND (r.refunded_at AT TIME ZONE 'Asia/Shanghai')::date = $1 GROUP BY 1, 2) "
        "SELECT * FROM (SELECT community_id, channel, coalesce(payments, 0) AS payments, "
        "coalesce(received_fen, 0) AS received_fen, coalesce(refunds, 0) AS refunds, "
        "coalesce(refunded_fen, 0) AS refunded_fen, "
        "coalesce(received_fen, 0) - coalesce(refunded_fen, 0) AS net_fen "
        "FROM p FULL JOIN r USING (community_id, channel)) d "
        "WHERE ($2::text IS NULL OR EXISTS (SELECT 1 FROM communities sc "
        "WHERE sc.community_id = d.community_id AND sc.company_id = $2)) "
        "AND ($3::text[] IS NULL OR d.community_id = ANY($3)) "
        "ORDER BY d.community_id, d.channel",
        day,
        *scope,
    )
    return [dict(r) for r in rows]


async def import_statement_file(
    pool: asyncpg.Pool,
    principal: Principal,
    gateway: str,
    bill_date: date,
    merchant_id: str | None,
    raw: bytes,
    limits: uploads.Limits,
    now: datetime,
) -> dict[str, Any]:
    """A gateway's statement file for a merchant account of the caller's company (company-wide
    callers only; 404 otherwise), within the upload limits (413, 422 naming the row),
    imported and audited (``statement.imported``, with the file's SHA-256). UTF-8, or
    Alipay's GBK files as they come."""
    access.gateway_level(principal, f"{gateway} statements")
    account = await statement_account(pool, principal, gateway, merchant_id)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    uploads.check_csv(text, limits)
    async with pool.acquire() as conn, conn.transaction():
        try:
            summary = await import_statement(conn, account, bill_date, text, now)
        except (KeyError, MoneyError, ValueError) as exc:
            raise InvalidInput(f"not a {gateway} statement: {exc}") from exc
        await audit.record(
            conn,
            principal,
            "statement.imported",
            "statement",
            f"{gateway}:{account.merchant_id}:{bill_date.isoformat()}",
            community_id=None,
            after={**summary, "sha256": hashlib.sha256(raw).hexdigest()},
            company_id=account.company_id,
        )
    return summary


async def list_discrepancies(
    pool: asyncpg.Pool,
    principal: Principal,
    status: str,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Gateway-level: the discrepancies of the caller's company's merchant accounts (none for
    callers whose token names its communities), by day, gateway and account, ``limit`` after
    the key ``after`` (``bill_date``, ``gateway``, ``merchant_id``, ``discrepancy_id``)."""
    rows = await pool.fetch(
        "SELECT * FROM discrepancies d WHERE status = $1 AND "
        + access.merchant_sql("d.company_id", 2, 3)
        + " AND ($4::date IS NULL OR (d.bill_date, d.gateway, d.merchant_id, d.discrepancy_id)"
        " > ($4, $5, $6, $7)) ORDER BY bill_date, gateway, merchant_id, discrepancy_id LIMIT $8",
        status,
        *principal.sql_scope(),
        *(after or (None, None, None, None)),
        limit,
    )
    return [dict(r) for r in rows]


async def resolve_discrepancy(
    pool: asyncpg.Pool,
    principal: Principal,
    discrepancy_id: str,
    note: str,
    resolved_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Close an open discrepancy (409 when it is not open) with a note; audited
    (``discrepancy.resolved``)."""
    async with pool.acquire() as conn, conn.transaction():
        before = await access.discrepancy(conn, principal, discrepancy_id)
        row = await conn.fetchrow(
            "UPDATE discrepancies SET status = 'resolved', note = $2, resolved_by = $3, "
            "resolved_at = $4 WHERE discrepancy_id = $1 AND status = 'open' RETURNING *",
            discrepancy_id,
            note,
            resolved_by,
            now,
        )
        if row is None:
            raise Conflict("no open discrepancy with this id")
        await audit.record(
            conn,
            principal,
            "discrepancy.resolved",
            "discrepancy",
            discrepancy_id,
            community_id=None,
            before=dict(before),
            after=dict(row),
            reason=note,
            company_id=before["company_id"],
        )
    return dict(row)
