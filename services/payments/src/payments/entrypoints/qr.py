"""Static QR per unit: the code opens the household's current statement, which can be paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.orders import OrderError
from payments.domain.qr import new_link_token, qr_url, qr_valid
from payments.entrypoints import security
from payments.entrypoints.orders import Id, check_payer_id
from payments.entrypoints.security import Reader
from payments.service_layer import orders
from payments.service_layer.prepay import prepay
from payments.service_layer.rate_limit import take
from payments.service_layer.statements import NothingOwed, OwedToday, order_statement, owed_today
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


class Statement(OwedToday):
    unit_id: str


@router.get("/qr/{token}", openapi_extra=open_route("signature"))
async def statement(token: Token, sig: str, pool: Pool, gateways: GatewaysDep) -> Statement:
    """What the household owes today, as the scanned code shows it: each open invoice's unpaid
    principal plus the late fee accrued to yesterday (the amount an order for it asks),
    property fees and utilities apart. Open: the link's token and ``sig`` are the credential
    (404 for a wrong one)."""
    async with pool.acquire() as conn:
        unit_id = await _linked_unit(conn, gateways, token, sig)
        owed = await owed_today(conn, unit_id, datetime.now(UTC))
    return Statement(unit_id=unit_id, **owed.model_dump())


class QrPayIn(BaseModel):
    channel: Literal["wechat_pay", "alipay", "unionpay"]
    scene: Literal["jsapi", "native", "qr", "wap", "app"] = "jsapi"
    payer_openid: str | None = None
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = Field(
        default=[],
        description="Pay only these invoices of the statement (a time-barred one only so); "
        "default: every open invoice of the chosen collection",
    )
    collection: Literal["property", "utilities"] | None = Field(
        default=None, description="Without invoice_ids: only property fees, or only utilities"
    )


class TooManyOrders(HTTPException):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(
            429,
            f"too many orders from this {what}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


async def limit_orders(
    conn: Any, gateways: Gateways, link: str, client: str, now: datetime
) -> None:
    """One token of the link's bucket (``link``: its kind and token) and one of the client
    address's (429 otherwise): orders from the owners' open links, QR codes and pay links."""
    s = gateways.settings
    for what, bucket, burst, per_hour in (
        ("code", link, s.qr_orders_per_link_burst, s.qr_orders_per_link_per_hour),
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
    """Pay the statement: the named invoices, or every open invoice (of ``collection`` if
    given; time-barred ones only when named), for what they owe today, as the statement shows.
    Open: the link's token and ``sig`` are the credential. Rate-limited per link and per
    client address (``PAYMENTS_QR_ORDERS_PER_*``): 429 with Retry-After beyond. A gateway
    that cannot be reached answers 503, one that fails 502 (problem bodies; the order is
    marked ``failed``, never left pending)."""
    now = datetime.now(UTC)
    client = request.client.host if request.client else "unknown"
    client_ = gateways.clients.get(body.channel)
    if client_ is not None:
        check_payer_id(body.channel, body.scene, body.payer_openid)
    async with pool.acquire() as conn, conn.transaction():
        unit_id = await _linked_unit(conn, gateways, token, sig)
        await limit_orders(conn, gateways, f"qr-link:{token}", client, now)
        row = await order_for_link(conn, gateways, unit_id, body, now)
    return await prepay_view(pool, gateways, row, body, now)


async def order_for_link(
    conn: Any, gateways: Gateways, unit_id: str, body: QrPayIn, now: datetime
) -> Any:
    """The order an owner's link asks for (``statements.order_statement``): 409 when nothing
    is owed, 422 for an invoice that cannot be paid."""
    try:
        return await order_statement(
            conn,
            unit_id,
            channel=body.channel,
            scene=body.scene,
            invoice_ids=body.invoice_ids,
            collection=body.collection,
            now=now,
            ttl=timedelta(seconds=gateways.settings.order_ttl_s),
        )
    except NothingOwed as exc:
        raise HTTPException(409, str(exc)) from exc
    except OrderError as exc:
        raise HTTPException(422, str(exc)) from exc


async def prepay_view(
    pool: Any, gateways: Gateways, row: Any, body: QrPayIn, now: datetime
) -> dict[str, Any]:
    """The committed order as the API shows it, with the gateway's prepay answer."""
    view = orders.order_view(row, now)
    client = gateways.clients.get(body.channel)
    if client is not None:
        payload = await prepay(pool, client, row, body.scene, body.payer_openid, now)
        view["gateway_payload"] = payload
    return view
