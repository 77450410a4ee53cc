"""Payments' settings: environment variables prefixed ``PAYMENTS_``.

Every secret (private keys, the APIv3 key, certificates) can be given inline (``..._PEM`` or the
value itself) or as a path (``..._FILE``, e.g. a mounted Kubernetes secret); the file wins when
both are set. Nothing secret lives in the repository. The README lists every setting.
"""

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings


def read_secret(value: SecretStr | None, path: Path | None) -> bytes | None:
    """The secret from its file when a path is set, else from the inline value."""
    if path is not None:
        return path.read_bytes()
    if value is not None and value.get_secret_value():
        return value.get_secret_value().encode()
    return None


class PaymentsSettings(ServiceSettings):
    """Environment variables prefixed ``PAYMENTS_`` (e.g. ``PAYMENTS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    service_name: str = "payments"
    database_url: str = f"{LOCAL_PG}/payments"
    http_port: int = 8102
    #: uvicorn worker processes behind the one port (each with its own pool, relay and
    #: consumers: replicas are safe). 1 serves a development machine; one per core lets the
    #: webhooks use every core (bench/payments/README.md).
    http_workers: int = 1

    # Orders and links.
    order_ttl_s: int = 1800
    #: How long one expiry run keeps an order to itself while it asks and closes it at the
    #: gateway (other replicas' runs skip it meanwhile); longer than a few gateway calls.
    order_expiry_lease_s: float = 120.0
    public_base_url: str = "http://127.0.0.1:8102"
    qr_secret: SecretStr = SecretStr("local-development-only-qr-secret")
    qr_secret_file: Path | None = None
    gateway_timeout_s: float = 10.0
    codepay_query_attempts: int = 6
    codepay_query_interval_s: float = 5.0

    # WeChat Pay API v3.
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_api_base_url: str = "https://api.mch.weixin.qq.com"
    wechatpay_merchant_serial_no: str = ""
    wechatpay_merchant_private_key_pem: SecretStr | None = None
    wechatpay_merchant_private_key_file: Path | None = None
    wechatpay_apiv3_key: SecretStr | None = None
    wechatpay_apiv3_key_file: Path | None = None
    wechatpay_platform_certificates_pem: SecretStr | None = None
    wechatpay_platform_certificates_file: Path | None = None
    wechatpay_public_key_id: str = ""
    wechatpay_public_key_pem: SecretStr | None = None
    wechatpay_public_key_file: Path | None = None
    wechatpay_timestamp_tolerance_s: int = 300

    # Alipay open platform (RSA2).
    alipay_app_id: str = ""
    alipay_seller_id: str = ""
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_app_private_key_pem: SecretStr | None = None
    alipay_app_private_key_file: Path | None = None
    alipay_public_key_pem: SecretStr | None = None
    alipay_public_key_file: Path | None = None

    # UnionPay 全渠道 5.1.0.
    unionpay_mer_id: str = ""
    unionpay_base_url: str = "https://gateway.95516.com"
    unionpay_sign_cert_id: str = ""
    unionpay_private_key_pem: SecretStr | None = None
    unionpay_private_key_file: Path | None = None
    unionpay_root_cert_pem: SecretStr | None = None
    unionpay_root_cert_file: Path | None = None
    unionpay_middle_cert_pem: SecretStr | None = None
    unionpay_middle_cert_file: Path | None = None
    unionpay_cert_org: str = "中国银联股份有限公司"
