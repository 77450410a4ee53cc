"""Start payments as a real process with gateway keys written to files by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from sandbox.keys import private_pem, public_pem, write
from sandbox.wechatpay import MCHID, MERCHANT_SERIAL, WechatSide


def wechat_env(side: WechatSide, folder: Path, company_id: str = "co-1") -> dict[str, str]:
    """Both verification modes at once (platform certificate and public key), as in a switch.
    The merchant account belongs to ``company_id`` (the test company by default)."""
    return {
        "wechatpay_mchid": MCHID,
        "wechatpay_company_id": company_id,
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


def merchant_key_env(key: Any, folder: Path, serial: str = MERCHANT_SERIAL) -> dict[str, str]:
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


#: The communities payments' tests use, of the test company (tests.support.auth.TEST_COMPANY).
TEST_COMMUNITIES = ("c-1", "c-9", "c-r", "c-t1", "c-t2", "c-none")


async def know_communities(
    database_url: str, *community_ids: str, company_id: str = "co-1"
) -> None:
    """Make payments know the communities' company, as billing.community-updated would: the
    scope of the tests' company-wide staff token (``staff_auth``). Call once the process has
    migrated its database (after ``start()``)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO communities (community_id, company_id, updated_at) "
            "VALUES ($1, $2, now()) ON CONFLICT (community_id) DO NOTHING",
            [(c, company_id) for c in community_ids or TEST_COMMUNITIES],
        )
    finally:
        await conn.close()
