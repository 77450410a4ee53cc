"""WeChat Pay API v3 notifications: verify the signature on the exact bytes, then decrypt.

The signed message is ``timestamp\\nnonce\\nbody\\n`` over the raw body as received: parsing and
re-serialising the JSON first would break (or, worse, fake) the check. The key is chosen by
``Wechatpay-Serial``: a platform certificate serial or a WeChat Pay public key id
(``PUB_KEY_ID_...``); both kinds are configured at once during a key switch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from payments.adapters.crypto import VerificationError, aes_gcm_decrypt, verify_sha256_rsa

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"


@dataclass(frozen=True)
class WechatPayKeys:
    mchid: str
    apiv3_key: bytes
    verifying_keys: Mapping[str, rsa.RSAPublicKey] = field(default_factory=dict)
    tolerance_s: int = 300


@dataclass(frozen=True)
class WechatPayNotification:
    notification_id: str
    event_type: str
    resource: dict[str, Any]


def verify_signed(
    keys: WechatPayKeys, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    """Raise :class:`VerificationError` unless WeChat Pay signed exactly these bytes just now."""
    timestamp = headers.get("wechatpay-timestamp", "")
    nonce = headers.get("wechatpay-nonce", "")
    signature = headers.get("wechatpay-signature", "")
    serial = headers.get("wechatpay-serial", "")
    if not (timestamp and nonce and signature and serial):
        raise VerificationError("missing Wechatpay-* signature headers")
    if signature.startswith(PROBE_PREFIX):
        raise VerificationError("probe signature (WECHATPAY/SIGNTEST/)")
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > keys.tolerance_s:
        raise VerificationError("timestamp more than the tolerance away from now")
    key = keys.verifying_keys.get(serial)
    if key is None:
        raise VerificationError(f"unknown Wechatpay-Serial {serial[:40]}")
    verify_sha256_rsa(key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n", signature)


def read_notification(
    keys: WechatPayKeys, headers: Mapping[str, str], body: bytes, now: datetime
) -> WechatPayNotification:
    """Verify, then decrypt ``resource`` with the APIv3 key."""
    verify_signed(keys, headers, body, now)
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise VerificationError("unsupported resource algorithm")
        plain = aes_gcm_decrypt(
            keys.apiv3_key,
            resource["nonce"],
            resource.get("associated_data") or "",
            resource["ciphertext"],
        )
        data = json.loads(plain)
        notification = WechatPayNotification(str(envelope["id"]), envelope["event_type"], data)
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"malformed notification ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise VerificationError("resource is not an object")
    if data.get("mchid", keys.mchid) != keys.mchid:
        raise VerificationError("notification for another merchant id")
    return notification
