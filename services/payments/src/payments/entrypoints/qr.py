"""Static QR per unit: the code opens the household's current statement, which can be paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.orders import OrderError
from payments.domain.qr import qr_url, qr_valid
from payments.entrypoints import security
from payments.entrypoints.security import Reader
from payments.service_layer import orders
from payments.service_layer.invoices import open_invoices
from payments.settings import read_secret
from propfee.auth import open_route
from propfee.http import Pool

router = APIRouter(tags=["qr"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]


def _secret(gateways: Gateways) -> bytes:
    s = gateways.settings
    secret = read_secret(s.qr_secret, s.qr_secret_file)
    assert secret is not None
    return secret


@router.get("/units/{unit_id}/qr")
async def unit_qr(
    unit_id: str, pool: Pool, gateways: GatewaysDep, principal: Reader
) -> dict[str, str]:
    """Staff: the link to print as the unit's QR code (it never changes). For a unit payments
    knows (from billing's invoices, or a payment or order of it) in the caller's scope."""
    await security.unit(pool, principal, unit_id)
    return {
        "unit_id": unit_id,
        "url": qr_url(gateways.settings.public_base_url, _secret(gateways), unit_id),
    }


@router.get("/qr/{unit_id}", openapi_extra=open_route("signature"))
async def statement(unit_id: str, sig: str, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """What the household owes now (open invoices), as the scanned code shows it. Open: the
    ``sig`` of the printed link is the credential (404 for a wrong one)."""
    if not qr_valid(_secret(gateways), unit_id, sig):
        raise HTTPException(404, "unknown code")
    async with pool.acquire() as conn:
        invoices = await open_invoices(conn, unit_id)
    return {
        "unit_id": unit_id,
        "invoices": [
            {"invoice_id": i.invoice_id, "total_fen": i.total_fen} for i in invoices.values()
        ],
        "total_fen": sum(i.total_fen for i in invoices.values()),
        "currency": "CNY",
    }


class QrPayIn(BaseModel):
    channel: Literal["wechat_pay", "alipay", "unionpay"]
    scene: Literal["jsapi", "native", "qr", "wap", "app"] = "jsapi"
    payer_openid: str | None = None


@router.post("/qr/{unit_id}/orders", status_code=201, openapi_extra=open_route("signature"))
async def pay_statement(
    unit_id: str, sig: str, body: QrPayIn, pool: Pool, gateways: GatewaysDep
) -> dict[str, Any]:
    """Pay every open invoice of the statement: an order for their total. Open: the ``sig``
    of the printed link is the credential."""
    if not qr_valid(_secret(gateways), unit_id, sig):
        raise HTTPException(404, "unknown code")
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        invoice_ids = list(await open_invoices(conn, unit_id))
        if not invoice_ids:
            raise HTTPException(409, "nothing is owed now")
        request = orders.OrderRequest(unit_id, body.channel, body.scene, invoice_ids)
        try:
            row = await orders.create_order(
                conn, request, now, timedelta(seconds=gateways.settings.order_ttl_s)
            )
        except OrderError as exc:
            raise HTTPException(422, str(exc)) from exc
    view = orders.order_view(row, now)
    client = gateways.clients.get(body.channel)
    if client is not None:
        view["gateway_payload"] = await client.prepay(row, body.scene, body.payer_openid)
        async with pool.acquire() as conn:
            await orders.store_gateway_answer(conn, row["order_id"], view["gateway_payload"])
    return view
