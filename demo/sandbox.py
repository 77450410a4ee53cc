"""The outside world the services talk to during the demo, on one HTTP port and one SMTP port.

Gateways (payments' side):
  * WeChat Pay API v3 at ``/v3/...``: checks the merchant's ``WECHATPAY2-SHA256-RSA2048``
    Authorization over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``, answers signed
    with the WeChat Pay public-key key or the platform certificate's key (alternately, as during
    a key switch); it also writes the signed, AES-256-GCM encrypted notifications.
  * Alipay open platform at ``/alipay/gateway.do``: RSA2 requests (every parameter but ``sign``
    and the empty ones, sorted, ``k=v&``), answers signed over the exact ``*_response`` text;
    RSA2 asynchronous notifications (``sign`` and ``sign_type`` left out of the signed string).
  * UnionPay 全渠道 5.1.0 at ``/gateway/api/*.do``: requests signed by the merchant key named by
    ``certId``, answers and back notifications signed by a certificate under the sandbox's test
    root and intermediate CA, carried in ``signPubKeyCert``.

Providers (notifier's side): Alibaba Cloud SMS (``/alibaba/``, RPC signature v1.0,
HMAC-SHA1), the WeChat official account (``/wechat/cgi-bin/...``: access token, then template or
subscription messages with it), the app-push webhook (``/push``, HMAC-SHA256 of
``timestamp.body``) and a minimal ESMTP server. Each checks what the real one checks and answers
in its documented format; what they accept is kept in order (:meth:`Sandbox.messages`).

Every credential is generated once into a directory (private keys 0600) and reloaded on later
runs. Nothing here logs a phone number, an openid or an address: uvicorn's access log is off
and the sandbox writes no log of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import uvicorn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
UNIONPAY_ORG = "中国银联股份有限公司"
CHANNELS = ("sms", "wechat", "app_push", "email")
PROVIDERS = ("alibaba", "wechat", "app_push", "smtp", "wechatpay", "alipay", "unionpay")
MESSAGE_TYPES = ("bill", "receipt", "reminder", "confirmation")
#: The default subjects notifier gives e-mails and push titles (``<company>：<subject>``).
SUBJECT_KINDS = {
    "物业费账单": "bill",
    "缴费回执": "receipt",
    "物业费缴费提醒": "reminder",
    "缴费安排确认": "confirmation",
}
_CREDENTIALS = "sandbox.json"
_WECHATPAY_AUTH = re.compile(r'(\w+)="([^"]*)"')
_PHONE = re.compile(r"^(?:\+?86)?1\d{10}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


# --------------------------------------------------------------------------------------------
# keys and certificates


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _public_base64(key: rsa.RSAPublicKey) -> str:
    """The bare base64 key, as Alipay's console shows it."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _issue(
    common_name: str,
    organization: str,
    key: rsa.RSAPrivateKey,
    *,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    ca: bool = False,
    years: int = 10,
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = datetime.now(UTC) - timedelta(days=2)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    usage = x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(signing_key, hashes.SHA256())
    )


def _rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _alnum(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600 if private else 0o644)
    os.replace(tmp, path)


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path.name} is not an RSA private key")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


#: Files the sandbox keeps (relative path → private?). ``sandbox.json`` is written last.
FILES: dict[str, bool] = {
    "wechatpay/apiclient_key.pem": True,  # the merchant's API key (payments signs with it)
    "wechatpay/apiclient_cert.pem": False,
    "wechatpay/apiv3.key": True,
    "wechatpay/platform_key.pem": True,  # WeChat Pay's side
    "wechatpay/platform_cert.pem": False,
    "wechatpay/pub_key_private.pem": True,  # WeChat Pay's side of the public-key mode
    "wechatpay/pub_key.pem": False,
    "alipay/app_private_key.pem": True,  # the merchant's app key (payments signs with it)
    "alipay/app_public_key.txt": False,
    "alipay/alipay_private_key.pem": True,  # Alipay's side
    "alipay/alipay_public_key.txt": False,
    "unionpay/root_ca_key.pem": True,
    "unionpay/root_ca.pem": False,
    "unionpay/middle_ca_key.pem": True,
    "unionpay/middle_ca.pem": False,
    "unionpay/sign_key.pem": True,  # UnionPay's signing certificate's key
    "unionpay/sign_cert.pem": False,
    "unionpay/merchant_sign_key.pem": True,  # the merchant's signing key (payments signs)
    "unionpay/merchant_sign_cert.pem": False,
}


def _generate(directory: Path) -> None:
    """Every key, certificate and secret, written to ``directory``."""
    out: dict[str, bytes] = {}
    # WeChat Pay: merchant API certificate and platform certificate under one Tenpay CA.
    wx_ca_key = _new_key()
    wx_ca = _issue("Tenpay.com Root CA", "Tenpay.com", wx_ca_key, ca=True)
    mchid = "16" + _digits(8)
    merchant_key, platform_key, pub_key = _new_key(), _new_key(), _new_key()
    merchant_cert = _issue(mchid, "微信商户系统", merchant_key, issuer=(wx_ca, wx_ca_key))
    platform_cert = _issue("Tenpay.com sign", "Tenpay.com", platform_key, issuer=(wx_ca, wx_ca_key))
    out["wechatpay/apiclient_key.pem"] = _private_pem(merchant_key)
    out["wechatpay/apiclient_cert.pem"] = _cert_pem(merchant_cert)
    out["wechatpay/apiv3.key"] = secrets.token_hex(16).encode()  # 32 ASCII bytes
    out["wechatpay/platform_key.pem"] = _private_pem(platform_key)
    out["wechatpay/platform_cert.pem"] = _cert_pem(platform_cert)
    out["wechatpay/pub_key_private.pem"] = _private_pem(pub_key)
    out["wechatpay/pub_key.pem"] = _public_pem(pub_key.public_key())
    # Alipay: the app's key pair and Alipay's own.
    app_key, alipay_key = _new_key(), _new_key()
    out["alipay/app_private_key.pem"] = _private_pem(app_key)
    out["alipay/app_public_key.txt"] = _public_base64(app_key.public_key()).encode()
    out["alipay/alipay_private_key.pem"] = _private_pem(alipay_key)
    out["alipay/alipay_public_key.txt"] = _public_base64(alipay_key.public_key()).encode()
    # UnionPay: test root and intermediate CA, UnionPay's signing certificate, the merchant's.
    mer_id = "777290058" + _digits(6)
    root_key, middle_key, sign_key, mer_key = _new_key(), _new_key(), _new_key(), _new_key()
    root = _issue("CFCA TEST CS CA", "CFCA TEST", root_key, ca=True, years=20)
    middle = _issue("CFCA TEST OCA1", "CFCA TEST", middle_key, issuer=(root, root_key), ca=True)
    sign_cert = _issue(
        f"041@Z12@00040000:SIGN@{UNIONPAY_ORG}@00000001",
        UNIONPAY_ORG,
        sign_key,
        issuer=(middle, middle_key),
    )
    mer_cert = _issue(
        f"041@Z12@{mer_id}@00000001",
        "中国银联股份有限公司商户",
        mer_key,
        issuer=(middle, middle_key),
    )
    out["unionpay/root_ca_key.pem"] = _private_pem(root_key)
    out["unionpay/root_ca.pem"] = _cert_pem(root)
    out["unionpay/middle_ca_key.pem"] = _private_pem(middle_key)
    out["unionpay/middle_ca.pem"] = _cert_pem(middle)
    out["unionpay/sign_key.pem"] = _private_pem(sign_key)
    out["unionpay/sign_cert.pem"] = _cert_pem(sign_cert)
    out["unionpay/merchant_sign_key.pem"] = _private_pem(mer_key)
    out["unionpay/merchant_sign_cert.pem"] = _cert_pem(mer_cert)
    for name, data in out.items():
        _write(directory / name, data, private=FILES[name])
    ids = {
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wechatpay": {
            "mchid": mchid,
            "appid": "wx" + secrets.token_hex(8),
            "merchant_serial_no": format(merchant_cert.serial_number, "X"),
            "public_key_id": f"PUB_KEY_ID_01{mchid}{datetime.now(CST):%Y%m%d}{_digits(8)}",
        },
        "alipay": {"app_id": "2021" + _digits(12), "seller_id": "2088" + _digits(12)},
        "unionpay": {"mer_id": mer_id, "sign_cert_id": str(mer_cert.serial_number)},
        "alibaba": {
            "access_key_id": "LTAI5t" + _alnum(18),
            "access_key_secret": _alnum(30),
            "sign_name": "物业服务",
            "template_codes": {
                "bill": "SMS_BILL",
                "receipt": "SMS_RECEIPT",
                "reminder": "SMS_REMINDER",
                "confirmation": "SMS_CONFIRMATION",
            },
        },
        "wechat": {
            "app_id": "wx" + secrets.token_hex(8),
            "app_secret": secrets.token_hex(16),
            "template_ids": {kind: _alnum(43) for kind in (*MESSAGE_TYPES, "default")},
        },
        "push": {"secret": secrets.token_urlsafe(32)},
    }
    _write(
        directory / _CREDENTIALS,
        json.dumps(ids, ensure_ascii=False, indent=2).encode(),
        private=True,
    )


@dataclass(frozen=True)
class Credentials:
    """What :func:`_generate` wrote, loaded."""

    directory: Path
    ids: dict[str, Any]
    apiv3_key: bytes
    wechatpay_merchant_public: rsa.RSAPublicKey
    wechatpay_platform_key: rsa.RSAPrivateKey
    wechatpay_platform_serial: str
    wechatpay_pub_key: rsa.RSAPrivateKey
    alipay_app_public: rsa.RSAPublicKey
    alipay_key: rsa.RSAPrivateKey
    unionpay_sign_key: rsa.RSAPrivateKey
    unionpay_sign_cert_pem: str
    unionpay_merchant_public: rsa.RSAPublicKey

    @classmethod
    def load(cls, directory: Path) -> Credentials:
        ids = json.loads((directory / _CREDENTIALS).read_text())
        platform = _load_cert(directory / "wechatpay/platform_cert.pem")
        mer_cert = _load_cert(directory / "unionpay/merchant_sign_cert.pem")
        mer_public = mer_cert.public_key()
        wx_mer_public = _load_cert(directory / "wechatpay/apiclient_cert.pem").public_key()
        app_public = serialization.load_der_public_key(
            base64.b64decode((directory / "alipay/app_public_key.txt").read_bytes())
        )
        if not (
            isinstance(mer_public, rsa.RSAPublicKey)
            and isinstance(wx_mer_public, rsa.RSAPublicKey)
            and isinstance(app_public, rsa.RSAPublicKey)
        ):
            raise ValueError("the sandbox's keys must be RSA keys")
        return cls(
            directory=directory,
            ids=ids,
            apiv3_key=(directory / "wechatpay/apiv3.key").read_bytes().strip(),
            wechatpay_merchant_public=wx_mer_public,
            wechatpay_platform_key=_load_key(directory / "wechatpay/platform_key.pem"),
            wechatpay_platform_serial=format(platform.serial_number, "X"),
            wechatpay_pub_key=_load_key(directory / "wechatpay/pub_key_private.pem"),
            alipay_app_public=app_public,
            alipay_key=_load_key(directory / "alipay/alipay_private_key.pem"),
            unionpay_sign_key=_load_key(directory / "unionpay/sign_key.pem"),
            unionpay_sign_cert_pem=(directory / "unionpay/sign_cert.pem").read_text(),
            unionpay_merchant_public=mer_public,
        )


# --------------------------------------------------------------------------------------------
# small helpers


def _yuan(fen: int) -> str:
    whole, cents = divmod(fen, 100)
    return f"{whole}.{cents:02d}"


def _cst(at: datetime) -> datetime:
    """The instant in Shanghai; a naive value is taken as Shanghai time already."""
    return at.replace(tzinfo=CST) if at.tzinfo is None else at.astimezone(CST)


def _pop_encode(value: str) -> str:
    """Alibaba Cloud POP percent-encoding: RFC 3986 unreserved kept, everything else %XX."""
    return quote(value, safe="-_.~")


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


def _free_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


@dataclass
class _Order:
    gateway: str  # wechatpay | alipay | unionpay
    out_trade_no: str
    amount_fen: int
    trade_type: str = "NATIVE"
    state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED
    openid: str | None = None
    txn_time: str = ""
    transaction_id: str = ""
    paid_at: datetime | None = None


# --------------------------------------------------------------------------------------------
# the sandbox


class Sandbox:
    """The fake outside world: gateways for payments, providers for notifier."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.ids = credentials.ids
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._orders: dict[tuple[str, str], _Order] = {}
        self._wechat_tokens: dict[str, float] = {}  # token → monotonic expiry
        self._wechat_stable: tuple[str, float] | None = None  # stable_token
        self._sms_nonces: dict[str, float] = {}  # SignatureNonce → monotonic first use
        self._push_seen: dict[str, str] = {}  # Idempotency-Key → push_id
        self._switch = 0  # alternates WeChat Pay's signing key
        self._kinds = self._kind_index()
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._smtp: _SmtpServer | None = None
        self.port: int | None = None
        self.smtp_port: int | None = None
        self.app = Starlette(routes=self._routes())

    # ---------------------------------------------------------------------------- set-up

    @classmethod
    def load_or_create(cls, directory: Path) -> Sandbox:
        """Generate every credential once into ``directory``; reload them on later runs."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        complete = (directory / _CREDENTIALS).is_file() and all(
            (directory / name).is_file() for name in FILES
        )
        if not complete:
            (directory / _CREDENTIALS).unlink(missing_ok=True)
            _generate(directory)
        return cls(Credentials.load(directory))

    def _file(self, name: str) -> str:
        return str(self.credentials.directory / name)

    @property
    def receipt_callback_token(self) -> str:
        """The secret of the delivery-report callback URL configured at the SMS provider
        (derived from the account's secret, so sandboxes made before it have one too)."""
        secret = self.ids["alibaba"]["access_key_secret"]
        return hashlib.sha256(f"sms-report:{secret}".encode()).hexdigest()[:32]

    @staticmethod
    def sms_reports(messages: list[dict[str, Any]], sent_at: datetime) -> list[dict[str, Any]]:
        """Alibaba Cloud SMS delivery reports (SmsReport, as its HTTP push sends them) for the
        SMS among ``messages``: each delivered to the phone a few seconds after ``sent_at``."""
        china = sent_at.astimezone(timezone(timedelta(hours=8)))  # Beijing time, no DST
        fmt = "%Y-%m-%d %H:%M:%S"
        return [
            {
                "phone_number": m["to"],
                "send_time": china.strftime(fmt),
                "report_time": (china + timedelta(seconds=8)).strftime(fmt),
                "success": True,
                "err_code": "DELIVERED",
                "err_msg": "用户接收成功",
                "sms_size": "1",
                "biz_id": m["ref"],
                "out_id": "",
            }
            for m in messages
            if m.get("channel") == "sms" and m.get("ref")
        ]

    def service_env(self, port: int, smtp_port: int | None = None) -> dict[str, str]:
        """Environment variables that point payments and notifier at this sandbox (on ``port``
        and ``smtp_port``, by default ``port + 1``) and give them the credentials."""
        base = f"http://127.0.0.1:{port}"
        smtp = smtp_port if smtp_port is not None else self.smtp_port or port + 1
        wx, ali, up = self.ids["wechatpay"], self.ids["alipay"], self.ids["unionpay"]
        sms, wechat = self.ids["alibaba"], self.ids["wechat"]
        codes = dict(sms["template_codes"])
        return {
            # payments: WeChat Pay API v3, both verification modes configured (a key switch).
            "PAYMENTS_WECHATPAY_MCHID": wx["mchid"],
            "PAYMENTS_WECHATPAY_APPID": wx["appid"],
            "PAYMENTS_WECHATPAY_API_BASE_URL": base,
            "PAYMENTS_WECHATPAY_MERCHANT_SERIAL_NO": wx["merchant_serial_no"],
            "PAYMENTS_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE": self._file(
                "wechatpay/apiclient_key.pem"
            ),
            "PAYMENTS_WECHATPAY_APIV3_KEY_FILE": self._file("wechatpay/apiv3.key"),
            "PAYMENTS_WECHATPAY_PLATFORM_CERTIFICATES_FILE": self._file(
                "wechatpay/platform_cert.pem"
            ),
            "PAYMENTS_WECHATPAY_PUBLIC_KEY_ID": wx["public_key_id"],
            "PAYMENTS_WECHATPAY_PUBLIC_KEY_FILE": self._file("wechatpay/pub_key.pem"),
            # payments: Alipay (the public key as the console shows it: bare base64).
            "PAYMENTS_ALIPAY_APP_ID": ali["app_id"],
            "PAYMENTS_ALIPAY_SELLER_ID": ali["seller_id"],
            "PAYMENTS_ALIPAY_GATEWAY_URL": f"{base}/alipay/gateway.do",
            "PAYMENTS_ALIPAY_APP_PRIVATE_KEY_FILE": self._file("alipay/app_private_key.pem"),
            "PAYMENTS_ALIPAY_PUBLIC_KEY_FILE": self._file("alipay/alipay_public_key.txt"),
            # payments: UnionPay 5.1.0.
            "PAYMENTS_UNIONPAY_MER_ID": up["mer_id"],
            "PAYMENTS_UNIONPAY_BASE_URL": base,
            "PAYMENTS_UNIONPAY_SIGN_CERT_ID": up["sign_cert_id"],
            "PAYMENTS_UNIONPAY_PRIVATE_KEY_FILE": self._file("unionpay/merchant_sign_key.pem"),
            "PAYMENTS_UNIONPAY_ROOT_CERT_FILE": self._file("unionpay/root_ca.pem"),
            "PAYMENTS_UNIONPAY_MIDDLE_CERT_FILE": self._file("unionpay/middle_ca.pem"),
            "PAYMENTS_UNIONPAY_CERT_ORG": UNIONPAY_ORG,
            # notifier: Alibaba SMS.
            "NOTIFIER_SMS_PROVIDER": "alibaba",
            "NOTIFIER_SMS_SIGN_NAME": sms["sign_name"],
            "NOTIFIER_SMS_TEMPLATE_CODES": json.dumps({"alibaba": codes}),
            "NOTIFIER_ALIBABA_ENDPOINT": f"{base}/alibaba/",
            "NOTIFIER_ALIBABA_ACCESS_KEY_ID": sms["access_key_id"],
            "NOTIFIER_ALIBABA_ACCESS_KEY_SECRET": sms["access_key_secret"],
            "NOTIFIER_RECEIPT_CALLBACK_TOKEN": self.receipt_callback_token,
            # notifier: WeChat official account.
            "NOTIFIER_WECHAT_API_BASE": f"{base}/wechat",
            "NOTIFIER_WECHAT_APP_ID": wechat["app_id"],
            "NOTIFIER_WECHAT_APP_SECRET": wechat["app_secret"],
            "NOTIFIER_WECHAT_MESSAGE_API": "template",
            "NOTIFIER_WECHAT_TEMPLATE_IDS": json.dumps(wechat["template_ids"]),
            # notifier: app push webhook and e-mail.
            "NOTIFIER_PUSH_WEBHOOK_URL": f"{base}/push",
            "NOTIFIER_PUSH_WEBHOOK_SECRET": self.ids["push"]["secret"],
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(smtp),
            "NOTIFIER_SMTP_USE_TLS": "false",
            "NOTIFIER_SMTP_START_TLS": "false",
        }

    def start(self, port: int, smtp_port: int | None = None) -> None:
        """Serve HTTP on ``127.0.0.1:port`` (uvicorn in a daemon thread) and SMTP on
        ``smtp_port`` (default ``port + 1``; asyncio in a daemon thread). Raises ``OSError``
        when a port is taken."""
        if self._http is not None:
            raise RuntimeError("the sandbox is already running")
        smtp_port = port + 1 if smtp_port is None else smtp_port
        sock = _free_socket(port)
        smtp = _SmtpServer(self, smtp_port)
        try:
            smtp.start()
        except BaseException:
            sock.close()
            raise
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,  # URLs carry access tokens; no personal data in logs
            lifespan="off",
            server_header=False,
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sandbox-http", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                smtp.stop()
                sock.close()
                raise RuntimeError("the sandbox's HTTP server did not start")
            time.sleep(0.02)
        self._http, self._http_thread, self._smtp = server, thread, smtp
        self.port, self.smtp_port = port, smtp_port

    def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
            if self._http_thread is not None:
                self._http_thread.join(timeout=10)
        if self._smtp is not None:
            self._smtp.stop()
        self._http = self._http_thread = self._smtp = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------------------- outside world

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        """Every message a provider accepted, in order: ``channel`` (sms | wechat | app_push |
        email), ``to`` (phone, openid, app user, e-mail address), ``template`` (SMS template
        code or WeChat template id; None for push and e-mail), ``params``, ``text`` (what the
        person reads when the request carries it), ``kind`` (bill | receipt | reminder |
        confirmation when known) and ``at`` (the real time it arrived, UTC). ``since``: only
        those after the first ``since`` (cheaper than slicing the whole list each day)."""
        with self._lock:
            return [dict(m) for m in self._messages[since:]]

    def counts(self) -> dict[str, int]:
        """Accepted per channel; ``rejected_signatures.<provider>`` (a signature, key, token
        or credential the real provider would refuse) and ``rejected.<provider>`` (other
        refusals: a bad number, an unknown template); ``requests.<gateway>`` (API calls)."""
        with self._lock:
            out = {c: 0 for c in CHANNELS}
            out |= {f"rejected_signatures.{p}": 0 for p in PROVIDERS}
            out.update(self._counts)
            out["rejected_signatures"] = sum(out[f"rejected_signatures.{p}"] for p in PROVIDERS)
            return out

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _accept(
        self,
        channel: str,
        to: str,
        template: str | None,
        params: dict[str, Any],
        text: str | None,
        kind: str | None,
        ref: str | None = None,
    ) -> None:
        message = {
            "channel": channel,
            "to": to,
            "template": template,
            "params": params,
            "text": text,
            "kind": kind,
            "ref": ref,  # the provider's id of the message (Alibaba's BizId)
            "at": datetime.now(UTC),
        }
        with self._lock:
            self._messages.append(message)
            self._counts[channel] += 1

    def _kind_index(self) -> dict[str, str]:
        index = {code: kind for kind, code in self.ids["alibaba"]["template_codes"].items()}
        index |= {
            tid: kind
            for kind, tid in self.ids["wechat"]["template_ids"].items()
            if kind in MESSAGE_TYPES
        }
        return index

    @staticmethod
    def _subject_kind(subject: str) -> str | None:
        for words, kind in SUBJECT_KINDS.items():
            if subject.endswith(words):
                return kind
        return None

    # ---------------------------------------------------------------------------- notifications

    def _order(self, gateway: str, out_trade_no: str, amount_fen: int) -> _Order:
        """The order as the gateway knows it (created on the fly when payments did not reach
        the gateway when it was made, e.g. a prepay refused)."""
        key = (gateway, out_trade_no)
        order = self._orders.get(key)
        if order is None:
            order = self._orders[key] = _Order(gateway, out_trade_no, amount_fen)
        return order

    def _mark_paid(
        self, gateway: str, out_trade_no: str, amount_fen: int, paid_at: datetime, txn: str
    ) -> _Order:
        with self._lock:
            order = self._order(gateway, out_trade_no, amount_fen)
            if order.state != "SUCCESS":
                order.state, order.transaction_id, order.paid_at = "SUCCESS", txn, _cst(paid_at)
            return order

    def _wechatpay_transaction(self, order: _Order) -> dict[str, Any]:
        wx = self.ids["wechatpay"]
        paid_at = order.paid_at or datetime.now(CST)
        openid = order.openid or "o" + hashlib.sha256(order.out_trade_no.encode()).hexdigest()[:27]
        return {
            "mchid": wx["mchid"],
            "appid": wx["appid"],
            "out_trade_no": order.out_trade_no,
            "transaction_id": order.transaction_id,
            "trade_type": order.trade_type,
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": _cst(paid_at).isoformat(timespec="seconds"),
            "payer": {"openid": openid},
            "amount": {
                "total": order.amount_fen,
                "payer_total": order.amount_fen,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }

    def _wechatpay_signer(self) -> tuple[rsa.RSAPrivateKey, str]:
        """The public-key key and the platform certificate's key, in turn (a key switch)."""
        with self._lock:
            self._switch += 1
            use_public_key = self._switch % 2 == 1
        if use_public_key:
            return self.credentials.wechatpay_pub_key, self.ids["wechatpay"]["public_key_id"]
        return self.credentials.wechatpay_platform_key, self.credentials.wechatpay_platform_serial

    def _wechatpay_headers(self, body: bytes) -> dict[str, str]:
        key, serial = self._wechatpay_signer()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16).upper()
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": _rsa_sign(
                key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
            ),
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def _wechatpay_envelope(
        self, event_type: str, summary: str, kind: str, data: dict[str, Any], at: datetime
    ) -> tuple[bytes, dict[str, str]]:
        nonce = secrets.token_urlsafe(9)[:12]
        plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        ciphertext = AESGCM(self.credentials.apiv3_key).encrypt(
            nonce.encode(), plain, kind.encode()
        )
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": _cst(at).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": kind,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": kind,
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._wechatpay_headers(body)
        headers["Content-Type"] = "application/json"
        return body, headers

    def wechatpay_notification(
        self, out_trade_no: str, amount_fen: int, paid_at: datetime, transaction_id: str
    ) -> tuple[bytes, dict[str, str]]:
        """TRANSACTION.SUCCESS as WeChat Pay posts it to ``/webhooks/wechatpay``: the resource
        encrypted with the APIv3 key, signed now (``Wechatpay-Timestamp`` is the real time);
        ``success_time`` is ``paid_at`` in +08:00. Later queries of the order answer SUCCESS."""
        order = self._mark_paid("wechatpay", out_trade_no, amount_fen, paid_at, transaction_id)
        data = self._wechatpay_transaction(order)
        data["amount"] = {**data["amount"], "total": amount_fen, "payer_total": amount_fen}
        data["transaction_id"] = transaction_id
        data["success_time"] = _cst(paid_at).isoformat(timespec="seconds")
        return self._wechatpay_envelope(
            "TRANSACTION.SUCCESS", "支付成功", "transaction", data, paid_at
        )

    def wechatpay_refund_notification(
        self,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        refunded_at: datetime,
    ) -> tuple[bytes, dict[str, str]]:
        """REFUND.SUCCESS for a refund payments asked for (``out_refund_no`` is payments')."""
        with self._lock:
            order = self._orders.get(("wechatpay", out_trade_no))
            txn = order.transaction_id if order and order.transaction_id else None
        data = {
            "mchid": self.ids["wechatpay"]["mchid"],
            "out_trade_no": out_trade_no,
            "transaction_id": txn or "4200" + _digits(24),
            "out_refund_no": out_refund_no,
            "refund_id": "50" + _digits(27),
            "refund_status": "SUCCESS",
            "success_time": _cst(refunded_at).isoformat(timespec="seconds"),
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": total_fen,
                "refund": refund_fen,
                "payer_total": total_fen,
                "payer_refund": refund_fen,
            },
        }
        return self._wechatpay_envelope("REFUND.SUCCESS", "退款成功", "refund", data, refunded_at)

    def alipay_notification(
        self, out_trade_no: str, amount_fen: int, paid_at: datetime, trade_no: str
    ) -> tuple[bytes, dict[str, str]]:
        """TRADE_SUCCESS 异步通知: form-encoded, RSA2 signed over every parameter but ``sign``
        and ``sign_type`` (empty values kept), sorted; ``gmt_payment`` is ``paid_at``."""
        self._mark_paid("alipay", out_trade_no, amount_fen, paid_at, trade_no)
        ali = self.ids["alipay"]
        paid = _cst(paid_at)
        amount = _yuan(amount_fen)
        params = {
            "gmt_create": (paid - timedelta(seconds=40)).strftime("%Y-%m-%d %H:%M:%S"),
            "charset": "utf-8",
            "seller_email": "",
            "subject": "物业费",
            "buyer_id": "2088" + hashlib.sha256(trade_no.encode()).hexdigest()[:12].upper(),
            "invoice_amount": amount,
            "notify_id": "2026" + secrets.token_hex(14),
            "fund_bill_list": json.dumps(
                [{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
            ),
            "notify_type": "trade_status_sync",
            "trade_status": "TRADE_SUCCESS",
            "receipt_amount": amount,
            "app_id": ali["app_id"],
            "buyer_pay_amount": amount,
            "notify_time": paid.strftime("%Y-%m-%d %H:%M:%S"),
            "point_amount": "0.00",
            "total_amount": amount,
            "seller_id": ali["seller_id"],
            "trade_no": trade_no,
            "auth_app_id": ali["app_id"],
            "gmt_payment": paid.strftime("%Y-%m-%d %H:%M:%S"),
            "out_trade_no": out_trade_no,
            "version": "1.0",
        }
        content = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["sign_type"] = "RSA2"
        params["sign"] = _rsa_sign(self.credentials.alipay_key, content.encode())
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return urlencode(params).encode(), headers

    def _unionpay_signed(self, fields: dict[str, str]) -> dict[str, str]:
        signed = {**fields, "signPubKeyCert": self.credentials.unionpay_sign_cert_pem}
        text = "&".join(f"{k}={signed[k]}" for k in sorted(signed) if k != "signature")
        digest = hashlib.sha256(text.encode()).hexdigest().encode()
        signed["signature"] = _rsa_sign(self.credentials.unionpay_sign_key, digest)
        return signed

    def unionpay_notification(
        self, order_id: str, amount_fen: int, paid_at: datetime, query_id: str
    ) -> tuple[bytes, dict[str, str]]:
        """5.1.0 后台通知 of a consumption answered 00, signed by UnionPay's signing certificate
        (in ``signPubKeyCert``) under the sandbox's root and intermediate CA. ``txnTime`` is
        ``paid_at`` in Shanghai (payments takes it as the payment's instant)."""
        self._mark_paid("unionpay", order_id, amount_fen, paid_at, query_id)
        stamp = _cst(paid_at).strftime("%Y%m%d%H%M%S")
        fields = {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "signMethod": "01",
            "txnType": "01",
            "txnSubType": "01",
            "bizType": "000201",
            "accessType": "0",
            "merId": self.ids["unionpay"]["mer_id"],
            "orderId": order_id,
            "txnTime": stamp,
            "txnAmt": str(amount_fen),
            "currencyCode": "156",
            "queryId": query_id,
            "respCode": "00",
            "respMsg": "成功[0000000]",
            "traceNo": _digits(6),
            "traceTime": stamp[4:],
            "settleAmt": str(amount_fen),
            "settleCurrencyCode": "156",
            "settleDate": stamp[4:8],
            "accNo": "6216***********" + _digits(4),
            "payType": "0001",
            "reqReserved": "",
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
        return urlencode(self._unionpay_signed(fields)).encode(), headers

    # ---------------------------------------------------------------------------- HTTP routes

    def _routes(self) -> list[Route]:
        return [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/_sandbox/messages", self._messages_http, methods=["GET"]),
            Route("/_sandbox/counts", self._counts_http, methods=["GET"]),
            Route("/alibaba", self._alibaba_sms, methods=["POST"]),
            Route("/alibaba/", self._alibaba_sms, methods=["POST"]),
            Route("/wechat/cgi-bin/token", self._wechat_token, methods=["GET"]),
            Route("/wechat/cgi-bin/stable_token", self._wechat_stable_token, methods=["POST"]),
            Route("/wechat/cgi-bin/message/template/send", self._wechat_send, methods=["POST"]),
            Route("/wechat/cgi-bin/message/subscribe/bizsend", self._wechat_send, methods=["POST"]),
            Route("/wechat/cgi-bin/message/subscribe/send", self._wechat_send, methods=["POST"]),
            Route("/push", self._push, methods=["POST"]),
            Route("/v3/{path:path}", self._wechatpay, methods=["GET", "POST"]),
            Route("/alipay/gateway.do", self._alipay, methods=["POST"]),
            Route("/gateway/api/{name}", self._unionpay, methods=["POST"]),
        ]

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _messages_http(self, request: Request) -> Response:
        """What reached the world, for a simulator in another process (local only)."""
        since = int(request.query_params.get("since", "0"))
        return _json([{**m, "at": str(m.get("at"))} for m in self.messages(since)])

    async def _counts_http(self, request: Request) -> Response:
        return _json(self.counts())

    # Alibaba Cloud SMS ------------------------------------------------------------------------

    @staticmethod
    def _alibaba_error(status: int, code: str, message: str) -> Response:
        request_id = str(uuid.uuid4()).upper()
        return _json({"RequestId": request_id, "Code": code, "Message": message}, status)

    async def _alibaba_sms(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            pairs = []
        if request.url.query:
            pairs += parse_qsl(request.url.query, keep_blank_values=True)
        form = dict(pairs)
        sms = self.ids["alibaba"]
        if form.get("AccessKeyId") != sms["access_key_id"]:
            self._count("rejected_signatures.alibaba")
            return self._alibaba_error(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        params = {k: v for k, v in form.items() if k != "Signature"}
        canonical = "&".join(f"{_pop_encode(k)}={_pop_encode(params[k])}" for k in sorted(params))
        to_sign = f"{request.method}&{_pop_encode('/')}&{_pop_encode(canonical)}"
        expected = base64.b64encode(
            hmac.new(
                f"{sms['access_key_secret']}&".encode(), to_sign.encode(), hashlib.sha1
            ).digest()
        ).decode()
        if (
            params.get("SignatureMethod") != "HMAC-SHA1"
            or params.get("SignatureVersion") != "1.0"
            or not hmac.compare_digest(expected, form.get("Signature", ""))
        ):
            self._count("rejected_signatures.alibaba")
            return self._alibaba_error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self._alibaba_error(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        if abs((datetime.now(UTC) - stamp.replace(tzinfo=UTC)).total_seconds()) > 900:
            self._count("rejected_signatures.alibaba")
            return self._alibaba_error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        nonce = params.get("SignatureNonce", "")
        now = time.monotonic()
        with self._lock:
            if len(self._sms_nonces) > 100_000:
                self._sms_nonces = {n: t for n, t in self._sms_nonces.items() if now - t < 900}
            used = not nonce or nonce in self._sms_nonces
            self._sms_nonces.setdefault(nonce, now)
        if used:
            self._count("rejected_signatures.alibaba")
            return self._alibaba_error(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._alibaba_error(
                400,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        return self._alibaba_send(params)

    def _alibaba_send(self, params: dict[str, str]) -> Response:
        sms = self.ids["alibaba"]
        request_id = str(uuid.uuid4()).upper()

        def refuse(code: str, message: str) -> Response:
            self._count("rejected.alibaba")
            return _json({"RequestId": request_id, "Code": code, "Message": message})

        if params.get("SignName") != sms["sign_name"]:
            return refuse("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = params.get("TemplateCode", "")
        if template not in sms["template_codes"].values():
            return refuse("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        phones = [p.strip() for p in params.get("PhoneNumbers", "").split(",") if p.strip()]
        if not phones or not all(_PHONE.match(p) for p in phones):
            return refuse("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        biz_id = f"{_digits(6)}{int(time.time() * 1000) % 10**12:012d}^0"
        for phone in phones:
            self._accept(
                "sms",
                phone,
                template,
                dict(values),
                None,
                self._kinds.get(template),
                biz_id,
            )
        return _json({"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id})

    # WeChat official account -------------------------------------------------------------------

    def _wechat_credentials(self, grant_type: Any, appid: Any, secret: Any) -> Response | None:
        wechat = self.ids["wechat"]
        if grant_type != "client_credential":
            return _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        if appid != wechat["app_id"]:
            self._count("rejected_signatures.wechat")
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        if not isinstance(secret, str) or not hmac.compare_digest(secret, wechat["app_secret"]):
            self._count("rejected_signatures.wechat")
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        return None

    async def _wechat_token(self, request: Request) -> Response:
        """The classic ``/cgi-bin/token``: each call issues a new token; the previous ones stay
        valid for five more minutes."""
        q = request.query_params
        refused = self._wechat_credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
        if refused is not None:
            return refused
        token = secrets.token_urlsafe(96)
        now = time.monotonic()
        with self._lock:
            self._wechat_tokens = {
                t: min(expiry, now + 300)
                for t, expiry in self._wechat_tokens.items()
                if expiry > now
            }
            self._wechat_tokens[token] = now + 7200
        return _json({"access_token": token, "expires_in": 7200})

    async def _wechat_stable_token(self, request: Request) -> Response:
        """``/cgi-bin/stable_token``: the same token until it expires, whoever asks;
        ``force_refresh`` replaces it (the old one stops working). Independent of the classic
        token."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _json({"errcode": 47001, "errmsg": "data format error"})
        refused = self._wechat_credentials(
            body.get("grant_type"), body.get("appid"), body.get("secret")
        )
        if refused is not None:
            return refused
        now = time.monotonic()
        with self._lock:
            token, expiry = self._wechat_stable or ("", 0.0)
            if body.get("force_refresh") is True or expiry <= now:
                token, expiry = secrets.token_urlsafe(96), now + 7200
                self._wechat_stable = (token, expiry)
        return _json({"access_token": token, "expires_in": max(1, int(expiry - now))})

    def _wechat_token_expiry(self, token: str) -> float | None:
        with self._lock:
            if self._wechat_stable is not None and token == self._wechat_stable[0]:
                return self._wechat_stable[1]
            return self._wechat_tokens.get(token)

    async def _wechat_send(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")
        expiry = self._wechat_token_expiry(token)
        if expiry is None:
            self._count("rejected_signatures.wechat")
            return _json(
                {
                    "errcode": 40001,
                    "errmsg": "invalid credential, access_token is invalid or not latest",
                }
            )
        if expiry <= time.monotonic():
            self._count("rejected_signatures.wechat")
            return _json({"errcode": 42001, "errmsg": "access_token expired"})
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
            self._count("rejected.wechat")
            return _json({"errcode": 47001, "errmsg": "data format error"})
        touser = str(body.get("touser", ""))
        if not _OPENID.match(touser):
            self._count("rejected.wechat")
            return _json({"errcode": 40003, "errmsg": "invalid openid"})
        template_id = str(body.get("template_id", ""))
        if template_id not in self.ids["wechat"]["template_ids"].values():
            self._count("rejected.wechat")
            return _json({"errcode": 40037, "errmsg": "invalid template_id"})
        data = body.get("data") or {}
        if request.url.path.endswith(("/subscribe/send", "/subscribe/bizsend")):
            for keyword, item in data.items():
                value = item.get("value") if isinstance(item, dict) else None
                if not isinstance(value, str) or not _subscribe_value_ok(str(keyword), value):
                    self._count("rejected.wechat")
                    return _json(
                        {"errcode": 47003, "errmsg": f"argument invalid! data.{keyword}.value"}
                    )
        params = {str(k): (v.get("value") if isinstance(v, dict) else v) for k, v in data.items()}
        remark = params.get("remark")
        first = params.get("first")
        kind = self._kinds.get(template_id) or (
            self._subject_kind(first) if isinstance(first, str) else None
        )
        self._accept(
            "wechat",
            touser,
            template_id,
            params,
            remark if isinstance(remark, str) else None,
            kind,
        )
        return _json({"errcode": 0, "errmsg": "ok", "msgid": int(_digits(16))})

    # App push webhook --------------------------------------------------------------------------

    async def _push(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-propfee-timestamp", "")
        secret = self.ids["push"]["secret"]
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        expected = f"sha256={mac.hexdigest()}"
        given = request.headers.get("x-propfee-signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        if not fresh or not hmac.compare_digest(expected, given):
            self._count("rejected_signatures.app_push")
            return _json({"error": "invalid_signature"}, 401)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not payload.get("app_user_id"):
            self._count("rejected.app_push")
            return _json({"error": "invalid_request"}, 400)
        key = request.headers.get("idempotency-key") or str(payload.get("notification_id", ""))
        with self._lock:
            known = self._push_seen.get(key) if key else None
            push_id = known or f"push-{uuid.uuid4().hex[:20]}"
            if key:
                self._push_seen[key] = push_id
        if known is None:
            title = str(payload.get("title") or "")
            self._accept(
                "app_push",
                str(payload["app_user_id"]),
                None,
                {"title": title, "link": payload.get("link")},
                str(payload.get("body") or ""),
                self._subject_kind(title),
            )
        return _json({"push_id": push_id})

    # WeChat Pay API v3 -------------------------------------------------------------------------

    def _wechatpay_answer(self, status: int, data: dict[str, Any] | None) -> Response:
        body = (
            json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
            if data is not None
            else b""
        )
        headers = self._wechatpay_headers(body)
        headers["Request-ID"] = secrets.token_hex(16)
        if data is None:
            return Response(b"", status, headers=headers)
        return Response(body, status, headers=headers, media_type="application/json")

    def _wechatpay_authorized(self, request: Request, body: bytes) -> bool:
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        fields = dict(_WECHATPAY_AUTH.findall(rest))
        wx = self.ids["wechatpay"]
        timestamp = fields.get("timestamp", "")
        if (
            scheme != "WECHATPAY2-SHA256-RSA2048"
            or fields.get("mchid") != wx["mchid"]
            or fields.get("serial_no", "").upper() != wx["merchant_serial_no"]
            or not timestamp.isdigit()
            or abs(time.time() - int(timestamp)) > 300
            or not fields.get("nonce_str")
        ):
            return False
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = (
            f"{request.method}\n{path}\n{timestamp}\n{fields['nonce_str']}\n".encode()
            + body
            + b"\n"
        )
        return _rsa_verify(
            self.credentials.wechatpay_merchant_public, message, fields.get("signature", "")
        )

    async def _wechatpay(self, request: Request) -> Response:
        body = await request.body()
        if not self._wechatpay_authorized(request, body):
            self._count("rejected_signatures.wechatpay")
            return self._wechatpay_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        self._count("requests.wechatpay")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._wechatpay_answer(400, {"code": "PARAM_ERROR", "message": "请求体格式错误"})
        path = request.url.path
        wx = self.ids["wechatpay"]
        if request.method == "POST" and path in (
            "/v3/pay/transactions/native",
            "/v3/pay/transactions/jsapi",
            "/v3/pay/transactions/codepay",
        ):
            return self._wechatpay_order(path.rsplit("/", 1)[1], data)
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([A-Za-z0-9_*|-]{6,32})(/\w+)?", path)
        if m:
            out_trade_no, action = m.group(1), m.group(2)
            with self._lock:
                order = self._orders.get(("wechatpay", out_trade_no))
            if action is None and request.method == "GET":
                if request.query_params.get("mchid") != wx["mchid"]:
                    return self._wechatpay_answer(
                        400, {"code": "PARAM_ERROR", "message": "mchid错误"}
                    )
                if order is None:
                    return self._wechatpay_answer(
                        404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                    )
                if order.state == "SUCCESS":
                    return self._wechatpay_answer(200, self._wechatpay_transaction(order))
                desc = {"NOTPAY": "订单未支付", "CLOSED": "订单已关闭"}.get(order.state, "")
                return self._wechatpay_answer(
                    200,
                    {
                        "mchid": wx["mchid"],
                        "appid": wx["appid"],
                        "out_trade_no": out_trade_no,
                        "trade_state": order.state,
                        "trade_state_desc": desc,
                        "amount": {"total": order.amount_fen, "currency": "CNY"},
                    },
                )
            if action in ("/close", "/reverse") and request.method == "POST":
                if data.get("mchid") != wx["mchid"]:
                    return self._wechatpay_answer(
                        400, {"code": "PARAM_ERROR", "message": "mchid错误"}
                    )
                if order is not None and order.state == "SUCCESS" and action == "/close":
                    return self._wechatpay_answer(
                        400, {"code": "ORDERPAID", "message": "订单已支付"}
                    )
                if order is not None and order.state != "SUCCESS":
                    with self._lock:
                        order.state = "CLOSED"
                if action == "/close":
                    return self._wechatpay_answer(204, None)
                return self._wechatpay_answer(200, {"recall": "N" if order is None else "Y"})
        if request.method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._wechatpay_refund(data)
        return self._wechatpay_answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "资源不存在"})

    def _wechatpay_order(self, kind: str, data: dict[str, Any]) -> Response:
        wx = self.ids["wechatpay"]
        out_trade_no = str(data.get("out_trade_no", ""))
        amount = data.get("amount") or {}
        total = amount.get("total") if isinstance(amount, dict) else None
        raw_payer = data.get("payer")
        payer: dict[str, Any] = raw_payer if isinstance(raw_payer, dict) else {}
        problem = None
        if data.get("appid") != wx["appid"] or data.get("mchid") != wx["mchid"]:
            problem = ("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        elif not re.fullmatch(r"[A-Za-z0-9_*|-]{6,32}", out_trade_no):
            problem = ("PARAM_ERROR", "out_trade_no格式错误")
        elif not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            problem = ("PARAM_ERROR", "amount.total必须为正整数")
        elif kind != "codepay" and not str(data.get("notify_url", "")).startswith("http"):
            problem = ("PARAM_ERROR", "notify_url格式错误")
        elif kind == "jsapi" and not payer.get("openid"):
            problem = ("PARAM_ERROR", "JSAPI支付必须传openid")
        elif kind == "codepay" and not str(payer.get("auth_code", "")).isdigit():
            problem = ("PARAM_ERROR", "付款码格式错误")
        if problem:
            return self._wechatpay_answer(400, {"code": problem[0], "message": problem[1]})
        assert isinstance(total, int)
        with self._lock:
            order = self._orders.get(("wechatpay", out_trade_no))
            if order is not None and order.state == "SUCCESS":
                return self._wechatpay_answer(400, {"code": "ORDERPAID", "message": "该订单已支付"})
            if order is not None and order.amount_fen != total:
                return self._wechatpay_answer(
                    400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
                )
            order = self._orders[("wechatpay", out_trade_no)] = _Order(
                "wechatpay",
                out_trade_no,
                total,
                trade_type={"native": "NATIVE", "jsapi": "JSAPI", "codepay": "MICROPAY"}[kind],
                openid=payer.get("openid"),
            )
            if kind == "codepay":  # the payer's wallet pays at once
                order.state, order.paid_at = "SUCCESS", datetime.now(CST)
                order.transaction_id = "4200" + _digits(24)
        if kind == "codepay":
            return self._wechatpay_answer(200, self._wechatpay_transaction(order))
        if kind == "native":
            return self._wechatpay_answer(
                200, {"code_url": "weixin://wxpay/bizpayurl?pr=" + secrets.token_urlsafe(6)[:7]}
            )
        return self._wechatpay_answer(200, {"prepay_id": "wx" + _digits(8) + secrets.token_hex(10)})

    def _wechatpay_refund(self, data: dict[str, Any]) -> Response:
        raw_amount = data.get("amount")
        amount: dict[str, Any] = raw_amount if isinstance(raw_amount, dict) else {}
        refund, total = amount.get("refund"), amount.get("total")
        if (
            not data.get("out_refund_no")
            or not (data.get("out_trade_no") or data.get("transaction_id"))
            or not isinstance(refund, int)
            or not isinstance(total, int)
            or not 0 < refund <= total
        ):
            return self._wechatpay_answer(400, {"code": "PARAM_ERROR", "message": "参数错误"})
        return self._wechatpay_answer(
            200,
            {
                "refund_id": "50" + _digits(27),
                "out_refund_no": data["out_refund_no"],
                "transaction_id": data.get("transaction_id") or "4200" + _digits(24),
                "out_trade_no": data.get("out_trade_no", ""),
                "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱",
                "create_time": datetime.now(CST).isoformat(timespec="seconds"),
                "status": "PROCESSING",
                "amount": {
                    "total": total,
                    "refund": refund,
                    "payer_total": total,
                    "payer_refund": refund,
                    "currency": "CNY",
                },
            },
        )

    # Alipay ------------------------------------------------------------------------------------

    def _alipay_answer(self, method: str, data: dict[str, Any]) -> Response:
        node = "error_response" if not method else method.replace(".", "_") + "_response"
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        sign = _rsa_sign(self.credentials.alipay_key, text.encode())
        raw = f'{{"{node}":{text},"sign":"{sign}"}}'
        return Response(raw.encode(), 200, media_type="application/json;charset=utf-8")

    async def _alipay(self, request: Request) -> Response:
        raw = await request.body()
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        form |= dict(parse_qsl(request.url.query, keep_blank_values=True))
        method = form.get("method", "")
        known = {
            "alipay.trade.precreate",
            "alipay.trade.query",
            "alipay.trade.pay",
            "alipay.trade.cancel",
            "alipay.trade.close",
            "alipay.trade.refund",
        }

        def error(code: str, msg: str, sub_code: str, sub_msg: str) -> Response:
            return self._alipay_answer(
                method if method in known else "",
                {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg},
            )

        if form.get("app_id") != self.ids["alipay"]["app_id"]:
            self._count("rejected_signatures.alipay")
            return error("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if method not in known:
            return error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        if form.get("sign_type") != "RSA2":
            self._count("rejected_signatures.alipay")
            return error(
                "40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型"
            )
        # Requests: every parameter but ``sign`` (``sign_type`` included), empty ones left out.
        content = "&".join(f"{k}={form[k]}" for k in sorted(form) if k != "sign" and form[k] != "")
        if not _rsa_verify(
            self.credentials.alipay_app_public, content.encode(), form.get("sign", "")
        ):
            self._count("rejected_signatures.alipay")
            return error(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
            )
        try:
            datetime.strptime(form.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
            biz = json.loads(form.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return error("40002", "Invalid Arguments", "isv.invalid-parameter", "参数无效")
        self._count("requests.alipay")
        return self._alipay_method(method, biz)

    def _alipay_method(self, method: str, biz: dict[str, Any]) -> Response:
        out_trade_no = str(biz.get("out_trade_no", ""))
        not_exist = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        }
        with self._lock:
            order = self._orders.get(("alipay", out_trade_no))
        if method in ("alipay.trade.precreate", "alipay.trade.pay"):
            try:
                amount = str(biz["total_amount"])
                whole, _, cents = amount.partition(".")
                fen = int(whole) * 100 + int((cents + "00")[:2]) if len(cents) <= 2 else -1
                if not (out_trade_no and biz.get("subject")) or fen <= 0:
                    raise ValueError
            except (KeyError, ValueError):
                return self._alipay_answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.INVALID_PARAMETER",
                        "sub_msg": "参数无效",
                    },
                )
            with self._lock:
                if order is not None and order.state == "SUCCESS":
                    return self._alipay_answer(
                        method,
                        {
                            "code": "40004",
                            "msg": "Business Failed",
                            "sub_code": "ACQ.TRADE_HAS_SUCCESS",
                            "sub_msg": "交易已被支付",
                        },
                    )
                order = self._orders[("alipay", out_trade_no)] = _Order("alipay", out_trade_no, fen)
                if method == "alipay.trade.pay":
                    order.state, order.paid_at = "SUCCESS", datetime.now(CST)
                    order.transaction_id = datetime.now(CST).strftime("%Y%m%d") + _digits(20)
            if method == "alipay.trade.precreate":
                return self._alipay_answer(
                    method,
                    {
                        "code": "10000",
                        "msg": "Success",
                        "out_trade_no": out_trade_no,
                        "qr_code": "https://qr.alipay.com/bax0" + _alnum(20).lower(),
                    },
                )
            return self._alipay_answer(
                method, {"code": "10000", "msg": "Success", **self._alipay_trade(order)}
            )
        if order is None or (order.state == "NOTPAY" and method != "alipay.trade.cancel"):
            # A precreated code nobody has scanned yet is no trade at Alipay.
            return self._alipay_answer(method, not_exist)
        if method == "alipay.trade.query":
            if order.state == "SUCCESS":
                answer = {"code": "10000", "msg": "Success", **self._alipay_trade(order)}
            else:
                status = "TRADE_CLOSED" if order.state == "CLOSED" else "WAIT_BUYER_PAY"
                answer = {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": out_trade_no,
                    "trade_status": status,
                    "total_amount": _yuan(order.amount_fen),
                }
            return self._alipay_answer(method, answer)
        if method in ("alipay.trade.cancel", "alipay.trade.close"):
            if order.state == "SUCCESS" and method == "alipay.trade.close":
                return self._alipay_answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                        "sub_msg": "交易状态不合法",
                    },
                )
            action = "refund" if order.state == "SUCCESS" else "close"
            with self._lock:
                order.state = "CLOSED"
            answer = {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no}
            if method == "alipay.trade.cancel":
                answer |= {"retry_flag": "N", "action": action}
            return self._alipay_answer(method, answer)
        # alipay.trade.refund
        if order.state != "SUCCESS":
            return self._alipay_answer(
                method,
                {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "ACQ.TRADE_STATUS_ERROR",
                    "sub_msg": "交易状态不合法",
                },
            )
        return self._alipay_answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": order.transaction_id,
                "out_trade_no": out_trade_no,
                "buyer_logon_id": "159****5620",
                "fund_change": "Y",
                "refund_fee": str(biz.get("refund_amount", "")),
                "gmt_refund_pay": datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    @staticmethod
    def _alipay_trade(order: _Order) -> dict[str, Any]:
        paid = order.paid_at or datetime.now(CST)
        amount = _yuan(order.amount_fen)
        return {
            "trade_no": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": "159****5620",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": amount,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "send_pay_date": paid.strftime("%Y-%m-%d %H:%M:%S"),
            "gmt_payment": paid.strftime("%Y-%m-%d %H:%M:%S"),
        }

    # UnionPay ----------------------------------------------------------------------------------

    @staticmethod
    def _unionpay_text(fields: Mapping[str, str]) -> Response:
        """``k=v&...`` without URL encoding, as UnionPay writes answers."""
        text = "&".join(f"{k}={v}" for k, v in fields.items())
        return Response(text.encode(), 200, media_type="text/plain;charset=UTF-8")

    async def _unionpay(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        up = self.ids["unionpay"]
        text = "&".join(f"{k}={form[k]}" for k in sorted(form) if k != "signature")
        digest = hashlib.sha256(text.encode()).hexdigest().encode()
        if (
            form.get("version") != "5.1.0"
            or form.get("signMethod") != "01"
            or form.get("merId") != up["mer_id"]
            or form.get("certId") != up["sign_cert_id"]
            or not _rsa_verify(
                self.credentials.unionpay_merchant_public, digest, form.get("signature", "")
            )
        ):
            self._count("rejected_signatures.unionpay")
            # Unsigned: a failure is all an unsigned answer may say.
            return self._unionpay_text({"respCode": "11", "respMsg": "验证签名失败"})
        self._count("requests.unionpay")
        if name == "frontTransReq.do":
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>银联在线支付（沙箱）</title>"
                "<p>银联在线支付（沙箱）：支付结果以后台通知为准。</p>"
            )
        echo: dict[str, str] = {
            k: form[k]
            for k in ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType",
                      "accessType", "merId", "orderId", "txnTime")
            if k in form
        }  # fmt: skip
        order_id, txn_type = form.get("orderId", ""), form.get("txnType", "")
        if name in ("appTransReq.do", "backTransReq.do") and txn_type == "01":
            try:
                fen = int(form.get("txnAmt", ""))
            except ValueError:
                fen = 0
            if fen <= 0 or not order_id or not form.get("backUrl"):
                return self._unionpay_signed_text({**echo, "respCode": "30", "respMsg": "报文错误"})
            with self._lock:
                order = self._orders.get(("unionpay", order_id))
                if order is not None and order.state == "SUCCESS":
                    return self._unionpay_signed_text(
                        {**echo, "respCode": "12", "respMsg": "重复交易"}
                    )
                self._orders[("unionpay", order_id)] = _Order(
                    "unionpay", order_id, fen, txn_time=form.get("txnTime", "")
                )
            answer = {**echo, "respCode": "00", "respMsg": "成功[0000000]"}
            if name == "appTransReq.do":
                answer["tn"] = _digits(21)
            elif form.get("txnSubType") == "07":
                answer["qrCode"] = "https://qr.95516.com/00010000/" + _digits(20)
            return self._unionpay_signed_text(answer)
        if name == "backTransReq.do" and txn_type == "04":  # 退货
            answer = {
                **echo,
                "origQryId": form.get("origQryId", ""),
                "txnAmt": form.get("txnAmt", ""),
                "queryId": _digits(21),
                "respCode": "00",
                "respMsg": "成功[0000000]",
            }
            return self._unionpay_signed_text(answer)
        if name == "queryTrans.do":
            with self._lock:
                order = self._orders.get(("unionpay", order_id))
            if order is None or order.state != "SUCCESS":
                return self._unionpay_signed_text(
                    {**echo, "respCode": "34", "respMsg": "查无此交易"}
                )
            paid = order.paid_at or datetime.now(CST)
            answer = {
                **echo,
                "respCode": "00",
                "respMsg": "成功[0000000]",
                "origRespCode": "00",
                "origRespMsg": "成功[0000000]",
                "queryId": order.transaction_id,
                "txnAmt": str(order.amount_fen),
                "currencyCode": "156",
                "txnTime": _cst(paid).strftime("%Y%m%d%H%M%S"),
            }
            return self._unionpay_signed_text(answer)
        return self._unionpay_signed_text({**echo, "respCode": "10", "respMsg": "不支持的交易"})

    def _unionpay_signed_text(self, fields: dict[str, str]) -> Response:
        return self._unionpay_text(self._unionpay_signed(fields))


# --------------------------------------------------------------------------------------------
# SMTP


class _SmtpServer:
    """A minimal ESMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on its
    own event loop in a daemon thread. Each accepted recipient is a message of the sandbox."""

    MAX_SIZE = 10 * 1024 * 1024

    def __init__(self, sandbox: Sandbox, port: int) -> None:
        self.sandbox = sandbox
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sandbox-smtp", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port, reuse_address=True),
            self._loop,
        )
        try:
            self._server = future.result(timeout=10)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            raise

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if task is not None:
                self._sessions.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await writer.drain()

        await say("220 sandbox.propfee.local ESMTP ready")
        greeted = False
        sender: str | None = None
        recipients: list[str] = []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                greeted, sender, recipients = True, None, []
                await say(
                    "250-sandbox.propfee.local",
                    "250-8BITMIME",
                    "250-SMTPUTF8",
                    f"250-SIZE {self.MAX_SIZE}",
                    "250 ENHANCEDSTATUSCODES",
                )
            elif verb == "HELO":
                greeted, sender, recipients = True, None, []
                await say("250 sandbox.propfee.local")
            elif verb == "MAIL":
                address = _smtp_path(arg, "FROM")
                if not greeted:
                    await say("503 5.5.1 Error: send HELO/EHLO first")
                elif sender is not None:
                    await say("503 5.5.1 Error: nested MAIL command")
                elif address is None or (address and not _EMAIL.match(address)):
                    await say("501 5.1.7 Bad sender address syntax")
                else:
                    sender, recipients = address, []
                    await say("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = _smtp_path(arg, "TO")
                if sender is None:
                    await say("503 5.5.1 Error: need MAIL command")
                elif not address or not _EMAIL.match(address):
                    self.sandbox._count("rejected.smtp")
                    await say("501 5.1.3 Bad recipient address syntax")
                elif len(recipients) >= 100:
                    await say("452 4.5.3 Error: too many recipients")
                else:
                    recipients.append(address)
                    await say("250 2.1.5 Ok")
            elif verb == "DATA":
                if sender is None or not recipients:
                    await say("554 5.5.1 Error: no valid recipients")
                    continue
                await say("354 End data with <CR><LF>.<CR><LF>")
                data, size = bytearray(), 0
                while True:
                    chunk = await reader.readline()
                    if not chunk:
                        return
                    if chunk in (b".\r\n", b".\n"):
                        break
                    if chunk.startswith(b"."):
                        chunk = chunk[1:]
                    size += len(chunk)
                    if size <= self.MAX_SIZE:
                        data += chunk
                if size > self.MAX_SIZE:
                    await say("552 5.3.4 Error: message file too big")
                else:
                    queue_id = secrets.token_hex(5).upper()
                    self._deliver(bytes(data), recipients)
                    await say(f"250 2.0.0 Ok: queued as {queue_id}")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                await say("250 2.0.0 Ok")
            elif verb == "NOOP":
                await say("250 2.0.0 Ok")
            elif verb == "VRFY":
                await say("252 2.0.0 Cannot VRFY user")
            elif verb == "STARTTLS":
                await say("454 4.7.0 TLS not available")
            elif verb == "QUIT":
                await say("221 2.0.0 Bye")
                return
            else:
                await say("502 5.5.2 Error: command not recognized")

    def _deliver(self, data: bytes, recipients: list[str]) -> None:
        message = BytesParser(policy=policy.default).parsebytes(data)
        subject = str(message.get("Subject", ""))
        text: str | None = None
        if isinstance(message, EmailMessage):
            part = message.get_body(preferencelist=("plain", "html"))
            if isinstance(part, EmailMessage):
                try:
                    text = str(part.get_content())
                except (LookupError, ValueError):
                    text = None
        for rcpt in recipients:
            self.sandbox._accept(
                "email",
                rcpt,
                None,
                {"subject": subject, "from": str(message.get("From", ""))},
                text,
                Sandbox._subject_kind(subject),
            )


def _subscribe_value_ok(keyword: str, value: str) -> bool:
    """WeChat's documented rules for subscription-message keyword types (the common ones)."""
    kind = keyword.rstrip("0123456789")
    if not value or any(ord(c) < 32 for c in value):
        return False
    if kind == "thing":
        return len(value) <= 20
    if kind == "phrase":
        return len(value) <= 5
    if kind == "character_string":
        return len(value) <= 32 and all(33 <= ord(c) <= 126 for c in value)
    if kind == "number":
        return len(value) <= 32 and value.replace(".", "", 1).lstrip("-").isdigit()
    if kind == "amount":
        digits = value.lstrip("¥￥").removesuffix("元")
        return len(digits.replace(".", "")) <= 10 and digits.replace(".", "", 1).isdigit()
    if kind in ("time", "date"):
        return bool(re.search(r"\d{4}[-年/]\d{1,2}|\d{1,2}:\d{2}", value))
    return len(value) <= 64


def _smtp_path(arg: str, keyword: str) -> str | None:
    """``FROM:<a@b.cn> SIZE=12`` → ``a@b.cn``; None when it is not that command's syntax."""
    head, sep, rest = arg.partition(":")
    if not sep or head.strip().upper() != keyword:
        return None
    path = rest.strip().split(" ", 1)[0]
    if not (path.startswith("<") and path.endswith(">")):
        return None
    return path[1:-1]


class SandboxProcess:
    """The sandbox served by a process of its own (``python -m demo.sandbox``), so the
    providers and gateways answer in parallel with the simulator instead of sharing its
    interpreter. The gateway side (signing notifications) runs here, with the same keys."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keys = Sandbox.load_or_create(directory)
        self._process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self.port = 0

    def __getattr__(self, name: str) -> Any:  # service_env, *_notification, ...
        return getattr(self.keys, name)

    def start(self, port: int, smtp_port: int | None = None) -> None:
        args = [sys.executable, "-m", "demo.sandbox", str(self.directory), str(port)]
        if smtp_port is not None:
            args.append(str(smtp_port))
        root = str(Path(__file__).resolve().parents[1])
        self._process = subprocess.Popen(args, cwd=root, stdin=subprocess.DEVNULL)
        self.port = port
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox process did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    @property
    def client(self) -> httpx.Client:
        """One keep-alive client, made once: ``httpx.get`` builds a client (and its TLS
        context, loading the CA bundle) on every call, and the simulator reads the phones
        every simulated day."""
        if self._client is None:
            self._client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        return self._client

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        r = self.client.get("/_sandbox/messages", params={"since": since})
        r.raise_for_status()
        return list(r.json())

    def counts(self) -> dict[str, int]:
        r = self.client.get("/_sandbox/counts")
        r.raise_for_status()
        return dict(r.json())


def _serve(argv: list[str]) -> None:
    directory, port = Path(argv[0]), int(argv[1])
    box = Sandbox.load_or_create(directory)
    box.start(port, int(argv[2]) if len(argv) > 2 else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    box.stop()


if __name__ == "__main__":
    _serve(sys.argv[1:])
