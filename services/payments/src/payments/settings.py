"""Payments' settings: environment variables prefixed ``PAYMENTS_``.

Every secret (private keys, the APIv3 key, certificates) can be given inline (``..._PEM`` or the
value itself) or as a path (``..._FILE``, e.g. a mounted Kubernetes secret); the file wins when
both are set. Nothing secret lives in the repository. The README lists every setting.
"""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from propfee.pay_links import DEVELOPMENT_SECRET
from propfee.settings import LOCAL_PG, ServiceSettings

#: The QR secret of development (``make up``, the demo, the tests); refused in production.
DEVELOPMENT_QR_SECRET = "local-development-only-qr-secret"
#: The pay-link secret of development, the same literal as the notifier's
#: (``NOTIFIER_PAY_LINK_SECRET``): the notifier signs the tokens, payments verifies them, so
#: locally and in the demo both must hold the same value. Refused in production.
DEVELOPMENT_PAY_LINK_SECRET = DEVELOPMENT_SECRET


class ConfigurationError(ValueError):
    """A setting that cannot be used; names the setting, never its value."""


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
    #: ``development``: a developer's machine (``make up``, the demo, the tests set it), where
    #: the built-in QR secret is accepted. Anything else is production: payments refuses to
    #: start with a default secret. ``PAYMENTS_ENVIRONMENT`` or the shared
    #: ``PROPFEE_ENVIRONMENT``; production unless set.
    environment: Literal["development", "production"] = Field(
        default="production",
        validation_alias=AliasChoices("PAYMENTS_ENVIRONMENT", "PROPFEE_ENVIRONMENT"),
    )

    # Orders and links.
    order_ttl_s: int = 1800
    #: How long one expiry run keeps an order to itself while it asks and closes it at the
    #: gateway (other replicas' runs skip it meanwhile); longer than a few gateway calls.
    order_expiry_lease_s: float = 120.0
    public_base_url: str = "http://127.0.0.1:8102"
    qr_secret: SecretStr = SecretStr(DEVELOPMENT_QR_SECRET)
    qr_secret_file: Path | None = None
    #: The key the notifier signs pay-link tokens with (``propfee.pay_links``; the notifier's
    #: ``NOTIFIER_PAY_LINK_SECRET``): the same value in both services.
    pay_link_secret: SecretStr = SecretStr(DEVELOPMENT_PAY_LINK_SECRET)
    pay_link_secret_file: Path | None = None
    #: Opening pay links (``GET /p/{token}``, open): a token bucket per client address, for
    #: signed tokens (a forged one is refused before any database read). Generous: many
    #: households may share one carrier address.
    pay_link_reads_per_client_burst: int = 60
    pay_link_reads_per_client_per_hour: float = 600.0
    #: Orders from a printed QR link (open, no token): a token bucket per link and one per
    #: client address, in PostgreSQL (shared by every replica). ``burst`` orders at once, then
    #: ``per_hour`` a hour; beyond that 429 with Retry-After.
    qr_orders_per_link_burst: int = 5
    qr_orders_per_link_per_hour: float = 30.0
    qr_orders_per_client_burst: int = 20
    qr_orders_per_client_per_hour: float = 240.0
    gateway_timeout_s: float = 10.0
    codepay_query_attempts: int = 6
    codepay_query_interval_s: float = 5.0
    #: A staff refund above this many fen (default 50,000 fen = 500 yuan) needs a second
    #: person: it is recorded ``pending_approval`` and moves no money until another member of
    #: staff (finance, a community manager, a company admin) approves it
    #: (``POST /refunds/{refund_id}/approval``). At or under it, a refund runs at once.
    refund_second_approval_over_fen: int = Field(default=50_000, ge=0)

    # The company owning each gateway's merchant account (one account per gateway): its
    # records (exceptions without a community, statements, discrepancies) are that company's.
    # Empty: no company's (only a deployment-wide service token sees them).
    wechatpay_company_id: str = ""
    alipay_company_id: str = ""
    unionpay_company_id: str = ""

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
    #: Checked in every notification (the merchant's PID, 2088...): on by default; a
    #: deployment that cannot know it says so with ``false``.
    alipay_check_seller_id: bool = True
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

    def check_production(self) -> None:
        """Refuse (at start) what only development may use: the built-in QR and pay-link
        secrets."""
        if self.environment == "development":
            return
        for name, value, path, built_in in (
            ("PAYMENTS_QR_SECRET", self.qr_secret, self.qr_secret_file, DEVELOPMENT_QR_SECRET),
            (
                "PAYMENTS_PAY_LINK_SECRET",
                self.pay_link_secret,
                self.pay_link_secret_file,
                DEVELOPMENT_PAY_LINK_SECRET,
            ),
        ):
            secret = read_secret(value, path)
            if secret is None or secret.strip() == built_in.encode():
                raise ConfigurationError(
                    f"{name} (or {name}_FILE) must be set outside development: the built-in "
                    "value is public (PAYMENTS_ENVIRONMENT=development on a developer's machine)"
                )
            if len(secret.strip()) < 16:
                raise ConfigurationError(f"{name} must be at least 16 bytes")

    def pay_link_key(self) -> bytes:
        """The pay-link secret (from its file when set)."""
        secret = read_secret(self.pay_link_secret, self.pay_link_secret_file)
        assert secret is not None  # the default, or refused at start
        return secret.strip()
