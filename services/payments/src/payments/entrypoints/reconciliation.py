"""Reconciliation over HTTP: statement import, discrepancies, the daily close report, totals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from payments.service_layer.reconciliation import daily_close, import_statement
from payments.service_layer.reports import totals
from propfee.http import Pool
from propfee.money import MoneyError

router = APIRouter(tags=["reconciliation"])


@router.post("/reconciliation/{gateway}/{bill_date}")
async def import_bill(
    gateway: Literal["wechatpay", "alipay"], bill_date: date, request: Request, pool: Pool
) -> dict[str, Any]:
    """Body: the gateway's statement CSV for the day (UTF-8; Alipay's GBK files re-encoded)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    async with pool.acquire() as conn, conn.transaction():
        try:
            return await import_statement(conn, gateway, bill_date, text, datetime.now(UTC))
        except (KeyError, MoneyError, ValueError) as exc:
            raise HTTPException(422, f"not a {gateway} statement: {exc}") from exc


@router.get("/discrepancies")
async def discrepancies(pool: Pool, status: str = "open") -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM discrepancies WHERE status = $1 ORDER BY bill_date, gateway", status
    )
    return [dict(r) for r in rows]


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)
    resolved_by: str = Field(min_length=1, max_length=64)


@router.post("/discrepancies/{discrepancy_id}/resolve")
async def resolve(discrepancy_id: str, body: ResolveIn, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "UPDATE discrepancies SET status = 'resolved', note = $2, resolved_by = $3, "
        "resolved_at = $4 WHERE discrepancy_id = $1 AND status = 'open' RETURNING *",
        discrepancy_id,
        body.note,
        body.resolved_by,
        datetime.now(UTC),
    )
    if row is None:
        raise HTTPException(409, "no open discrepancy with this id")
    return dict(row)


@router.get("/reports/daily-close")
async def daily_close_report(day: date, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        lines = await daily_close(conn, day)
        open_exceptions = await conn.fetchval(
            "SELECT count(*) FROM payment_exceptions WHERE status = 'open'"
        )
        open_discrepancies = await conn.fetchval(
            "SELECT count(*) FROM discrepancies WHERE status = 'open' AND bill_date <= $1", day
        )
        imports = await conn.fetch("SELECT * FROM statement_imports WHERE bill_date = $1", day)
    return {
        "day": day.isoformat(),
        "by_community_and_channel": lines,
        "statements": [dict(r) for r in imports],
        "open_exceptions": open_exceptions,
        "open_discrepancies": open_discrepancies,
    }


@router.get("/reports/totals")
async def totals_report(pool: Pool, community_id: str | None = None) -> dict[str, Any]:
    """Everything payments holds, in fen: payments received, refunds confirmed, exceptions
    open and resolved (count, amount_fen), net received; overall and by channel. All
    communities unless ``community_id`` is given."""
    async with pool.acquire() as conn:
        return await totals(conn, community_id)
