"""WeChat Pay's side: signed, encrypted API v3 notifications (from the v3 documentation)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payments_testkit.keys import Issued, issue, new_key, rsa_sign

CST = timezone(timedelta(hours=8))
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"


@dataclass
class WechatSide:
    """WeChat Pay's keys: a platform certificate and a WeChat Pay public key, plus APIv3 key."""

    apiv3_key: bytes = field(default_factory=lambda: secrets.token_hex(16).encode())
    platform: Issued = field(default_factory=lambda: issue("Tenpay.com platform"))
    public_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    public_key_id: str = "PUB_KEY_ID_0119000001092025010100000000000001"

    def resource(
        self, data: dict[str, Any], associated_data: str = "transaction"
    ) -> dict[str, Any]:
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(self.apiv3_key).encrypt(
            nonce.encode(), json.dumps(data).encode(), associated_data.encode()
        )
        return {
            "original_type": associated_data,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data,
            "nonce": nonce,
        }

    def body(
        self, event_type: str, data: dict[str, Any], *, notification_id: str | None = None
    ) -> bytes:
        kind = "refund" if event_type.startswith("REFUND.") else "transaction"
        envelope = {
            "id": notification_id or secrets.token_hex(16),
            "create_time": datetime.now(CST).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": self.resource(data, kind),
        }
        # WeChat's own JSON layout, deliberately not Python's default separators.
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

    def headers(
        self,
        body: bytes,
        *,
        mode: str = "public_key",
        timestamp: int | None = None,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:
        """Sign ``timestamp\\nnonce\\nbody\\n`` with the platform key or the public-key key."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(16)
        if mode == "platform":
            signer, default_serial = self.platform.key, self.platform.serial_hex
        else:
            signer, default_serial = self.public_key, self.public_key_id
        signature = rsa_sign(key or signer, f"{ts}\n{nonce}\n".encode() + body + b"\n")
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or default_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }


def transaction(
    out_trade_no: str,
    amount_fen: int,
    *,
    transaction_id: str | None = None,
    currency: str = "CNY",
    success_time: datetime | None = None,
    mchid: str = MCHID,
) -> dict[str, Any]:
    """A decrypted TRANSACTION.SUCCESS resource as documented."""
    return {
        "mchid": mchid,
        "appid": APPID,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id or "42000" + secrets.token_hex(12)[:23],
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "attach": "",
        "success_time": (success_time or datetime.now(CST))
        .astimezone(CST)
        .isoformat(timespec="seconds"),
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": amount_fen,
            "payer_total": amount_fen,
            "currency": currency,
            "payer_currency": currency,
        },
    }


def refund(
    out_trade_no: str,
    out_refund_no: str,
    refund_fen: int,
    total_fen: int,
    *,
    status: str = "SUCCESS",
) -> dict[str, Any]:
    return {
        "mchid": MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": "42000" + secrets.token_hex(10),
        "out_refund_no": out_refund_no,
        "refund_id": "50000" + secrets.token_hex(10),
        "refund_status": status,
        "success_time": datetime.now(CST).isoformat(timespec="seconds"),
        "user_received_account": "招商银行信用卡0403",
        "amount": {
            "total": total_fen,
            "refund": refund_fen,
            "payer_total": total_fen,
            "payer_refund": refund_fen,
        },
    }


def now_utc() -> datetime:
    return datetime.now(UTC)
