"""Owners' requests for an electronic invoice (发票) of a payment, and their outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from billing.entrypoints import models, security
from billing.entrypoints.common import instant
from billing.entrypoints.models_accounts import EInvoiceRequestOut
from billing.entrypoints.security import EInvoiceRecorder, EInvoiceRequester, Reader
from billing.service_layer import e_invoices
from propfee.auth import Principal, mask_personal
from propfee.http import Pool

router = APIRouter(tags=["e-invoices"])
PERSONAL = ("title", "tax_id", "email")


async def _shown(pool: Pool, principal: Principal, request_id: str) -> EInvoiceRequestOut:
    row = await e_invoices.load(pool, request_id)
    return EInvoiceRequestOut(**mask_personal(principal, row, PERSONAL))


@router.post(
    "/payments/{payment_id}/e-invoice-requests",
    status_code=201,
    response_model=EInvoiceRequestOut,
)
async def request_e_invoice(
    payment_id: str, body: models.EInvoiceIn, pool: Pool, principal: EInvoiceRequester
) -> EInvoiceRequestOut:
    """An owner's request for an electronic invoice (发票), recorded with its status (the
    same title and tax id again is the same request). ``at``: now, or back-dated within the
    company's window (staff)."""
    scope = await security.payment(pool, principal, payment_id)
    at = await instant(pool, principal, scope["company_id"], body.at, "at")
    request_id = await e_invoices.request(
        pool, scope, payment_id, body.title, body.tax_id, body.email, at
    )
    return await _shown(pool, principal, request_id)


@router.patch("/e-invoice-requests/{request_id}", response_model=EInvoiceRequestOut)
async def record_e_invoice_outcome(
    request_id: str,
    pool: Pool,
    principal: EInvoiceRecorder,
    status: e_invoices.Outcome,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> EInvoiceRequestOut:
    """Finance records the outcome from the tax platform. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.e_invoice_request(conn, principal, request_id)
        await e_invoices.record_outcome(conn, principal, scope, request_id, status, note)
    return await _shown(pool, principal, request_id)


@router.get("/e-invoice-requests/{request_id}", response_model=EInvoiceRequestOut)
async def get_e_invoice_request(
    request_id: str, pool: Pool, principal: Reader
) -> EInvoiceRequestOut:
    """An e-invoice request (title, tax id and e-mail masked for roles that do not need them)."""
    await security.e_invoice_request(pool, principal, request_id)
    return await _shown(pool, principal, request_id)
