"""Receipts: a payment's numbered receipt (JSON, and the printed 收款收据 as a PDF, A4 or a
thermal ticket) and the public check of a receipt's verification code."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response

from billing.adapters.receipt_pdf import render_receipt
from billing.entrypoints import models, security
from billing.entrypoints.models_reports import ReceiptOut
from billing.entrypoints.security import Reader
from billing.service_layer import receipts
from billing.settings import BillingSettings
from propfee.auth import not_found, open_route
from propfee.http import Pool
from propfee.money import format_yuan

router = APIRouter(tags=["receipts"])
Code = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]


def _signing(request: Request) -> receipts.Signing:
    settings = request.app.state.runtime.settings
    if not isinstance(settings, BillingSettings):  # a bare ServiceSettings: the defaults
        settings = BillingSettings(database_url=settings.database_url)
    return receipts.Signing(settings.receipt_key(), settings.public_base_url)


@router.get("/payments/{payment_id}/receipt", response_model=ReceiptOut)
async def get_receipt(payment_id: str, pool: Pool, principal: Reader) -> ReceiptOut:
    """The numbered receipt of a payment."""
    await security.payment(pool, principal, payment_id)
    async with pool.acquire() as conn:
        found = await receipts.summary(conn, payment_id)
    if found is None:
        raise not_found(f"receipt for payment {payment_id}")
    return ReceiptOut(**found)


@router.get(
    "/payments/{payment_id}/receipt.pdf",
    response_class=Response,
    responses={
        200: {
            "description": "The receipt as a PDF (Chinese font embedded, text selectable).",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def download_receipt_pdf(
    payment_id: str,
    pool: Pool,
    principal: Reader,
    request: Request,
    layout: Literal["a4", "ticket80", "ticket58"] = "a4",
) -> Response:
    """The receipt (收款收据) to hand to the payer: payer, room, each fee item with its
    period and amount, the total in figures and in capital numerals, channel and transaction
    number, cashier, seal box, and a verification QR code and link. ``layout``: A4, or the
    cashier's 80 mm (58 mm) thermal ticket. Every download is counted: the first is the
    original, later ones are marked 重印 / REPRINT."""
    await security.payment(pool, principal, payment_id)
    async with pool.acquire() as conn, conn.transaction():
        document = await receipts.download(conn, payment_id, _signing(request))
        if document is None:
            raise not_found(f"receipt for payment {payment_id}")
        pdf = await asyncio.to_thread(render_receipt, document, layout)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{document.number}.pdf"'},
    )


@router.get(
    "/receipts/verify/{code}",
    openapi_extra=open_route("signature"),
    response_model=models.ReceiptVerificationOut,
)
async def verify_receipt(code: Code, pool: Pool) -> models.ReceiptVerificationOut:
    """Open to anyone holding the receipt: the code printed on it (an HMAC of its number under
    billing's receipt secret) answers its number, issuer, room, day and amount, never the
    payer's name; 404 for a code no receipt carries."""
    async with pool.acquire() as conn:
        found = await receipts.verify(conn, code)
    if found is None:
        raise not_found("receipt")
    return models.ReceiptVerificationOut(
        receipt_no=found.receipt_no,
        company_name=found.company_name,
        community_name=found.community_name,
        room=found.room,
        paid_on=found.paid_on,
        amount_fen=found.amount_fen,
        amount_yuan=format_yuan(found.amount_fen),
        refunded_fen=found.refunded_fen,
    )
