"""Static QR per unit: the code opens the household's current statement, which can be paid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.orders import OrderError
from payments.domain.owed import OpenInvoice, amount_owed, late_fee_owed, local_day
from payments.domain.qr import new_link_token, qr_url, qr_valid
from payments.entrypoints import security
from payments.entrypoints.orders import Id, check_payer_id
from payments.entrypoints.security import Reader
from payments.service_layer import orders
from payments.service_layer.invoices import community_time_zone, open_invoices
from payments.service_layer.prepay import prepay
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


class StatementLine(BaseModel):
    invoice_id: str
    collection: Literal["property", "utilities"]
    principal_fen: int
    late_fee_fen: int = Field(description="Accrued to the day before, less paid and waived")
    amount_fen: int = Field(description="What paying it today takes: principal + late fee")
    time_barred: bool


class StatementPart(BaseModel):
    invoices: list[StatementLine]
    total_fen: int


class Statement(BaseModel):
    unit_id: str
    as_of: date = Field(description="The community's local day the amounts are for")
    property: StatementPart = Field(description="Property fees (物业费)")
    utilities: StatementPart = Field(
        description="Water, power, heating collected for suppliers (水电暖代收): apart, payable "
        "alone whatever the property arrears"
    )
    time_barred: StatementPart = Field(
        description="Past their limitation date: not in the total, paid only when named"
    )
    invoices: list[StatementLine] = Field(description="Every open invoice, as in the parts")
    total_fen: int = Field(description="Property and utilities: what paying all takes today")
    currency: Literal["CNY"] = "CNY"


def _line(invoice: OpenInvoice, day: date) -> StatementLine:
    return StatementLine(
        invoice_id=invoice.invoice_id,
        collection=invoice.collection,
        principal_fen=invoice.principal_fen,
        late_fee_fen=late_fee_owed(invoice, day),
        amount_fen=amount_owed(invoice, day),
        time_barred=invoice.time_barred,
    )


async def _owed_now(conn: Any, unit_id: str, now: datetime) -> tuple[date, list[OpenInvoice]]:
    """The unit's open invoices and the community's local day they are priced for."""
    invoices = list((await open_invoices(conn, unit_id)).values())
    community = invoices[0].community_id if invoices else None
    return local_day(now, await community_time_zone(conn, community)), invoices


@router.get("/qr/{token}", openapi_extra=open_route("signature"))
async def statement(token: Token, sig: str, pool: Pool, gateways: GatewaysDep) -> Statement:
    """What the household owes today, as the scanned code shows it: each open invoice's unpaid
    principal plus the late fee accrued to yesterday (the amount an order for it asks),
    property fees and utilities apart. Open: the link's token and ``sig`` are the credential
    (404 for a wrong one)."""
    async with pool.acquire() as conn:
        unit_id = await _linked_unit(conn, gateways, token, sig)
        day, invoices = await _owed_now(conn, unit_id, datetime.now(UTC))
    lines = [_line(i, day) for i in invoices]

    def part(keep: Callable[[StatementLine], bool]) -> StatementPart:
        chosen = [line for line in lines if keep(line)]
        return StatementPart(invoices=chosen, total_fen=sum(x.amount_fen for x in chosen))

    property_ = part(lambda x: x.collection == "property" and not x.time_barred)
    utilities = part(lambda x: x.collection == "utilities" and not x.time_barred)
    return Statement(
        unit_id=unit_id,
        as_of=day,
        property=property_,
        utilities=utilities,
        time_barred=part(lambda x: x.time_barred),
        invoices=lines,
        total_fen=property_.total_fen + utilities.total_fen,
    )


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
        await _limit(conn, gateways, token, client, now)
        invoice_ids = list(body.invoice_ids)
        if not invoice_ids:
            _, invoices = await _owed_now(conn, unit_id, now)
            invoice_ids = [
                i.invoice_id
                for i in invoices
                if not i.time_barred and body.collection in (None, i.collection)
            ]
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
    if client_ is not None:
        view["gateway_payload"] = await prepay(
            pool, client_, row, body.scene, body.payer_openid, now
        )
    return view
