"""Reconciliation over HTTP: statement import, discrepancies, the daily close report, totals.

Statements and discrepancies are gateway-level: each belongs to a merchant account and so to
the company owning it (``service_layer.accounts``); only that company's company-wide tokens
reach them. The reports are filtered by the caller's communities and company.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from payments.entrypoints import security
from payments.entrypoints.security import FinanceReader, FinanceWriter, ReportReader
from payments.service_layer.accounts import AmbiguousAccount, statement_account
from payments.service_layer.reconciliation import daily_close, import_statement
from payments.service_layer.reports import totals
from propfee import audit, uploads
from propfee.http import Pool
from propfee.money import MoneyError

router = APIRouter(tags=["reconciliation"])


@router.post("/reconciliation/{gateway}/{bill_date}")
async def import_bill(
    gateway: Literal["wechatpay", "alipay"],
    bill_date: date,
    request: Request,
    pool: Pool,
    principal: FinanceWriter,
    limits: uploads.Limits,
    merchant_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The merchant account (mchid / app_id); default: the caller's "
            "company's account of the gateway",
        ),
    ] = None,
) -> dict[str, Any]:
    """Body: the gateway's statement CSV for the day (UTF-8; Alipay's GBK files re-encoded).
    For a merchant account of the caller's company (404 for another company's); company-wide
    callers only; audited (``statement.imported``). Past the upload limits: 413, or 422 naming
    the row and column (``propfee.uploads``)."""
    security.gateway_level(principal, f"{gateway} statements")
    try:
        account = await statement_account(pool, principal, gateway, merchant_id)
    except AmbiguousAccount as exc:
        raise HTTPException(422, str(exc)) from exc
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    uploads.check_csv(text, limits)
    async with pool.acquire() as conn, conn.transaction():
        try:
            summary = await import_statement(conn, account, bill_date, text, datetime.now(UTC))
        except (KeyError, MoneyError, ValueError) as exc:
            raise HTTPException(422, f"not a {gateway} statement: {exc}") from exc
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


@router.get("/discrepancies")
async def discrepancies(
    pool: Pool,
    principal: FinanceReader,
    status: Annotated[str, Query(max_length=32)] = "open",
) -> list[dict[str, Any]]:
    """Gateway-level: the discrepancies of the caller's company's merchant accounts; empty for
    callers whose token names its communities."""
    rows = await pool.fetch(
        "SELECT * FROM discrepancies d WHERE status = $1 AND "
        + security.merchant_sql("d.company_id", 2, 3)
        + " ORDER BY bill_date, gateway, merchant_id",
        status,
        *principal.sql_scope(),
    )
    return [dict(r) for r in rows]


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)
    resolved_by: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the token's subject"
    )


@router.post("/discrepancies/{discrepancy_id}/resolve")
async def resolve_discrepancy(
    discrepancy_id: str, body: ResolveIn, pool: Pool, principal: FinanceWriter
) -> dict[str, Any]:
    """Close a discrepancy with a note; audited (``discrepancy.resolved``)."""
    async with pool.acquire() as conn, conn.transaction():
        before = await security.discrepancy(conn, principal, discrepancy_id)
        row = await conn.fetchrow(
            "UPDATE discrepancies SET status = 'resolved', note = $2, resolved_by = $3, "
            "resolved_at = $4 WHERE discrepancy_id = $1 AND status = 'open' RETURNING *",
            discrepancy_id,
            body.note,
            body.resolved_by or principal.subject[:64],
            datetime.now(UTC),
        )
        if row is None:
            raise HTTPException(409, "no open discrepancy with this id")
        await audit.record(
            conn,
            principal,
            "discrepancy.resolved",
            "discrepancy",
            discrepancy_id,
            community_id=None,
            before=dict(before),
            after=dict(row),
            reason=body.note,
            company_id=before["company_id"],
        )
    return dict(row)


@router.get("/reports/daily-close")
async def daily_close_report(day: date, pool: Pool, principal: FinanceReader) -> dict[str, Any]:
    """日清日结 of the caller's communities; the statements imported and the open discrepancies
    (gateway-level: of the company's merchant accounts) only for company-wide callers
    (``null`` otherwise)."""
    company_wide = security.reaches_gateway_level(principal)
    scope = principal.sql_scope()
    async with pool.acquire() as conn:
        lines = await daily_close(conn, day, scope)
        open_exceptions = await conn.fetchval(
            "SELECT count(*) FROM payment_exceptions e WHERE status = 'open' AND "
            + security.scope_sql("e.community_id", 1, 2, gateway_level="e.company_id"),
            *scope,
        )
        open_discrepancies = None
        imports = None
        if company_wide:
            open_discrepancies = await conn.fetchval(
                "SELECT count(*) FROM discrepancies d WHERE status = 'open' AND bill_date <= $1 "
                "AND " + security.merchant_sql("d.company_id", 2, 3),
                day,
                *scope,
            )
            imports = [
                dict(r)
                for r in await conn.fetch(
                    "SELECT * FROM statement_imports s WHERE bill_date = $1 AND "
                    + security.merchant_sql("s.company_id", 2, 3)
                    + " ORDER BY gateway, merchant_id",
                    day,
                    *scope,
                )
            ]
    return {
        "day": day.isoformat(),
        "by_community_and_channel": lines,
        "statements": imports,
        "open_exceptions": open_exceptions,
        "open_discrepancies": open_discrepancies,
    }


@router.get("/reports/totals")
async def totals_report(
    pool: Pool,
    principal: ReportReader,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Everything payments holds, in fen: payments received, refunds confirmed, exceptions
    open and resolved (count, amount_fen), net received; overall and by channel. Every
    community the caller sees unless ``community_id`` is given (aggregates only)."""
    async with pool.acquire() as conn:
        if community_id is not None:
            await security.community(conn, principal, community_id)
        return await totals(conn, community_id, principal.sql_scope())
