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
    #: The app id payments pays through: a transaction notification must name it (when set).
    appid: str = ""


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
    # ASCII digits only, and few of them: int() takes "²" and refuses 5,000 digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise VerificationError("Wechatpay-Timestamp is not a Unix time")
    if abs(now.timestamp() - int(timestamp)) > keys.tolerance_s:
        raise VerificationError("timestamp more than the tolerance away from now")
    key = keys.verifying_keys.get(serial)
    if key is None:
        raise VerificationError(f"unknown Wechatpay-Serial {serial[:40]}")
    verify_sha256_rsa(key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n", signature)


def read_notification(
    keys: WechatPayKeys, headers: Mapping[str, str], body: bytes, now: datetime
) -> WechatPayNotification:
    """Verify, then decrypt ``resource`` with the APIv3 key. Whatever the (signed) body holds,
    only :class:`VerificationError` comes out: a field of the wrong type is malformed."""
    verify_signed(keys, headers, body, now)
    try:
        envelope = json.loads(body)
        if not isinstance(envelope, dict):
            raise VerificationError("the notification is not an object")
        resource = envelope["resource"]
        event_type = envelope["event_type"]
        if not isinstance(resource, dict) or not isinstance(event_type, str):
            raise VerificationError("resource or event_type of the wrong type")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise VerificationError("unsupported resource algorithm")
        nonce, ciphertext = resource["nonce"], resource["ciphertext"]
        associated = resource.get("associated_data") or ""
        if not all(isinstance(v, str) for v in (nonce, ciphertext, associated)):
            raise VerificationError("resource fields of the wrong type")
        plain = aes_gcm_decrypt(keys.apiv3_key, nonce, associated, ciphertext)
        data = json.loads(plain)
        notification = WechatPayNotification(str(envelope.get("id", "")), event_type, data)
    except VerificationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise VerificationError(f"malformed notification ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise VerificationError("resource is not an object")
    # The merchant (and, for payments, the app) must be ours: a missing mchid is refused.
    if data.get("mchid") != keys.mchid:
        raise VerificationError("notification for another merchant id")
    if event_type.startswith("TRANSACTION.") and keys.appid and data.get("appid") != keys.appid:
        raise VerificationError("notification for another appid")
    return notification
