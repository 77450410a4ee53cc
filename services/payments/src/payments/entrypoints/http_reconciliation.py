"""Reconciliation over HTTP: a gateway's statement imported, the discrepancies it leaves
listed and resolved.

Statements and discrepancies are gateway-level: each belongs to a merchant account and so to
the company owning it (``service_layer.accounts``); only that company's company-wide tokens
reach them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from payments.entrypoints.models import Discrepancy, StatementImported
from payments.entrypoints.security import FinanceReader, FinanceWriter, StatementImporter
from payments.service_layer import reconciliation
from propfee import uploads
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()

CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/reconciliation/{gateway}/{bill_date}",
    tags=["statements"],
    response_model=StatementImported,
    openapi_extra=CSV_BODY,
    responses=problem_responses(413),
)
async def import_gateway_statement(
    gateway: Literal["wechatpay", "alipay"],
    bill_date: date,
    request: Request,
    pool: Pool,
    principal: StatementImporter,
    limits: uploads.Limits,
    merchant_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The merchant account (mchid / app_id); default: the caller's "
            "company's account of the gateway",
        ),
    ] = None,
) -> StatementImported:
    """Body: the gateway's statement CSV for the day (UTF-8; Alipay's GBK files re-encoded).
    For a merchant account of the caller's company (404 for another company's); company-wide
    callers only; audited (``statement.imported``). Past the upload limits: 413, or 422 naming
    the row and column (``propfee.uploads``)."""
    summary = await reconciliation.import_statement_file(
        pool,
        principal,
        gateway,
        bill_date,
        merchant_id,
        await request.body(),
        limits,
        datetime.now(UTC),
    )
    return StatementImported.model_validate(summary)


@router.get("/discrepancies", tags=["discrepancies"], response_model=Page[Discrepancy])
async def list_discrepancies(
    pool: Pool,
    principal: FinanceReader,
    page: PageQuery,
    request: Request,
    response: Response,
    status: Annotated[Literal["open", "resolved"], Query()] = "open",
) -> Page[Discrepancy]:
    """Gateway-level: the discrepancies of the caller's company's merchant accounts; empty for
    callers whose token names its communities. Paged (``limit``, ``cursor``; ``next`` and a
    ``Link`` header)."""
    after = page.after_as(date.fromisoformat, str, str, str)
    rows = await reconciliation.list_discrepancies(pool, principal, status, after, page.fetch)
    return page.build(
        [Discrepancy.model_validate(r) for r in rows],
        key=lambda d: [d.bill_date.isoformat(), d.gateway, d.merchant_id, d.discrepancy_id],
        request=request,
        response=response,
    )


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)
    resolved_by: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the token's subject"
    )


@router.post(
    "/discrepancies/{discrepancy_id}/resolve",
    tags=["discrepancies"],
    response_model=Discrepancy,
    responses=problem_responses(409, **{"409": "The discrepancy is not open."}),
)
async def resolve_discrepancy(
    discrepancy_id: str, body: ResolveIn, pool: Pool, principal: FinanceWriter
) -> Discrepancy:
    """Close a discrepancy with a note; audited (``discrepancy.resolved``)."""
    row = await reconciliation.resolve_discrepancy(
        pool,
        principal,
        discrepancy_id,
        body.note,
        body.resolved_by or principal.subject[:64],
        datetime.now(UTC),
    )
    return Discrepancy.model_validate(row)
