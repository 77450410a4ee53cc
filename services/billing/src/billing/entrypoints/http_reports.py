"""Receivable reports: cursor pages of JSON, or the whole report as CSV or XLSX.

The JSON answers are cursor pages (``limit``, ``cursor``; keyset on the report's grouping
key), like every collection. A download (``format=csv|xlsx``) is the whole report, every row
in one file: ``limit`` and ``cursor`` do not apply to it."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response

from billing.entrypoints import security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_reports import (
    AgingBucketOut,
    CollectionRowOut,
    OnTimeRowOut,
    RecoveryOut,
)
from billing.entrypoints.security import ReportReader
from billing.entrypoints.tabular import DOWNLOADS, PAGED_DOWNLOADS, Format, tabular
from billing.service_layer import reports
from billing.service_layer.statements import local_today
from propfee.http import Pool
from propfee.paging import Page, PageQuery

router = APIRouter(prefix="/communities/{community_id}/reports", tags=["reports"])


async def _as_of(conn: Any, community_id: str, value: date | None) -> date:
    """The date asked for, else today in the community's time zone."""
    return value or await local_today(conn, community_id=community_id)


def _bucket(value: Any) -> str:
    """An aging bucket from a cursor (``ValueError``, so 422, when it is not one)."""
    if value not in reports.BUCKET_LABELS:
        raise ValueError(value)
    return str(value)


@router.get("/collection", response_model=Page[CollectionRowOut], responses=PAGED_DOWNLOADS)
async def get_collection_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    page: PageQuery,
    request: Request,
    response: Response,
    as_of: date | None = None,
    by: reports.GroupBy = "month",
    collection: reports.Collection | None = None,
    format: Format = "json",
) -> Page[CollectionRowOut] | Response:
    """Collection rate (collected / billed) by community, building, fee item or month, one
    row per key and collection: the property fee and utilities collected on behalf of
    suppliers (水电暖代收) apart. ``collection`` keeps one of them. JSON: cursor pages in
    (key, collection) order; CSV/XLSX: every row."""
    paged = format == "json"
    after = page.after_as(str, str) if paged else None
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        rows = await reports.collection(
            conn,
            community_id,
            start,
            end,
            await _as_of(conn, community_id, as_of),
            by,
            collection,
            after=(after[0], after[1]) if after else None,
            limit=page.fetch if paged else None,
        )
    if paged:
        return page.build(
            [CollectionRowOut(**r) for r in rows],
            key=lambda r: [r.key, r.collection],
            request=request,
            response=response,
        )
    columns = ["key", "collection", "billed_fen", "collected_fen", "collection_rate", "households"]
    return tabular(rows, columns, f"collection-by-{by}", format)


@router.get("/on-time", response_model=Page[OnTimeRowOut], responses=PAGED_DOWNLOADS)
async def get_on_time_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    start: date,
    end: date,
    page: PageQuery,
    request: Request,
    response: Response,
    by: reports.GroupBy = "month",
    format: Format = "json",
) -> Page[OnTimeRowOut] | Response:
    """On-time rate by month, building or community: households that paid every invoice of
    the month by its due date (``by=fee_item`` is 422: it counts households). JSON: cursor
    pages in key order; CSV/XLSX: every row."""
    paged = format == "json"
    after = page.after_as(str) if paged else None
    with domain_errors():
        async with pool.acquire() as conn:
            await security.community(conn, principal, community_id)
            rows = await reports.on_time(
                conn,
                community_id,
                start,
                end,
                by,
                after=after[0] if after else None,
                limit=page.fetch if paged else None,
            )
    if paged:
        return page.build(
            [OnTimeRowOut(**r) for r in rows],
            key=lambda r: [r.key],
            request=request,
            response=response,
        )
    return tabular(rows, ["key", "households", "on_time", "on_time_rate"], "on-time", format)


@router.get("/aging", response_model=Page[AgingBucketOut], responses=PAGED_DOWNLOADS)
async def get_aging_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    page: PageQuery,
    request: Request,
    response: Response,
    as_of: date | None = None,
    collection: reports.Collection | None = None,
    unit_id: str | None = None,
    by: reports.AgingBy | None = None,
    format: Format = "json",
) -> Page[AgingBucketOut] | Response:
    """Outstanding principal by age bucket (0-30 ... 365+ days overdue, always five rows),
    each bucket split into the property fee and utilities (``property_fen``,
    ``utilities_fen``); ``collection`` keeps one of them, ``unit_id`` one household of the
    community (404 for a unit outside it). ``by`` (building, fee_item, month of the invoice's
    period) gives the five buckets of every group that owes (``key``; a fee item's share of
    an invoice is in proportion to its lines, to the fen: the groups add up to the total).
    JSON: cursor pages in (key,) age order; CSV/XLSX: every row."""
    paged = format == "json"
    grouped = by is not None and unit_id is None
    after = (page.after_as(str, _bucket) if grouped else page.after_as(_bucket)) if paged else None
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        if unit_id is not None:
            _, rows = await reports.household_aging(
                conn,
                principal,
                unit_id,
                as_of,
                collection,
                community_id=community_id,
                after=after[0] if after else None,
                limit=page.fetch if paged else None,
            )
        elif by is not None:
            rows = await reports.aging_grouped(
                conn,
                community_id,
                await _as_of(conn, community_id, as_of),
                by,
                collection,
                after=(after[0], after[1]) if after else None,
                limit=page.fetch if paged else None,
            )
        else:
            rows = await reports.aging(
                conn,
                community_id,
                await _as_of(conn, community_id, as_of),
                collection,
                after=after[0] if after else None,
                limit=page.fetch if paged else None,
            )
    if paged:
        return page.build(
            [AgingBucketOut(**r) for r in rows],
            key=(lambda r: [r.key, r.bucket]) if grouped else (lambda r: [r.bucket]),
            request=request,
            response=response,
        )
    columns = ["bucket", "outstanding_fen", "property_fen", "utilities_fen", "households"]
    if grouped:
        return tabular(rows, ["key", *columns, "invoices"], f"aging-by-{by}", format)
    return tabular(rows, [*columns, "invoices"], "aging", format)


@router.get("/recovery", response_model=RecoveryOut, responses=DOWNLOADS)
async def get_recovery_report(
    community_id: str,
    pool: Pool,
    principal: ReportReader,
    as_of: date | None = None,
    format: Format = "json",
) -> RecoveryOut | Response:
    """Historical-arrears recovery: opening arrears collected / opening arrears. JSON, or
    the same one row as CSV/XLSX (``format``)."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        row = await reports.recovery(conn, community_id, await _as_of(conn, community_id, as_of))
    if format == "json":
        return RecoveryOut(**row)
    columns = ["opening_fen", "recovered_fen", "recovery_rate", "households"]
    return tabular([row], columns, "recovery", format)
