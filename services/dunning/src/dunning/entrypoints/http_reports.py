"""Reports: KPIs (JSON, CSV), tier counts, limitation clocks. (The evidence bundle for a
court is ``http_evidence``.)

Reports are aggregates under ``/reports/...`` (the owners' committee reaches those, and only
those, never figures per staff member). The older ``/kpis``, ``/kpis.csv``, ``/kpis/tiers``
stay for staff, and ``/limitation`` lists invoices one by one (not for the committee).
Everything is filtered, in SQL, by the caller's company and communities."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from dunning.entrypoints import security
from dunning.service_layer import kpis
from propfee.auth import Principal
from propfee.documents import spreadsheet_cell
from propfee.http import Pool

router = APIRouter(tags=["reports"])
By = Literal["community", "stage", "channel", "staff"]
WithinDays = Annotated[int, Query(ge=0, le=36_500)]


async def _kpis(
    request: Request, pool: Any, principal: Principal, by: str, start: date, end: date
) -> dict[str, Any]:
    if by == "staff" and not principal.has_any(security.STAFF_REPORT):
        raise HTTPException(403, "figures per staff member are not for your role")
    costs = request.app.state.settings.channel_costs_fen
    scope = principal.sql_scope()
    async with pool.acquire() as conn:
        rows = await kpis.chase_kpis(conn, by, start, end, costs, scope)
        recovered = await kpis.recovery(conn, start, scope)
        tiers = await kpis.tier_counts(conn, start, end, None, scope)
    return {"by": by, "rows": rows, "historical_recovery": recovered, "tier_counts": tiers}


def _csv(by: str, rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    fields = [by, "chased", "paid_after_chase", "success_rate", "cost_fen",
              "cost_per_chase_fen", "complaints", "complaint_rate"]  # fmt: skip
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: spreadsheet_cell(v) for k, v in r.items()} for r in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/reports/kpis")
async def get_kpi_report(
    request: Request,
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> dict[str, Any]:
    """Success rate, cost per chase and complaint rate by ``by`` for chases in [start, end);
    historical recovery of arrears due before ``start``; tier counts in [start, end).
    ``by=staff`` is not for the owners' committee (403)."""
    return await _kpis(request, pool, principal, by, start, end)


@router.get("/reports/kpis.csv", response_class=Response)
async def download_kpi_report_csv(
    request: Request,
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    return _csv(by, (await _kpis(request, pool, principal, by, start, end))["rows"])


@router.get("/reports/kpis/tiers")
async def list_tier_report(
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    community_id: str | None = None,
) -> list[dict[str, Any]]:
    """Cases and amounts per tier per community, one snapshot per sweep day."""
    async with pool.acquire() as conn:
        return await kpis.tier_counts(conn, start, end, community_id, principal.sql_scope())


@router.get("/reports/limitation")
async def list_limitation_report(
    pool: Pool, principal: security.ReportReader, as_of: date, within_days: WithinDays = 183
) -> list[dict[str, Any]]:
    """Per community: open invoices whose limitation period ends within ``within_days`` of
    ``as_of`` or has ended ("voluntary payment only"), counted, with the amount."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT community_id, count(*) AS invoices, "
        "count(*) FILTER (WHERE limitation_expires_on < $1) AS voluntary_only, "
        "sum(coalesce(principal_outstanding_fen, total_fen))::bigint AS outstanding_fen, "
        "min(limitation_expires_on) AS earliest_expiry FROM receivables "
        "WHERE issued AND NOT settled AND limitation_expires_on <= $1 + $2::integer "
        f"AND {security.scope_sql('receivables.community_id', 3, 4)} "
        "GROUP BY community_id ORDER BY community_id",
        as_of,
        within_days,
        company,
        communities,
    )
    return [dict(r) for r in rows]


@router.get("/kpis")
async def get_kpis(
    request: Request,
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> dict[str, Any]:
    """As ``/reports/kpis``, for staff."""
    return await _kpis(request, pool, principal, by, start, end)


@router.get("/kpis.csv", response_class=Response)
async def download_kpis_csv(
    request: Request,
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    return _csv(by, (await _kpis(request, pool, principal, by, start, end))["rows"])


@router.get("/kpis/tiers")
async def list_tier_counts(
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    community_id: str | None = None,
) -> list[dict[str, Any]]:
    """As ``/reports/kpis/tiers``, for staff."""
    async with pool.acquire() as conn:
        return await kpis.tier_counts(conn, start, end, community_id, principal.sql_scope())


@router.get("/limitation")
async def list_limitation_clocks(
    pool: Pool, principal: security.LimitationReader, as_of: date, within_days: WithinDays = 183
) -> list[dict[str, Any]]:
    """Open invoices whose limitation period ends within ``within_days`` of ``as_of`` or has
    ended ("voluntary payment only"), one by one."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT invoice_id, unit_id, community_id, due_date, limitation_expires_on, "
        "limitation_expires_on < $1 AS voluntary_only FROM receivables "
        "WHERE issued AND NOT settled AND limitation_expires_on <= $1 + $2::integer "
        f"AND {security.scope_sql('receivables.community_id', 3, 4)} "
        "ORDER BY limitation_expires_on, invoice_id LIMIT 5000",
        as_of,
        within_days,
        company,
        communities,
    )
    return [dict(r) for r in rows]
