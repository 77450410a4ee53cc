"""The gateway clients payments calls (prepay, query, payment code, reversal, refund)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from payments.adapters.crypto import load_private_key
from payments.settings import PaymentsSettings, read_secret

if TYPE_CHECKING:
    from payments.adapters.gateways import Gateways


def build_clients(settings: PaymentsSettings, gateways: Gateways) -> dict[str, Any]:
    """One client per configured gateway, keyed by payment channel."""
    from payments.adapters.alipay_client import AlipayClient
    from payments.adapters.wechatpay_client import WechatPayClient

    clients: dict[str, Any] = {}
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
    return clients
