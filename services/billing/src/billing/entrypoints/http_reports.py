"""Receivable reports: JSON, CSV or XLSX."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response

from billing.entrypoints import security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.http_accounts import Format, tabular
from billing.entrypoints.security import ReportReader
from billing.service_layer import reports
from billing.service_layer.statements import local_today
from propfee.http import Pool

router = APIRouter(prefix="/communities/{community_id}/reports", tags=["reports"])


async def _as_of(conn: Any, community_id: str, value: date | None) -> date:
    """The date asked for, else today in the community's time zone."""
    return value or await local_today(conn, community_id=community_id)


@router.get("/collection", response_model=None)
async def collection(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    as_of: date | None = None,
    by: reports.GroupBy = "month",
    collection: reports.Collection | None = None,
    format: Format = "json",
) -> list[dict[str, Any]] | Response:
    """Collection rate (collected / billed) by community, building, fee item or month, one
    row per key and collection: the property fee and utilities collected on behalf of
    suppliers (水电暖代收) apart. ``collection`` keeps one of them."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        rows = await reports.collection(
            conn, community_id, start, end, await _as_of(conn, community_id, as_of), by, collection
        )
    if format == "json":
        return rows
    columns = ["key", "collection", "billed_fen", "collected_fen", "collection_rate", "households"]
    return tabular(rows, columns, f"collection-by-{by}", format)


@router.get("/on-time", response_model=None)
async def on_time(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    by: reports.GroupBy = "month",
    format: Format = "json",
) -> list[dict[str, Any]] | Response:
    """On-time rate by month, building or community: households that paid every invoice of
    the month by its due date."""
    with domain_errors():
        async with pool.acquire() as conn:
            await security.community(conn, principal, community_id)
            rows = await reports.on_time(conn, community_id, start, end, by)
    if format == "json":
        return rows
    return tabular(rows, ["key", "households", "on_time", "on_time_rate"], "on-time", format)


@router.get("/aging", response_model=None)
async def aging(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    as_of: date | None = None,
    collection: reports.Collection | None = None,
    format: Format = "json",
) -> list[dict[str, Any]] | Response:
    """Outstanding principal by age bucket (0-30 ... 365+ days overdue), each bucket split
    into the property fee and utilities (``property_fen``, ``utilities_fen``);
    ``collection`` keeps one of them."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        rows = await reports.aging(
            conn, community_id, await _as_of(conn, community_id, as_of), collection
        )
    if format == "json":
        return rows
    columns = ["bucket", "outstanding_fen", "property_fen", "utilities_fen", "households"]
    return tabular(rows, [*columns, "invoices"], "aging", format)


@router.get("/recovery")
async def recovery(
    community_id: str, pool: Pool, principal: ReportReader, as_of: date | None = None
) -> dict[str, Any]:
    """Historical-arrears recovery: opening arrears collected / opening arrears."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        return await reports.recovery(conn, community_id, await _as_of(conn, community_id, as_of))
