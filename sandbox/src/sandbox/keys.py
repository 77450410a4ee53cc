"""Keys, certificates and signatures, as the gateways and the merchant hold them.

Written with ``cryptography`` directly, independently of the services' verification code.
:func:`generate` writes every credential the demo's world needs once into a directory
(private keys 0600) and :class:`Credentials` reloads them on later runs; the tests issue
their own with :func:`new_key` and :func:`issue`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

#: China Standard Time (no daylight saving): the gateways' clocks.
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
UNIONPAY_ORG = "中国银联股份有限公司"
MESSAGE_TYPES = ("bill", "receipt", "reminder", "confirmation")
CREDENTIALS = "sandbox.json"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_base64(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The bare base64 key, as Alipay's console shows it."""
    der = _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: what WeChat Pay, Alipay (RSA2) and UnionPay use."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


@dataclass
class Issued:
    """A key and the certificate issued for it."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def serial_hex(self) -> str:
        """The serial number as WeChat Pay writes it (upper-case hex)."""
        return format(self.cert.serial_number, "X")


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    organization: str = "Tenpay.com",
    key: rsa.RSAPrivateKey | None = None,
    valid_from: datetime | None = None,
    days: int = 3650,
) -> Issued:
    """A certificate for ``key`` (a fresh one by default), signed by ``issuer`` (self-signed
    when None), with the key usages a CA or a signing certificate carries."""
    key = key or new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = valid_from or datetime.now(UTC) - timedelta(days=2)
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
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer.key if issuer else key, hashes.SHA256())
    )
    return Issued(key, cert)


def digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def alnum(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


def write(path: Path, data: bytes | str, *, private: bool = False) -> str:
    """Write atomically (0600 when ``private``); the path, as a string for settings."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o600 if private else 0o644)
    os.replace(tmp, path)
    return str(path)


def load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path.name} is not an RSA private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
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


def unionpay_chain() -> tuple[Issued, Issued, Issued]:
    """UnionPay's test root and intermediate CA and its signing certificate under them."""
    root = issue("CFCA TEST CS CA", organization="CFCA TEST", ca=True, days=7300)
    middle = issue("CFCA TEST OCA1", organization="CFCA TEST", issuer=root, ca=True)
    signer = issue(
        f"041@Z12@00040000:SIGN@{UNIONPAY_ORG}@00000001", organization=UNIONPAY_ORG, issuer=middle
    )
    return root, middle, signer


def generate(directory: Path) -> None:
    """Every key, certificate and secret of the demo's world, written to ``directory``."""
    out: dict[str, bytes] = {}
    # WeChat Pay: merchant API certificate and platform certificate under one Tenpay CA.
    wx_ca = issue("Tenpay.com Root CA", ca=True)
    mchid = "16" + digits(8)
    merchant = issue(mchid, organization="微信商户系统", issuer=wx_ca)
    platform = issue("Tenpay.com sign", issuer=wx_ca)
    pub_key = new_key()
    out["wechatpay/apiclient_key.pem"] = private_pem(merchant.key)
    out["wechatpay/apiclient_cert.pem"] = merchant.cert_pem
    out["wechatpay/apiv3.key"] = secrets.token_hex(16).encode()  # 32 ASCII bytes
    out["wechatpay/platform_key.pem"] = private_pem(platform.key)
    out["wechatpay/platform_cert.pem"] = platform.cert_pem
    out["wechatpay/pub_key_private.pem"] = private_pem(pub_key)
    out["wechatpay/pub_key.pem"] = public_pem(pub_key)
    # Alipay: the app's key pair and Alipay's own.
    app_key, alipay_key = new_key(), new_key()
    out["alipay/app_private_key.pem"] = private_pem(app_key)
    out["alipay/app_public_key.txt"] = public_base64(app_key).encode()
    out["alipay/alipay_private_key.pem"] = private_pem(alipay_key)
    out["alipay/alipay_public_key.txt"] = public_base64(alipay_key).encode()
    # UnionPay: test root and intermediate CA, UnionPay's signing certificate, the merchant's.
    mer_id = "777290058" + digits(6)
    root, middle, sign = unionpay_chain()
    mer = issue(
        f"041@Z12@{mer_id}@00000001", organization="中国银联股份有限公司商户", issuer=middle
    )
    for name, issued in (
        ("root_ca", root),
        ("middle_ca", middle),
        ("sign", sign),
        ("merchant_sign", mer),
    ):
        cert_name = f"{name}.pem" if name.endswith("_ca") else f"{name}_cert.pem"
        out[f"unionpay/{name}_key.pem"] = private_pem(issued.key)
        out[f"unionpay/{cert_name}"] = issued.cert_pem
    for name, data in out.items():
        write(directory / name, data, private=FILES[name])
    ids = {
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wechatpay": {
            "mchid": mchid,
            "appid": "wx" + secrets.token_hex(8),
            "merchant_serial_no": merchant.serial_hex,
            "public_key_id": f"PUB_KEY_ID_01{mchid}{datetime.now(CST):%Y%m%d}{digits(8)}",
        },
        "alipay": {"app_id": "2021" + digits(12), "seller_id": "2088" + digits(12)},
        "unionpay": {"mer_id": mer_id, "sign_cert_id": str(mer.cert.serial_number)},
        "alibaba": {
            "access_key_id": "LTAI5t" + alnum(18),
            "access_key_secret": alnum(30),
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
            "template_ids": {kind: alnum(43) for kind in (*MESSAGE_TYPES, "default")},
        },
        "push": {"secret": secrets.token_urlsafe(32)},
    }
    write(
        directory / CREDENTIALS,
        json.dumps(ids, ensure_ascii=False, indent=2).encode(),
        private=True,
    )


@dataclass(frozen=True)
class Credentials:
    """What :func:`generate` wrote, loaded."""

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
    def load_or_create(cls, directory: Path) -> Credentials:
        """Generate every credential once into ``directory``; reload them on later runs."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        complete = (directory / CREDENTIALS).is_file() and all(
            (directory / name).is_file() for name in FILES
        )
        if not complete:
            (directory / CREDENTIALS).unlink(missing_ok=True)
            generate(directory)
        return cls.load(directory)

    @classmethod
    def load(cls, directory: Path) -> Credentials:
        ids = json.loads((directory / CREDENTIALS).read_text())
        platform = load_cert(directory / "wechatpay/platform_cert.pem")
        mer_public = load_cert(directory / "unionpay/merchant_sign_cert.pem").public_key()
        wx_mer_public = load_cert(directory / "wechatpay/apiclient_cert.pem").public_key()
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
            wechatpay_platform_key=load_key(directory / "wechatpay/platform_key.pem"),
            wechatpay_platform_serial=format(platform.serial_number, "X"),
            wechatpay_pub_key=load_key(directory / "wechatpay/pub_key_private.pem"),
            alipay_app_public=app_public,
            alipay_key=load_key(directory / "alipay/alipay_private_key.pem"),
            unionpay_sign_key=load_key(directory / "unionpay/sign_key.pem"),
            unionpay_sign_cert_pem=(directory / "unionpay/sign_cert.pem").read_text(),
            unionpay_merchant_public=mer_public,
        )
