"""Payment orders over HTTP: create (amount fixed now), read, ask the gateway for its status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, get_gateways
from payments.domain.orders import OrderError
from payments.service_layer import codepay, orders
from payments.service_layer.expiry import expire_orders
from payments.service_layer.gateway_payments import record_gateway_payment
from propfee.http import Pool
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["orders"])
GatewaysDep = Annotated[Gateways, Depends(get_gateways)]
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


@router.post("/orders", status_code=201)
async def create_order(body: OrderIn, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """Fix the amount (from the invoices, or on account), then ask the gateway to prepay."""
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
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await orders.create_order(conn, request, now, ttl)
        except OrderError as exc:
            raise HTTPException(422, str(exc)) from exc
    client = gateways.clients.get(body.channel)
    view = orders.order_view(row, now)
    if client is None:
        view["gateway_error"] = f"{body.channel} is not configured"
        return view
    try:
        answer = await client.prepay(row, body.scene, body.payer_openid)
    except Exception as exc:
        log.warning("prepay failed", channel=body.channel, error=type(exc).__name__)
        view["gateway_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return view
    async with pool.acquire() as conn:
        await orders.store_gateway_answer(conn, row["order_id"], answer)
    view["gateway_payload"] = answer
    return view


class ExpireIn(BaseModel):
    as_of: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post("/orders/expire")
async def expire(body: ExpireIn, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """Every pending order past its expiry as of ``as_of``: asked at the gateway first (a paid
    one is recorded once, like a notification), else closed there and marked expired.
    Idempotent and safe to run on several replicas at once (scheduled, e.g. every minute)."""
    as_of = body.as_of or datetime.now(UTC)
    lease = timedelta(seconds=gateways.settings.order_expiry_lease_s)
    run = await expire_orders(pool, gateways.clients, as_of, lease=lease)
    return run.as_dict()


async def _order(pool: Any, order_id: str) -> Any:
    row = await pool.fetchrow("SELECT * FROM payment_orders WHERE order_id = $1", order_id)
    if row is None:
        raise HTTPException(404, f"order {order_id} not found")
    return row


@router.get("/orders/{order_id}")
async def get_order(order_id: str, pool: Pool) -> dict[str, Any]:
    return orders.order_view(await _order(pool, order_id), datetime.now(UTC))


@router.post("/orders/{order_id}/query")
async def query_order(order_id: str, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """Ask the gateway; a paid answer is recorded like a notification (one payment either way)."""
    row = await _order(pool, order_id)
    client = gateways.clients.get(row["channel"])
    if client is None:
        raise HTTPException(409, f"{row['channel']} is not configured")
    now = datetime.now(UTC)
    try:
        result = await client.query(row["out_trade_no"])
    except Exception as exc:
        log.warning("order query failed", channel=row["channel"], error=type(exc).__name__)
        raise HTTPException(502, f"gateway: {type(exc).__name__}: {str(exc)[:200]}") from exc
    recorded = None
    if result.report is not None:
        async with pool.acquire() as conn, conn.transaction():
            recorded = await record_gateway_payment(conn, result.report, now)
    view = orders.order_view(await _order(pool, order_id), now)
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
    operator: str = Field(min_length=1, max_length=64)


@router.post("/payments/scan")
async def scan_payment_code(body: ScanIn, pool: Pool, gateways: GatewaysDep) -> dict[str, Any]:
    """Counter: scan the payer's WeChat Pay 付款码 or Alipay 条码; query, then reverse if the
    answer stays unknown."""
    channel = codepay.channel_of_auth_code(body.auth_code)
    if channel is None:
        raise HTTPException(422, "not a WeChat Pay or Alipay payment code")
    client = gateways.clients.get(channel)
    if client is None:
        raise HTTPException(409, f"{channel} is not configured")
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
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await orders.create_order(conn, request, now, timedelta(minutes=5))
        except OrderError as exc:
            raise HTTPException(422, str(exc)) from exc
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
