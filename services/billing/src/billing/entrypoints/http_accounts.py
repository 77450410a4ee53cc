"""A household's statement and installment plans (receipts: http_receipts; e-invoices:
http_e_invoices)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request, Response

from billing.entrypoints import models, security
from billing.entrypoints.common import instant
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_accounts import InstallmentPlanOut, StatementOut
from billing.entrypoints.models_reports import AgingBucketOut, UnitAgingOut
from billing.entrypoints.security import PlanWriter, Reader
from billing.entrypoints.tabular import DOWNLOADS, Format, tabular
from billing.service_layer import reports, statements
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()
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
    "late_fee_payable_fen",
]


@router.get(
    "/units/{unit_id}/statement",
    response_model=StatementOut,
    responses=DOWNLOADS,
    tags=["statements"],
)
async def get_statement(
    unit_id: str, pool: Pool, principal: Reader, as_of: date | None = None, format: Format = "json"
) -> StatementOut | Response:
    """Every invoice with its late fee as of the date, every payment, refund and allocation,
    and every use of prepaid credit. ``format=csv|xlsx``: the invoices as a spreadsheet
    (amounts in fen, integers)."""
    await security.unit(pool, principal, unit_id)
    with domain_errors():
        async with pool.acquire() as conn:
            day = as_of or await statements.local_today(conn, unit_id=unit_id)
            result = await statements.statement(conn, unit_id, day)
    if format == "json":
        return StatementOut(**result)
    return tabular(result["invoices"], STATEMENT_COLUMNS, f"statement-{unit_id}", format)


@router.get("/units/{unit_id}/aging", response_model=UnitAgingOut, tags=["statements"])
async def get_unit_aging(
    unit_id: str,
    pool: Pool,
    principal: Reader,
    as_of: date | None = None,
    collection: reports.Collection | None = None,
) -> UnitAgingOut:
    """One household's aging (the room page): its outstanding principal by days past due,
    the five buckets of the community's aging report by the same rule. For whoever reads the
    unit's statement, a housekeeper too (the community-wide reports stay with report
    readers)."""
    async with pool.acquire() as conn:
        day, rows = await reports.household_aging(conn, principal, unit_id, as_of, collection)
    return UnitAgingOut(unit_id=unit_id, as_of=day, buckets=[AgingBucketOut(**r) for r in rows])


@router.post(
    "/units/{unit_id}/installment-plans",
    status_code=201,
    response_model=InstallmentPlanOut,
    tags=["installment-plans"],
    responses=problem_responses(409, **{"409": "A plan of this unit made at this instant."}),
)
async def create_installment_plan(
    unit_id: str, body: models.PlanIn, pool: Pool, principal: PlanWriter
) -> InstallmentPlanOut:
    """Split arrears into parts with a reason; audited. As many parts as the community allows
    (3-6 unless it set its own range within 2-12; 422 otherwise). ``at``: now, or back-dated
    within the company's window (staff); the service role chooses any instant."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            at = await instant(conn, principal, scope["company_id"], body.at, "at")
            request = statements.PlanRequest(
                unit_id, tuple(body.invoice_ids), body.parts, body.first_due, body.reason, at
            )
            plan = await statements.create_plan_audited(conn, principal, scope, request)
    return InstallmentPlanOut(**plan)


@router.get(
    "/units/{unit_id}/installment-plans",
    response_model=Page[InstallmentPlanOut],
    tags=["installment-plans"],
)
async def list_installment_plans(
    unit_id: str,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    as_of: date | None = None,
) -> Page[InstallmentPlanOut]:
    """Plans, oldest first, with each part paid, due or missed as of the date, judged on
    payments made after the plan started."""
    after = page.after_as(datetime.fromisoformat, str)
    async with pool.acquire() as conn:
        await security.unit(conn, principal, unit_id)
        day = as_of or await statements.local_today(conn, unit_id=unit_id)
        rows = await statements.plans(
            conn,
            unit_id,
            day,
            after=(after[0], after[1]) if after else None,
            limit=page.fetch,
        )
    return page.build(
        [InstallmentPlanOut(**p) for p in rows],
        key=lambda p: [p.created_at.isoformat(), p.plan_id],
        request=request,
        response=response,
    )
