"""A household's statement, installment plans and e-invoice requests (receipts: http_receipts)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from billing.adapters.export import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx
from billing.entrypoints import models, security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.security import (
    EInvoiceRecorder,
    EInvoiceRequester,
    PlanWriter,
    Reader,
)
from billing.service_layer import statements
from billing.service_layer.ids import stable_id
from propfee import audit
from propfee.auth import mask_personal, not_found
from propfee.business_time import business_instant, utc_now
from propfee.http import Pool

router = APIRouter(tags=["accounts"])
Format = Literal["json", "csv", "xlsx"]
STATEMENT_COLUMNS = [
    "invoice_id",
    "period_start",
    "due_date",
    "status",
    "total_fen",
    "principal_paid_fen",
    "principal_outstanding_fen",
    "late_fee_fen",
    "late_fee_paid_fen",
    "late_fee_waived_fen",
    "late_fee_outstanding_fen",
]


def tabular(rows: list[dict[str, Any]], columns: list[str], name: str, fmt: Format) -> Response:
    if fmt == "csv":
        return Response(
            to_csv(rows, columns),
            media_type=CSV_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        to_xlsx(rows, columns, name),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get("/units/{unit_id}/statement", response_model=None)
async def statement(
    unit_id: str, pool: Pool, principal: Reader, as_of: date | None = None, format: Format = "json"
) -> dict[str, Any] | Response:
    """Every invoice with its late fee as of the date, every payment, refund and allocation,
    and every use of prepaid credit."""
    await security.unit(pool, principal, unit_id)
    with domain_errors():
        async with pool.acquire() as conn:
            day = as_of or await statements.local_today(conn, unit_id=unit_id)
            result = await statements.statement(conn, unit_id, day)
    if format == "json":
        return result
    return tabular(result["invoices"], STATEMENT_COLUMNS, f"statement-{unit_id}", format)


@router.post("/units/{unit_id}/installment-plans", status_code=201)
async def create_plan(
    unit_id: str, body: models.PlanIn, pool: Pool, principal: PlanWriter
) -> dict[str, Any]:
    """Split arrears into parts with a reason; audited. As many parts as the community allows
    (3-6 unless it set its own range within 2-12; 422 otherwise). ``at``: now, or back-dated
    within the company's window (staff); the service role chooses any instant."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            at = business_instant(
                principal,
                body.at,
                utc_now(),
                field="at",
                backdate_days=await security.backdate_days(conn, scope["company_id"]),
            )
            request = statements.PlanRequest(
                unit_id, tuple(body.invoice_ids), body.parts, body.first_due, body.reason, at
            )
            plan_id = await statements.create_plan(conn, request)
            plans = await statements.plans(conn, unit_id, request.at.date())
            plan = next(p for p in plans if p["plan_id"] == plan_id)
            await audit.record(
                conn,
                principal,
                "installment_plan.created",
                "installment_plan",
                plan_id,
                community_id=scope["community_id"],
                unit_id=unit_id,
                company_id=scope["company_id"],
                after=plan,
                reason=body.reason,
            )
    return plan


@router.get("/units/{unit_id}/installment-plans")
async def list_plans(
    unit_id: str, pool: Pool, principal: Reader, as_of: date | None = None
) -> list[dict[str, Any]]:
    """Plans with each part paid, due or missed as of the date, judged on payments made after
    the plan started."""
    async with pool.acquire() as conn:
        await security.unit(conn, principal, unit_id)
        day = as_of or await statements.local_today(conn, unit_id=unit_id)
        return await statements.plans(conn, unit_id, day)


@router.post("/payments/{payment_id}/e-invoice-requests", status_code=201)
async def request_e_invoice(
    payment_id: str, body: models.EInvoiceIn, pool: Pool, principal: EInvoiceRequester
) -> dict[str, Any]:
    """An owner's request for an electronic invoice (发票), recorded with its status.
    ``at``: now, or back-dated within the company's window (staff)."""
    scope = await security.payment(pool, principal, payment_id)
    unit_id = scope["unit_id"]
    at = business_instant(
        principal,
        body.at,
        utc_now(),
        field="at",
        backdate_days=await security.backdate_days(pool, scope["company_id"]),
    )
    request_id = stable_id("einv", payment_id, body.title, body.tax_id)
    await pool.execute(
        "INSERT INTO e_invoice_requests (request_id, payment_id, unit_id, title, tax_id, email, "
        "requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        request_id,
        payment_id,
        unit_id,
        body.title,
        body.tax_id,
        body.email,
        at,
    )
    return await e_invoice(request_id, pool, principal)


@router.patch("/e-invoice-requests/{request_id}")
async def update_e_invoice(
    request_id: str,
    pool: Pool,
    principal: EInvoiceRecorder,
    status: Literal["issued", "failed"],
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """Finance records the outcome from the tax platform. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.e_invoice_request(conn, principal, request_id)
        before = await conn.fetchrow(
            "SELECT status, note FROM e_invoice_requests WHERE request_id = $1 FOR UPDATE",
            request_id,
        )
        await conn.execute(
            "UPDATE e_invoice_requests SET status = $2, note = $3, updated_at = now() "
            "WHERE request_id = $1",
            request_id,
            status,
            note,
        )
        await audit.record(
            conn,
            principal,
            "e_invoice.outcome_recorded",
            "e_invoice_request",
            request_id,
            community_id=scope["community_id"],
            unit_id=scope["unit_id"],
            company_id=scope["company_id"],
            before=dict(before) if before else None,
            after={"status": status, "note": note},
        )
    return await e_invoice(request_id, pool, principal)


@router.get("/e-invoice-requests/{request_id}")
async def e_invoice(request_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """An e-invoice request (title, tax id and e-mail masked for roles that do not need them)."""
    await security.e_invoice_request(pool, principal, request_id)
    row = await pool.fetchrow("SELECT * FROM e_invoice_requests WHERE request_id = $1", request_id)
    if row is None:
        raise not_found(f"e-invoice request {request_id}")
    return mask_personal(principal, dict(row), ("title", "tax_id", "email"))
