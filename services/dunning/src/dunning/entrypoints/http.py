"""Dunning's HTTP API (walking skeleton: read the cases)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from propfee.http import Pool

router = APIRouter(tags=["dunning"])

_CASE_COLUMNS = (
    "c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.status, c.on_hold, "
    "c.hold_payment_id, c.opened_at, c.closed_at, "
    "(SELECT coalesce(sum(r.total_fen), 0) FROM receivables r "
    "  WHERE r.unit_id = c.unit_id AND r.issued AND NOT r.settled)::bigint AS outstanding_fen"
)


@router.get("/cases")
async def list_cases(
    pool: Pool, unit_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c "
        "WHERE ($1::text IS NULL OR c.unit_id = $1) AND ($2::text IS NULL OR c.status = $2) "
        "ORDER BY c.opened_at LIMIT 1000",
        unit_id,
        status,
    )
    return [dict(r) for r in rows]


@router.get("/cases/{case_id}")
async def get_case(case_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c WHERE case_id = $1", case_id
    )
    if row is None:
        raise HTTPException(404, f"case {case_id} not found")
    return dict(row)
