"""Start payments as a real process with gateway keys written to files by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from payments_testkit.keys import private_pem, public_pem, write
from payments_testkit.wechat import MCHID, WechatSide


def wechat_env(side: WechatSide, folder: Path) -> dict[str, str]:
    """Both verification modes at once (platform certificate and public key), as in a switch."""
    return {
        "wechatpay_mchid": MCHID,
        "wechatpay_appid": "wxd678efh567hg6787",
        "wechatpay_apiv3_key_file": write(folder / "apiv3.key", side.apiv3_key),
        "wechatpay_platform_certificates_file": write(
            folder / "platform.pem", side.platform.cert_pem
        ),
        "wechatpay_public_key_file": write(
            folder / "wechatpay_pub.pem", public_pem(side.public_key)
        ),
        "wechatpay_public_key_id": side.public_key_id,
    }


def merchant_key_env(
    key: Any, folder: Path, serial: str = "3775B6A45ACD588826D15E583A95F5DD"
) -> dict[str, str]:
    return {
        "wechatpay_merchant_serial_no": serial,
        "wechatpay_merchant_private_key_file": write(folder / "merchant.pem", private_pem(key)),
    }


async def order_on_account(
    conn: asyncpg.Connection,
    http: Any,
    url: str,
    unit_id: str,
    amount_fen: int,
    channel: str = "wechat_pay",
    **extra: Any,
) -> dict[str, Any]:
    r = await http.post(
        f"{url}/orders",
        json={
            "unit_id": unit_id,
            "channel": channel,
            "community_id": "c-1",
            "payer_party_id": "owner-1",
            "amount_fen": amount_fen,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()
