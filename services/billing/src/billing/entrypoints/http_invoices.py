"""Invoices: one issued by hand, read, and the money forgiven on one (void with a credit
note, a late-fee waiver, a write-off), each audited."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response

from billing.entrypoints import models, security
from billing.entrypoints.common import instant, today
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_invoices import InvoiceOut, VoidedInvoiceOut, WaivedInvoiceOut
from billing.entrypoints.security import Adjuster, BillingWriter, Reader
from billing.service_layer import adjustments
from billing.service_layer.invoices import (
    ManualInvoice,
    ManualLine,
    issue_manual_invoice_audited,
    load_invoice,
)
from propfee.auth import refused_ids
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["invoices"])


@router.post(
    "/invoices",
    status_code=201,
    response_model=InvoiceOut,
    openapi_extra=refused_ids("invoice_id"),
    responses={
        200: {"description": "The invoice of this reference, issued before.", "model": InvoiceOut},
        **problem_responses(404, 409, **{"404": "The unit does not exist or is not yours."}),
    },
)
async def issue_invoice(
    body: models.InvoiceIn, pool: Pool, response: Response, principal: BillingWriter
) -> InvoiceOut:
    """One invoice for published items (a special service, a correction). Its id is the
    server's (random); ``reference``, the client's own identifier, is unique within the
    community, and the same reference again for the same unit finds the invoice (200).
    ``issued_at``: now, or back-dated within the company's window (staff). Refused: a period
    ending past the advance-collection cap (counted from today) or the contract's end (422); a
    month of an area, fixed or parking item the unit is billed for already (409). Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, body.unit_id)
            new = ManualInvoice(
                unit_id=body.unit_id,
                period_start=body.period_start,
                period_end=body.period_end,
                due_date=body.due_date,
                lines=tuple(
                    ManualLine(line.fee_item, line.quantity, line.description)
                    for line in body.lines
                ),
                issued_at=await instant(
                    conn, principal, scope["company_id"], body.issued_at, "issued_at"
                ),
                reference=body.reference,
                # The advance cap counts from the community's today, whatever issued_at says.
                recorded_on=await today(conn, scope["community_id"]),
            )
            invoice_id, created = await issue_manual_invoice_audited(
                conn, principal, scope, new, body.model_dump()
            )
    if not created:
        response.status_code = 200
    return InvoiceOut(**await load_invoice(pool, invoice_id))


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
async def get_invoice(
    invoice_id: str, pool: Pool, principal: Reader, as_of: date | None = None
) -> InvoiceOut:
    """An invoice with its lines and balance."""
    await security.invoice(pool, principal, invoice_id)
    return InvoiceOut(**await load_invoice(pool, invoice_id))


@router.post(
    "/invoices/{invoice_id}/void",
    response_model=VoidedInvoiceOut,
    responses=problem_responses(409),
)
async def void_invoice(
    invoice_id: str, body: models.VoidIn, pool: Pool, principal: Adjuster
) -> VoidedInvoiceOut:
    """Void with a credit note; what was paid on it becomes credit on the account. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.invoice(conn, principal, invoice_id)
            at = await instant(conn, principal, scope["company_id"], body.at, "at")
            note = await adjustments.void(conn, principal, scope, invoice_id, body.reason, at)
    return VoidedInvoiceOut(**{**await load_invoice(pool, invoice_id), "credit_note_no": note})


@router.post(
    "/invoices/{invoice_id}/late-fee-waivers",
    status_code=201,
    response_model=WaivedInvoiceOut,
    responses=problem_responses(409),
)
async def waive_late_fee(
    invoice_id: str, body: models.WaiverIn, pool: Pool, principal: Adjuster
) -> WaivedInvoiceOut:
    """Waive a late fee (fully or partly) with a reason and an approver. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.invoice(conn, principal, invoice_id)
            at = await instant(conn, principal, scope["company_id"], body.at, "at")
            waiver_id = await adjustments.waive(
                conn,
                principal,
                scope,
                invoice_id,
                body.amount_fen,
                body.reason,
                body.approved_by,
                at,
            )
    return WaivedInvoiceOut(**await load_invoice(pool, invoice_id), waiver_id=waiver_id)


@router.post(
    "/invoices/{invoice_id}/write-off",
    response_model=InvoiceOut,
    responses=problem_responses(409),
)
async def write_off_invoice(
    invoice_id: str, body: models.WriteOffIn, pool: Pool, principal: Adjuster
) -> InvoiceOut:
    """Write the invoice off with a reason and an approver. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.invoice(conn, principal, invoice_id)
            at = await instant(conn, principal, scope["company_id"], body.at, "at")
            await adjustments.write_off(
                conn, principal, scope, invoice_id, body.reason, body.approved_by, at
            )
    return InvoiceOut(**await load_invoice(pool, invoice_id))
