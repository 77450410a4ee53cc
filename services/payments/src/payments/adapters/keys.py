"""Keys and certificates from the settings (inline or files) into verifier configurations."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.adapters.crypto import certificate_serial_hex, load_private_key, load_public_key
from payments.adapters.wechatpay_notify import WechatPayKeys
from payments.settings import ConfigurationError, PaymentsSettings, read_secret

__all__ = ["ConfigurationError"]


def wechatpay_keys(s: PaymentsSettings) -> WechatPayKeys | None:
    """None when WeChat Pay is not configured (no APIv3 key)."""
    apiv3 = read_secret(s.wechatpay_apiv3_key, s.wechatpay_apiv3_key_file)
    if apiv3 is None:
        return None
    apiv3 = apiv3.strip()
    if len(apiv3) != 32:
        raise ConfigurationError("PAYMENTS_WECHATPAY_APIV3_KEY must be 32 bytes")
    keys: dict[str, rsa.RSAPublicKey] = {}
    bundle = read_secret(
        s.wechatpay_platform_certificates_pem, s.wechatpay_platform_certificates_file
    )
    if bundle:
        for cert in x509.load_pem_x509_certificates(bundle):
            public = cert.public_key()
            if not isinstance(public, rsa.RSAPublicKey):
                raise ConfigurationError("WeChat Pay platform certificates must hold RSA keys")
            keys[certificate_serial_hex(cert)] = public
    public_pem = read_secret(s.wechatpay_public_key_pem, s.wechatpay_public_key_file)
    if public_pem:
        if not s.wechatpay_public_key_id:
            raise ConfigurationError("PAYMENTS_WECHATPAY_PUBLIC_KEY_ID is required with the key")
        keys[s.wechatpay_public_key_id] = load_public_key(public_pem)
    if not keys:
        raise ConfigurationError(
            "configure a WeChat Pay platform certificate or public key (or both)"
        )
    return WechatPayKeys(
        mchid=s.wechatpay_mchid,
        apiv3_key=apiv3,
        verifying_keys=keys,
        tolerance_s=s.wechatpay_timestamp_tolerance_s,
        appid=s.wechatpay_appid,
    )


@dataclass(frozen=True)
class AlipayKeys:
    app_id: str
    seller_id: str
    alipay_public_key: rsa.RSAPublicKey
    app_private_key: rsa.RSAPrivateKey | None
    #: Every notification must name ``seller_id`` (on unless the deployment turns it off).
    check_seller_id: bool = True


def alipay_keys(s: PaymentsSettings) -> AlipayKeys | None:
    public = read_secret(s.alipay_public_key_pem, s.alipay_public_key_file)
    if public is None:
        return None
    if not s.alipay_app_id:
        raise ConfigurationError("PAYMENTS_ALIPAY_APP_ID is required with the Alipay public key")
    if s.alipay_check_seller_id and not s.alipay_seller_id:
        raise ConfigurationError(
            "PAYMENTS_ALIPAY_SELLER_ID is required: notifications are checked against it "
            "(PAYMENTS_ALIPAY_CHECK_SELLER_ID=false to accept any seller)"
        )
    private = read_secret(s.alipay_app_private_key_pem, s.alipay_app_private_key_file)
    return AlipayKeys(
        app_id=s.alipay_app_id,
        seller_id=s.alipay_seller_id,
        alipay_public_key=load_public_key(public),
        app_private_key=load_private_key(private) if private else None,
        check_seller_id=s.alipay_check_seller_id,
    )


@dataclass(frozen=True)
class UnionPayKeys:
    mer_id: str
    root: x509.Certificate
    middle: x509.Certificate
    cert_org: str
    sign_cert_id: str
    private_key: rsa.RSAPrivateKey | None


def unionpay_keys(s: PaymentsSettings) -> UnionPayKeys | None:
    root = read_secret(s.unionpay_root_cert_pem, s.unionpay_root_cert_file)
    middle = read_secret(s.unionpay_middle_cert_pem, s.unionpay_middle_cert_file)
    if root is None and middle is None:
        return None
    if root is None or middle is None or not s.unionpay_mer_id:
        raise ConfigurationError(
            "UnionPay needs PAYMENTS_UNIONPAY_MER_ID, the root and the intermediate certificate"
        )
    private = read_secret(s.unionpay_private_key_pem, s.unionpay_private_key_file)
    return UnionPayKeys(
        mer_id=s.unionpay_mer_id,
        root=x509.load_pem_x509_certificate(root),
        middle=x509.load_pem_x509_certificate(middle),
        cert_org=s.unionpay_cert_org,
        sign_cert_id=s.unionpay_sign_cert_id,
        private_key=load_private_key(private) if private else None,
    )
