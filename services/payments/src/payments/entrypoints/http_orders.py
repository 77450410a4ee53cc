"""Payment orders over HTTP: create (amount fixed now), read, ask the gateway for its status,
expire the overdue ones, and collect a payer's payment code at the counter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.adapters.scoping import PREPAYMENT
from payments.entrypoints.models import CodePayment, ExpiryRun, OrderCreated, OrderQueried
from payments.entrypoints.models import Order as OrderOut
from payments.entrypoints.security import CounterClerk, Expirer, OrderCreator, OrderQuerier, Reader
from payments.service_layer import codepay, ordering
from payments.service_layer.orders import OrderRequest
from propfee.http import Pool
from propfee.problems import FieldProblem, InvalidInput, problem_responses

router = APIRouter(tags=["orders"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Fen = Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
GATEWAY_FAILURES = problem_responses(
    502,
    503,
    **{
        "502": "The gateway failed (the order is marked failed; nothing charged).",
        "503": "The gateway could not be reached (Retry-After).",
    },
)


class OrderIn(BaseModel):
    unit_id: Id
    channel: Literal["wechat_pay", "alipay", "unionpay"]
    scene: Literal["jsapi", "native", "qr", "wap", "app"] = "native"
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    community_id: Id | None = Field(default=None, description="With amount_fen: on account")
    payer_party_id: Id | None = None
    amount_fen: Fen | None = None
    payer_openid: str | None = Field(default=None, max_length=128, description="JSAPI only")
    at: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post(
    "/orders",
    status_code=201,
    openapi_extra=PREPAYMENT,
    response_model=OrderCreated,
    responses={**problem_responses(404), **GATEWAY_FAILURES},
)
async def create_order(
    body: OrderIn, pool: Pool, gateways: GatewaysDep, principal: OrderCreator
) -> OrderCreated:
    """Fix the amount (what the named invoices owe that day, or on account within the
    advance-collection cap), then ask the gateway to prepay. A gateway that cannot be reached
    answers 503, one that fails 502 (problem bodies; the order is marked ``failed``). The
    owner app's backend calls this with a service token for the owner it signed in."""
    request = OrderRequest(
        unit_id=body.unit_id,
        channel=body.channel,
        scene=body.scene,
        invoice_ids=body.invoice_ids,
        community_id=body.community_id,
        payer_party_id=body.payer_party_id,
        amount_fen=body.amount_fen,
    )
    now = body.at or datetime.now(UTC)
    view = await ordering.create_order(pool, gateways, principal, request, body.payer_openid, now)
    return OrderCreated.model_validate(view)


class ExpireIn(BaseModel):
    as_of: AwareDatetime | None = Field(default=None, description="As-of instant; default now")


@router.post("/orders/expire", response_model=ExpiryRun)
async def expire_orders(
    body: ExpireIn, pool: Pool, gateways: GatewaysDep, principal: Expirer
) -> ExpiryRun:
    """Every pending order past its expiry as of ``as_of``: asked at the gateway first (a paid
    one is recorded once, like a notification), else closed there and marked expired.
    Idempotent and safe to run on several replicas at once (scheduled, e.g. every minute).
    Only the orders of the caller's communities (every one for a deployment-wide job)."""
    as_of = body.as_of or datetime.now(UTC)
    return ExpiryRun.model_validate(
        await ordering.expire_due_orders(pool, gateways, principal, as_of)
    )


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, pool: Pool, principal: Reader) -> OrderOut:
    return OrderOut.model_validate(await ordering.get_order(pool, principal, order_id))


@router.post(
    "/orders/{order_id}/query",
    response_model=OrderQueried,
    responses={
        **problem_responses(409, **{"409": "The order's channel is not configured."}),
        **GATEWAY_FAILURES,
    },
)
async def query_order(
    order_id: str, pool: Pool, gateways: GatewaysDep, principal: OrderQuerier
) -> OrderQueried:
    """Ask the gateway; a paid answer is recorded like a notification (one payment either way).
    A gateway that cannot be reached answers 503, one that fails 502 (problem bodies)."""
    view = await ordering.query_order(pool, gateways, principal, order_id)
    return OrderQueried.model_validate(view)


class ScanIn(BaseModel):
    unit_id: Id
    auth_code: str = Field(min_length=16, max_length=24, pattern=r"^\d+$")
    invoice_ids: Annotated[list[Id], Field(max_length=120)] = []
    community_id: Id | None = None
    payer_party_id: Id | None = None
    amount_fen: Fen | None = None
    operator: str | None = Field(
        default=None, max_length=64, description="Staff member (the token's subject if unset)"
    )


@router.post(
    "/payments/scan",
    openapi_extra=PREPAYMENT,
    response_model=CodePayment,
    responses=problem_responses(
        404,
        409,
        **{
            "409": "The code's channel is not configured; or the Idempotency-Key was used for "
            "another scan, or its scan has no outcome yet."
        },
    ),
)
async def scan_payment_code(
    body: ScanIn,
    pool: Pool,
    gateways: GatewaysDep,
    principal: CounterClerk,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=8,
            max_length=128,
            description="Makes a retry safe: the same scan again answers with the first "
            "scan's outcome and charges nothing more.",
        ),
    ] = None,
) -> CodePayment:
    """Counter: scan the payer's WeChat Pay 付款码 or Alipay 条码; query, then reverse if the
    answer stays unknown. With an Idempotency-Key, a retried scan answers with the first
    one's outcome (waiting for it while it is still with the gateway)."""
    channel = codepay.channel_of_auth_code(body.auth_code)
    if channel is None:
        reason = "not a WeChat Pay or Alipay payment code"
        raise InvalidInput(reason, errors=[FieldProblem(field="auth_code", reason=reason)])
    request = OrderRequest(
        unit_id=body.unit_id,
        channel=channel,
        scene="codepay",
        invoice_ids=body.invoice_ids,
        community_id=body.community_id,
        payer_party_id=body.payer_party_id,
        amount_fen=body.amount_fen,
    )
    result = await ordering.collect_with_payment_code(
        pool, gateways, principal, request, body.auth_code, datetime.now(UTC), idempotency_key
    )
    return CodePayment.model_validate(result)
