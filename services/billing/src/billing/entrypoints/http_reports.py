"""Receivable reports: JSON, CSV or XLSX."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response

from billing.entrypoints import security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_reports import (
    AgingBucketOut,
    CollectionRowOut,
    OnTimeRowOut,
    RecoveryOut,
)
from billing.entrypoints.security import ReportReader
from billing.entrypoints.tabular import DOWNLOADS, Format, tabular
from billing.service_layer import reports
from billing.service_layer.statements import local_today
from propfee.http import Pool

router = APIRouter(prefix="/communities/{community_id}/reports", tags=["reports"])


async def _as_of(conn: Any, community_id: str, value: date | None) -> date:
    """The date asked for, else today in the community's time zone."""
    return value or await local_today(conn, community_id=community_id)


@router.get("/collection", response_model=list[CollectionRowOut], responses=DOWNLOADS)
async def get_collection_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    as_of: date | None = None,
    by: reports.GroupBy = "month",
    collection: reports.Collection | None = None,
    format: Format = "json",
) -> list[CollectionRowOut] | Response:
    """Collection rate (collected / billed) by community, building, fee item or month, one
    row per key and collection: the property fee and utilities collected on behalf of
    suppliers (水电暖代收) apart. ``collection`` keeps one of them. A report: every row at
    once (one per key), not a paged collection."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        rows = await reports.collection(
            conn, community_id, start, end, await _as_of(conn, community_id, as_of), by, collection
        )
    if format == "json":
        return [CollectionRowOut(**r) for r in rows]
    columns = ["key", "collection", "billed_fen", "collected_fen", "collection_rate", "households"]
    return tabular(rows, columns, f"collection-by-{by}", format)


@router.get("/on-time", response_model=list[OnTimeRowOut], responses=DOWNLOADS)
async def get_on_time_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    by: reports.GroupBy = "month",
    format: Format = "json",
) -> list[OnTimeRowOut] | Response:
    """On-time rate by month, building or community: households that paid every invoice of
    the month by its due date (``by=fee_item`` is 422: it counts households)."""
    with domain_errors():
        async with pool.acquire() as conn:
            await security.community(conn, principal, community_id)
            rows = await reports.on_time(conn, community_id, start, end, by)
    if format == "json":
        return [OnTimeRowOut(**r) for r in rows]
    return tabular(rows, ["key", "households", "on_time", "on_time_rate"], "on-time", format)


@router.get("/aging", response_model=list[AgingBucketOut], responses=DOWNLOADS)
async def get_aging_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    as_of: date | None = None,
    collection: reports.Collection | None = None,
    format: Format = "json",
) -> list[AgingBucketOut] | Response:
    """Outstanding principal by age bucket (0-30 ... 365+ days overdue, always five rows),
    each bucket split into the property fee and utilities (``property_fen``,
    ``utilities_fen``); ``collection`` keeps one of them."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        rows = await reports.aging(
            conn, community_id, await _as_of(conn, community_id, as_of), collection
        )
    if format == "json":
        return [AgingBucketOut(**r) for r in rows]
    columns = ["bucket", "outstanding_fen", "property_fen", "utilities_fen", "households"]
    return tabular(rows, [*columns, "invoices"], "aging", format)


@router.get("/recovery", response_model=RecoveryOut)
async def get_recovery_report(
    community_id: str, pool: Pool, principal: ReportReader, as_of: date | None = None
) -> RecoveryOut:
    """Historical-arrears recovery: opening arrears collected / opening arrears."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        row = await reports.recovery(conn, community_id, await _as_of(conn, community_id, as_of))
    return RecoveryOut(**row)
