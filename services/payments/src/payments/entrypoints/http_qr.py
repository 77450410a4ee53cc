"""Static QR per unit: the code opens the household's current statement, which can be paid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.entrypoints.http_orders import GATEWAY_FAILURES, Id
from payments.entrypoints.models import OrderCreated, QrStatement, UnitQrLink
from payments.entrypoints.security import Reader
from payments.service_layer import qr_links
from propfee.auth import open_route
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["qr"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
Token = Annotated[str, Path(max_length=64, description="The link token (from the printed code)")]


@router.get("/units/{unit_id}/qr", response_model=UnitQrLink)
async def get_unit_qr_link(
    unit_id: str, pool: Pool, gateways: GatewaysDep, principal: Reader
) -> UnitQrLink:
    """Staff: the link to print as the unit's QR code (it never changes: a random token made
    the first time, stored for the unit). For a unit payments knows (from billing's invoices,
    or a payment or order of it) in the caller's scope."""
    return UnitQrLink.model_validate(
        await qr_links.unit_qr_link(pool, gateways, principal, unit_id)
    )


@router.get("/qr/{token}", openapi_extra=open_route("signature"), response_model=QrStatement)
async def get_qr_statement(
    token: Token, sig: str, pool: Pool, gateways: GatewaysDep
) -> QrStatement:
    """What the household owes today, as the scanned code shows it: each open invoice's unpaid
    principal plus the late fee accrued to yesterday (the amount an order for it asks),
    property fees and utilities apart. Open: the link's token and ``sig`` are the credential
    (404 for a wrong one)."""
    unit_id, owed = await qr_links.qr_statement(pool, gateways, token, sig, datetime.now(UTC))
    return QrStatement(unit_id=unit_id, **owed.model_dump())


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

    def ask(self) -> qr_links.LinkPayment:
        return qr_links.LinkPayment(
            channel=self.channel,
            scene=self.scene,
            payer_openid=self.payer_openid,
            invoice_ids=list(self.invoice_ids),
            collection=self.collection,
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


#: What an order from an owner's open link may answer beyond success.
LINK_ORDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(
        409, 429, **{"409": "Nothing is owed now.", "429": "Too many orders (Retry-After)."}
    ),
    **GATEWAY_FAILURES,
}


@router.post(
    "/qr/{token}/orders",
    status_code=201,
    openapi_extra=open_route("signature"),
    response_model=OrderCreated,
    responses=LINK_ORDER_RESPONSES,
)
async def pay_qr_statement(
    token: Token, sig: str, body: QrPayIn, request: Request, pool: Pool, gateways: GatewaysDep
) -> OrderCreated:
    """Pay the statement: the named invoices, or every open invoice (of ``collection`` if
    given; time-barred ones only when named), for what they owe today, as the statement shows.
    Open: the link's token and ``sig`` are the credential. Rate-limited per link and per
    client address (``PAYMENTS_QR_ORDERS_PER_*``): 429 with Retry-After beyond. A gateway
    that cannot be reached answers 503, one that fails 502 (problem bodies; the order is
    marked ``failed``, never left pending)."""
    view = await qr_links.pay_qr_statement(
        pool, gateways, token, sig, body.ask(), client_address(request), datetime.now(UTC)
    )
    return OrderCreated.model_validate(view)
