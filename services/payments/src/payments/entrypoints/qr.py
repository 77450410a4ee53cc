"""Static QR per unit: the code opens the household's current statement, which can be paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.orders import OrderError
from payments.domain.qr import new_link_token, qr_url, qr_valid
from payments.entrypoints import security
from payments.entrypoints.security import Reader
from payments.service_layer import orders
from payments.service_layer.invoices import open_invoices
from payments.service_layer.rate_limit import take
from payments.settings import read_secret
from propfee.auth import open_route
from propfee.http import Pool

router = APIRouter(tags=["qr"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
Token = Annotated[str, Path(max_length=64, description="The link token (from the printed code)")]


def _secret(gateways: Gateways) -> bytes:
    s = gateways.settings
    secret = read_secret(s.qr_secret, s.qr_secret_file)
    assert secret is not None
    return secret


@router.get("/units/{unit_id}/qr")
async def unit_qr(
    unit_id: str, pool: Pool, gateways: GatewaysDep, principal: Reader
) -> dict[str, str]:
    """Staff: the link to print as the unit's QR code (it never changes: a random token made
    the first time, stored for the unit). For a unit payments knows (from billing's invoices,
    or a payment or order of it) in the caller's scope."""
    unit = await security.unit(pool, principal, unit_id)
    async with pool.acquire() as conn:
        token = await conn.fetchval(
            "WITH made AS (INSERT INTO qr_links (unit_id, token, community_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (unit_id) DO NOTHING RETURNING token) "
            "SELECT token FROM made UNION ALL SELECT token FROM qr_links WHERE unit_id = $1",
            unit_id,
            new_link_token(),
            unit["community_id"],
        )
        if token is None:  # made by a concurrent request after this statement's snapshot
            token = await conn.fetchval("SELECT token FROM qr_links WHERE unit_id = $1", unit_id)
    return {
        "unit_id": unit_id,
        "token": token,
        "url": qr_url(gateways.settings.public_base_url, _secret(gateways), token),
    }


async def _linked_unit(conn: Any, gateways: Gateways, token: str, sig: str) -> str:
    """The unit of a printed link; 404 for an unknown token or a wrong signature."""
    if not qr_valid(_secret(gateways), token, sig):
        raise HTTPException(404, "unknown code")
    unit_id: str | None = await conn.fetchval(
        "SELECT unit_id FROM qr_links WHERE token = $1", token
    )
    if unit_id is None:
        raise HTTPException(404, "unknown code")
    return unit_id


@router.get("/qr/{token}", openapi_extra=open_route("signature"))
async def statement(token: Token, sig: str, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """What the household owes now (open invoices), as the scanned code shows it. Open: the
    link's token and ``sig`` are the credential (404 for a wrong one)."""
    async with pool.acquire() as conn:
        unit_id = await _linked_unit(conn, gateways, token, sig)
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


class TooManyOrders(HTTPException):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(
            429,
            f"too many orders from this {what}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


async def _limit(conn: Any, gateways: Gateways, token: str, client: str, now: datetime) -> None:
    """One token of the link's bucket and one of the client address's (429 otherwise)."""
    s = gateways.settings
    for what, bucket, burst, per_hour in (
        ("code", f"qr-link:{token}", s.qr_orders_per_link_burst, s.qr_orders_per_link_per_hour),
        (
            "address",
            f"qr-client:{client}",
            s.qr_orders_per_client_burst,
            s.qr_orders_per_client_per_hour,
        ),
    ):
        wait = await take(conn, bucket, burst=burst, per_hour=per_hour, now=now)
        if wait is not None:
            raise TooManyOrders(what, wait)


@router.post("/qr/{token}/orders", status_code=201, openapi_extra=open_route("signature"))
async def pay_statement(
    token: Token, sig: str, body: QrPayIn, request: Request, pool: Pool, gateways: GatewaysDep
) -> dict[str, Any]:
    """Pay every open invoice of the statement: an order for their total. Open: the link's
    token and ``sig`` are the credential. Rate-limited per link and per client address
    (``PAYMENTS_QR_ORDERS_PER_*``): 429 with Retry-After beyond."""
    now = datetime.now(UTC)
    client = request.client.host if request.client else "unknown"
    async with pool.acquire() as conn, conn.transaction():
        unit_id = await _linked_unit(conn, gateways, token, sig)
        await _limit(conn, gateways, token, client, now)
        invoice_ids = list(await open_invoices(conn, unit_id))
        if not invoice_ids:
            raise HTTPException(409, "nothing is owed now")
        request_ = orders.OrderRequest(unit_id, body.channel, body.scene, invoice_ids)
        try:
            row = await orders.create_order(
                conn, request_, now, timedelta(seconds=gateways.settings.order_ttl_s)
            )
        except OrderError as exc:
            raise HTTPException(422, str(exc)) from exc
    view = orders.order_view(row, now)
    client_ = gateways.clients.get(body.channel)
    if client_ is not None:
        view["gateway_payload"] = await client_.prepay(row, body.scene, body.payer_openid)
        async with pool.acquire() as conn:
            await orders.store_gateway_answer(conn, row["order_id"], view["gateway_payload"])
    return view
