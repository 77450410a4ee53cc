"""The gateway clients payments calls (prepay, query, close, payment code, reversal, refund)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import httpx

from payments.adapters.crypto import load_private_key
from payments.adapters.results import CodePayResult, QueryResult
from payments.domain.refunds import RefundReport
from payments.settings import PaymentsSettings, read_secret

if TYPE_CHECKING:
    from payments.adapters.gateways import Gateways


class GatewayClient(Protocol):
    """What every gateway client answers, in payments' terms. Orders, payments and refunds
    are passed as their database rows."""

    async def prepay(self, order: Any, scene: str, openid: str | None) -> dict[str, Any]:
        """What the payer's side needs to pay the order (QR code, prepay id, signed form)."""

    async def query(self, out_trade_no: str) -> QueryResult:
        """The order's state at the gateway; a report when it is paid."""

    async def close(self, order: Any) -> bool:
        """Close an unpaid order so it can no longer be paid; False when it could not be
        closed (paid meanwhile, or an error): query again."""

    async def pay_with_code(self, order: Any, auth_code: str) -> CodePayResult:
        """Collect with the payer's payment code (付款码 / 条码)."""

    async def reverse(self, out_trade_no: str) -> bool:
        """撤销 a payment-code order whose outcome stays unknown."""

    async def refund(self, payment: Any, refund: Any) -> RefundReport | None:
        """Ask for a refund; a report when the gateway answers its outcome at once."""


def build_clients(settings: PaymentsSettings, gateways: Gateways) -> dict[str, GatewayClient]:
    """One client per configured gateway, keyed by payment channel."""
    from payments.adapters.alipay_client import AlipayClient
    from payments.adapters.unionpay_client import UnionPayClient
    from payments.adapters.wechatpay_client import WechatPayClient

    clients: dict[str, GatewayClient] = {}
    timeout = httpx.Timeout(settings.gateway_timeout_s)
    notify = settings.public_base_url.rstrip("/") + "/webhooks/"
    merchant_pem = read_secret(
        settings.wechatpay_merchant_private_key_pem, settings.wechatpay_merchant_private_key_file
    )
    if gateways.wechatpay is not None and merchant_pem is not None:
        clients["wechat_pay"] = WechatPayClient(
            http=httpx.AsyncClient(base_url=settings.wechatpay_api_base_url, timeout=timeout),
            keys=gateways.wechatpay,
            merchant_key=load_private_key(merchant_pem),
            merchant_serial=settings.wechatpay_merchant_serial_no,
            appid=settings.wechatpay_appid,
            notify_url=notify + "wechatpay",
        )
    if gateways.alipay is not None and gateways.alipay.app_private_key is not None:
        clients["alipay"] = AlipayClient(
            http=httpx.AsyncClient(timeout=timeout),
            url=settings.alipay_gateway_url,
            keys=gateways.alipay,
            notify_url=notify + "alipay",
        )
    unionpay = gateways.unionpay
    if unionpay is not None and unionpay.private_key is not None:
        clients["unionpay"] = UnionPayClient(
            http=httpx.AsyncClient(base_url=settings.unionpay_base_url, timeout=timeout),
            keys=unionpay,
            back_url=notify + "unionpay",
            front_url=settings.public_base_url.rstrip("/") + "/",
        )
    return clients
