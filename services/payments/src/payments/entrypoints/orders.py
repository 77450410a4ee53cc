"""Payment orders over HTTP: create (amount fixed now), read, ask the gateway for its status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.orders import OrderError, OrderTerms
from payments.entrypoints import security
from payments.entrypoints.scoping import PREPAYMENT
from payments.entrypoints.security import CounterClerk, Expirer, OrderCreator, OrderQuerier, Reader
from payments.service_layer import codepay, orders
from payments.service_layer.expiry import expire_orders
from payments.service_layer.gateway_payments import record_gateway_payment
from payments.service_layer.prepay import gateway_failure, prepay
from propfee.auth import Principal, mask_personal
from propfee.http import Pool
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["orders"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class OrderIn(BaseModel):
    unit_id: Id
    channel: Literal["wechat_pay", "alipay", "unionpay"]
    scene: Literal["jsapi", "native", "qr", "wap", "app"] = "native"
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    community_id: Id | None = Field(default=None, description="With amount_fen: on account")
    payer_party_id: Id | None = None
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)] | None = None
    payer_openid: str | None = Field(default=None, max_length=128, description="JSAPI only")
    at: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post("/orders", status_code=201, openapi_extra=PREPAYMENT)
async def create_order(
    body: OrderIn, pool: Pool, gateways: GatewaysDep, principal: OrderCreator
) -> dict[str, Any]:
    """Fix the amount (what the named invoices owe that day, or on account within the
    advance-collection cap), then ask the gateway to prepay. A gateway that cannot be reached
    answers 503, one that fails 502 (problem bodies; the order is marked ``failed``). The
    owner app's backend calls this with a service token for the owner it signed in."""
    now = body.at or datetime.now(UTC)
    request = orders.OrderRequest(
        unit_id=body.unit_id,
        channel=body.channel,
        scene=body.scene,
        invoice_ids=body.invoice_ids,
        community_id=body.community_id,
        payer_party_id=body.payer_party_id,
        amount_fen=body.amount_fen,
    )
    ttl = timedelta(seconds=gateways.settings.order_ttl_s)
    client = gateways.clients.get(body.channel)
    if client is not None:
        check_payer_id(body.channel, body.scene, body.payer_openid)
    row = await _create(pool, principal, request, now, ttl)
    view = mask_personal(principal, orders.order_view(row, now))
    if client is None:
        view["gateway_error"] = f"{body.channel} is not configured"
        return view
    view["gateway_payload"] = await prepay(pool, client, row, body.scene, body.payer_openid, now)
    return view


def check_payer_id(channel: str, scene: str, payer_openid: str | None) -> None:
    """WeChat Pay JSAPI and Alipay's in-app payment need the payer's id (422 before any order
    is made, rather than a gateway error after)."""
    if scene == "jsapi" and channel in ("wechat_pay", "alipay") and not payer_openid:
        raise HTTPException(422, f"payer_openid: {channel} {scene} needs the payer's id")


async def _terms_in_scope(
    conn: Any, principal: Principal, request: orders.OrderRequest, now: datetime
) -> OrderTerms:
    try:
        terms = await orders.order_terms(conn, request, now)
    except OrderError as exc:
        raise HTTPException(422, str(exc)) from exc
    await security.community(conn, principal, terms.community_id)
    return terms


async def _create(
    pool: Pool, principal: Principal, request: orders.OrderRequest, now: datetime, ttl: timedelta
) -> Any:
    """The order, once its community is known to be within the caller's scope (404 else)."""
    async with pool.acquire() as conn, conn.transaction():
        terms = await _terms_in_scope(conn, principal, request, now)
        try:
            return await orders.create_order(conn, request, now, ttl, terms)
        except OrderError as exc:
            raise HTTPException(422, str(exc)) from exc


class ExpireIn(BaseModel):
    as_of: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post("/orders/expire")
async def expire(
    body: ExpireIn, pool: Pool, gateways: GatewaysDep, principal: Expirer
) -> dict[str, Any]:
    """Every pending order past its expiry as of ``as_of``: asked at the gateway first (a paid
    one is recorded once, like a notification), else closed there and marked expired.
    Idempotent and safe to run on several replicas at once (scheduled, e.g. every minute).
    Only the orders of the caller's communities (every one for a deployment-wide job)."""
    as_of = body.as_of or datetime.now(UTC)
    lease = timedelta(seconds=gateways.settings.order_expiry_lease_s)
    run = await expire_orders(
        pool, gateways.clients, as_of, lease=lease, scope=principal.sql_scope()
    )
    return run.as_dict()


async def _order(pool: Any, principal: Principal, order_id: str) -> Any:
    row = dict(await security.order(pool, principal, order_id))
    row.pop("company_id", None)
    return row


@router.get("/orders/{order_id}")
async def get_order(order_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    view = orders.order_view(await _order(pool, principal, order_id), datetime.now(UTC))
    return mask_personal(principal, view)


@router.post("/orders/{order_id}/query")
async def query_order(
    order_id: str, pool: Pool, gateways: GatewaysDep, principal: OrderQuerier
) -> dict[str, Any]:
    """Ask the gateway; a paid answer is recorded like a notification (one payment either way).
    A gateway that cannot be reached answers 503, one that fails 502 (problem bodies)."""
    row = await _order(pool, principal, order_id)
    client = gateways.clients.get(row["channel"])
    if client is None:
        raise HTTPException(409, f"{row['channel']} is not configured")
    now = datetime.now(UTC)
    try:
        result = await client.query(row["out_trade_no"])
    except Exception as exc:
        log.warning("order query failed", channel=row["channel"], error=type(exc).__name__)
        raise gateway_failure(row["channel"], exc) from exc
    recorded = None
    if result.report is not None:
        async with pool.acquire() as conn, conn.transaction():
            recorded = await record_gateway_payment(conn, result.report, now)
    view = mask_personal(principal, orders.order_view(await _order(pool, principal, order_id), now))
    view["gateway_state"] = result.state
    view["recorded"] = recorded.__dict__ if recorded else None
    return view


class ScanIn(BaseModel):
    unit_id: Id
    auth_code: str = Field(min_length=16, max_length=24, pattern=r"^\d+$")
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    community_id: Id | None = None
    payer_party_id: Id | None = None
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)] | None = None
    operator: str | None = Field(
        default=None, max_length=64, description="Staff member (the token's subject if unset)"
    )


@router.post("/payments/scan", openapi_extra=PREPAYMENT)
async def scan_payment_code(
    body: ScanIn, pool: Pool, gateways: GatewaysDep, principal: CounterClerk
) -> dict[str, Any]:
    """Counter: scan the payer's WeChat Pay 付款码 or Alipay 条码; query, then reverse if the
    answer stays unknown."""
    channel = codepay.channel_of_auth_code(body.auth_code)
    if channel is None:
        raise HTTPException(422, "not a WeChat Pay or Alipay payment code")
    now = datetime.now(UTC)
    request = orders.OrderRequest(
        unit_id=body.unit_id,
        channel=channel,
        scene="codepay",
        invoice_ids=body.invoice_ids,
        community_id=body.community_id,
        payer_party_id=body.payer_party_id,
        amount_fen=body.amount_fen,
    )
    async with pool.acquire() as conn:
        # The scope first: what is not the caller's is not found, configured or not.
        await _terms_in_scope(conn, principal, request, now)
    client = gateways.clients.get(channel)
    if client is None:
        raise HTTPException(409, f"{channel} is not configured")
    row = await _create(pool, principal, request, now, timedelta(minutes=5))
    s = gateways.settings
    result = await codepay.collect_with_code(
        pool,
        client,
        row,
        body.auth_code,
        attempts=s.codepay_query_attempts,
        interval_s=s.codepay_query_interval_s,
        now=lambda: datetime.now(UTC),
    )
    return {"order_id": row["order_id"], "out_trade_no": row["out_trade_no"], **result}
