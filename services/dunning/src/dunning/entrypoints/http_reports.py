"""Evidence bundles (PDF, ZIP) and KPIs (JSON, CSV)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from dunning.adapters.evidence_files import render_pdf, render_zip
from dunning.service_layer import evidence, kpis
from propfee.http import Pool

router = APIRouter(tags=["reports"])
By = Literal["community", "stage", "channel", "staff"]


async def _bundle(pool: Any, case_id: str) -> dict[str, Any]:
    try:
        async with pool.acquire() as conn:
            return await evidence.gather(conn, case_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/cases/{case_id}/evidence")
async def evidence_json(case_id: str, pool: Pool) -> dict[str, Any]:
    return await _bundle(pool, case_id)


@router.get("/cases/{case_id}/evidence.pdf", response_class=Response)
async def evidence_pdf(case_id: str, pool: Pool) -> Response:
    pdf = render_pdf(await _bundle(pool, case_id))
    headers = {"Content-Disposition": f'attachment; filename="{case_id}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/cases/{case_id}/evidence.zip", response_class=Response)
async def evidence_zip(case_id: str, pool: Pool) -> Response:
    data = render_zip(await _bundle(pool, case_id))
    headers = {"Content-Disposition": f'attachment; filename="{case_id}.zip"'}
    return Response(data, media_type="application/zip", headers=headers)


async def _kpis(request: Request, pool: Any, by: str, start: date, end: date) -> list[Any]:
    costs = request.app.state.settings.channel_costs_fen
    async with pool.acquire() as conn:
        return await kpis.chase_kpis(conn, by, start, end, costs)


@router.get("/kpis")
async def kpis_json(
    request: Request, pool: Pool, start: date, end: date, by: By = "community"
) -> dict[str, Any]:
    """Success rate, cost per chase and complaint rate by ``by`` for chases in [start, end);
    historical recovery of arrears due before ``start``; tier counts in [start, end)."""
    rows = await _kpis(request, pool, by, start, end)
    async with pool.acquire() as conn:
        recovered = await kpis.recovery(conn, start)
        tiers = await kpis.tier_counts(conn, start, end, None)
    return {"by": by, "rows": rows, "historical_recovery": recovered, "tier_counts": tiers}


@router.get("/kpis.csv", response_class=Response)
async def kpis_csv(
    request: Request, pool: Pool, start: date, end: date, by: By = "community"
) -> Response:
    rows = await _kpis(request, pool, by, start, end)
    out = io.StringIO()
    fields = [by, "chased", "paid_after_chase", "success_rate", "cost_fen",
              "cost_per_chase_fen", "complaints", "complaint_rate"]  # fmt: skip
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/kpis/tiers")
async def tiers(
    pool: Pool, start: date, end: date, community_id: str | None = None
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return await kpis.tier_counts(conn, start, end, community_id)


@router.get("/limitation")
async def limitation(pool: Pool, as_of: date, within_days: int = 183) -> list[dict[str, Any]]:
    """Open invoices whose limitation period ends within ``within_days`` of ``as_of`` or has
    ended ("voluntary payment only")."""
    rows = await pool.fetch(
        "SELECT invoice_id, unit_id, community_id, due_date, limitation_expires_on, "
        "limitation_expires_on <= $1 AS voluntary_only FROM receivables "
        "WHERE issued AND NOT settled AND limitation_expires_on <= $1 + $2::integer "
        "ORDER BY limitation_expires_on, invoice_id LIMIT 5000",
        as_of,
        within_days,
    )
    return [dict(r) for r in rows]
