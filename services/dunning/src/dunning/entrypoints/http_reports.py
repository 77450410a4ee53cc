"""Reports: KPIs (JSON, CSV, XLSX), tier counts, limitation clocks. (The evidence bundle for a
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

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from dunning.adapters.kpi_workbook import XLSX_TYPE, kpi_workbook
from dunning.entrypoints import security
from dunning.entrypoints.models import KpiReport, LimitationByCommunity, LimitationClock, TierCount
from dunning.service_layer import kpis, reads
from propfee.auth import Principal
from propfee.documents import spreadsheet_cell
from propfee.http import Pool
from propfee.paging import Page, PageQuery, PageRequest
from propfee.problems import problem_responses

router = APIRouter(tags=["reports"])
By = Literal["community", "stage", "channel", "staff"]
WithinDays = Annotated[int, Query(ge=0, le=36_500)]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
XLSX: dict[int | str, dict[str, Any]] = {
    200: {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
}
#: A scoped community named in the query may answer 404.
SCOPED = problem_responses(404)


async def _kpis(
    request: Request, pool: Any, principal: Principal, by: str, start: date, end: date
) -> KpiReport:
    costs = request.app.state.settings.channel_costs_fen
    return KpiReport.model_validate(await kpis.report(pool, principal, by, start, end, costs))


def _csv(by: str, report: KpiReport) -> Response:
    out = io.StringIO()
    fields = [by, "chased", "paid_after_chase", "success_rate", "cost_fen",
              "cost_per_chase_fen", "complaints", "complaint_rate"]  # fmt: skip
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    rows = (r.model_dump() for r in report.rows)
    writer.writerows({k: spreadsheet_cell(v) for k, v in r.items()} for r in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def _xlsx(report: KpiReport, start: date, end: date) -> Response:
    name = f"dunning-kpis-by-{report.by}-{start}-{end}.xlsx"
    return Response(
        kpi_workbook(report.model_dump()),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _tiers(
    pool: Any, principal: Principal, page: PageRequest, request: Request, response: Response,
    start: date, end: date, community_id: str | None,
) -> Page[TierCount]:  # fmt: skip
    rows = await kpis.tier_report(
        pool, principal, start, end, community_id,
        after=page.after_as(date.fromisoformat, str, str), limit=page.fetch,
    )  # fmt: skip
    items = [TierCount.model_validate(r) for r in rows]
    return page.build(
        items, key=lambda t: [t.as_of_date.isoformat(), t.community_id, t.tier],
        request=request, response=response,
    )  # fmt: skip


@router.get("/reports/kpis")
async def get_kpi_report(
    request: Request,
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> KpiReport:
    """Success rate, cost per chase and complaint rate by ``by`` for chases in [start, end);
    historical recovery of arrears due before ``start``; tier counts in [start, end).
    ``by=staff`` is not for the owners' committee (403)."""
    return await _kpis(request, pool, principal, by, start, end)


@router.get("/reports/kpis.csv", response_class=Response, responses=CSV)
async def download_kpi_report_csv(
    request: Request,
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    return _csv(by, await _kpis(request, pool, principal, by, start, end))


@router.get("/reports/kpis.xlsx", response_class=Response, responses=XLSX)
async def download_kpi_report_xlsx(
    request: Request,
    pool: Pool,
    principal: security.ReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    """The KPI report (``/reports/kpis``, the same parameters) as XLSX: sheets ``kpis``,
    ``historical_recovery`` and ``tier_counts``."""
    return _xlsx(await _kpis(request, pool, principal, by, start, end), start, end)


@router.get("/reports/kpis/tiers", responses=SCOPED)
async def list_tier_report(
    pool: Pool,
    principal: security.ReportReader,
    page: PageQuery,
    request: Request,
    response: Response,
    start: date,
    end: date,
    community_id: str | None = None,
) -> Page[TierCount]:
    """Cases and amounts per tier per community, one snapshot per sweep day."""
    return await _tiers(pool, principal, page, request, response, start, end, community_id)


@router.get("/reports/limitation")
async def list_limitation_report(
    pool: Pool,
    principal: security.ReportReader,
    page: PageQuery,
    request: Request,
    response: Response,
    as_of: date,
    within_days: WithinDays = 183,
) -> Page[LimitationByCommunity]:
    """Per community: open invoices whose limitation period ends within ``within_days`` of
    ``as_of`` or has ended ("voluntary payment only"), counted, with the amount."""
    rows = await reads.limitation_by_community(
        pool, principal, as_of=as_of, within_days=within_days,
        after=page.after_as(str), limit=page.fetch,
    )  # fmt: skip
    items = [LimitationByCommunity.model_validate(dict(r)) for r in rows]
    return page.build(items, key=lambda r: [r.community_id], request=request, response=response)


@router.get("/kpis")
async def get_kpis(
    request: Request,
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> KpiReport:
    """As ``/reports/kpis``, for staff."""
    return await _kpis(request, pool, principal, by, start, end)


@router.get("/kpis.csv", response_class=Response, responses=CSV)
async def download_kpis_csv(
    request: Request,
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    return _csv(by, await _kpis(request, pool, principal, by, start, end))


@router.get("/kpis.xlsx", response_class=Response, responses=XLSX)
async def download_kpis_xlsx(
    request: Request,
    pool: Pool,
    principal: security.StaffReportReader,
    start: date,
    end: date,
    by: By = "community",
) -> Response:
    """As ``/reports/kpis.xlsx``, for staff."""
    return _xlsx(await _kpis(request, pool, principal, by, start, end), start, end)


@router.get("/kpis/tiers", responses=SCOPED)
async def list_tier_counts(
    pool: Pool,
    principal: security.StaffReportReader,
    page: PageQuery,
    request: Request,
    response: Response,
    start: date,
    end: date,
    community_id: str | None = None,
) -> Page[TierCount]:
    """As ``/reports/kpis/tiers``, for staff."""
    return await _tiers(pool, principal, page, request, response, start, end, community_id)


@router.get("/limitation")
async def list_limitation_clocks(
    pool: Pool,
    principal: security.LimitationReader,
    page: PageQuery,
    request: Request,
    response: Response,
    as_of: date,
    within_days: WithinDays = 183,
) -> Page[LimitationClock]:
    """Open invoices whose limitation period ends within ``within_days`` of ``as_of`` or has
    ended ("voluntary payment only"), one by one."""
    rows = await reads.limitation_clocks(
        pool, principal, as_of=as_of, within_days=within_days,
        after=page.after_as(date.fromisoformat, str), limit=page.fetch,
    )  # fmt: skip
    items = [LimitationClock.model_validate(dict(r)) for r in rows]
    return page.build(
        items, key=lambda r: [r.limitation_expires_on, r.invoice_id], request=request,
        response=response,
    )  # fmt: skip
