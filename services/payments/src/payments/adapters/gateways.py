"""Everything payments needs to talk to the gateways, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from payments.adapters.keys import (
    AlipayKeys,
    UnionPayKeys,
    alipay_keys,
    unionpay_keys,
    wechatpay_keys,
)
from payments.adapters.wechatpay_notify import WechatPayKeys
from payments.settings import PaymentsSettings

if TYPE_CHECKING:
    from payments.adapters.clients import GatewayClient


@dataclass
class Gateways:
    settings: PaymentsSettings
    wechatpay: WechatPayKeys | None = None
    alipay: AlipayKeys | None = None
    unionpay: UnionPayKeys | None = None
    #: Gateway clients by channel (wechat_pay, alipay, unionpay); see ``adapters.clients``.
    clients: dict[str, GatewayClient] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: PaymentsSettings) -> Gateways:
        from payments.adapters.clients import build_clients

        gateways = cls(
            settings,
            wechatpay=wechatpay_keys(settings),
            alipay=alipay_keys(settings),
            unionpay=unionpay_keys(settings),
        )
        gateways.clients = build_clients(settings, gateways)
        return gateways


def get_gateways(request: Request) -> Gateways:
    gateways: Gateways = request.app.state.gateways
    return gateways


async def gateways_dependency(request: Request) -> Gateways:
    """``get_gateways`` as a dependency (async: no thread-pool hop per request)."""
    return get_gateways(request)
