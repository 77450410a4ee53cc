"""Notifier's settings: environment variables prefixed ``NOTIFIER_``.

Defaults serve the local setup. Provider secrets come from the environment (a Kubernetes
Secret or a file-backed env), never from the repository.
"""

from datetime import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from propfee import contact_rules
from propfee.pay_links import DEVELOPMENT_SECRET
from propfee.settings import LOCAL_PG, ServiceSettings


class ConfigurationError(ValueError):
    """A setting that cannot be used; names the setting, never its value."""


class NotifierSettings(ServiceSettings):
    """Environment variables prefixed ``NOTIFIER_`` (e.g. ``NOTIFIER_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    service_name: str = "notifier"
    database_url: str = f"{LOCAL_PG}/notifier"
    http_port: int = 8104

    BACKGROUND_OFF: ClassVar[dict[str, Any]] = {
        **ServiceSettings.BACKGROUND_OFF,
        "dispatcher_enabled": False,
        "print_workers": 0,
    }

    # Dispatcher (the background loop uses the wall clock; POST /dispatch takes as_of).
    dispatcher_enabled: bool = True
    # Print jobs (POST /letters/print-jobs): workers rendering their letters, a chunk of
    # ``print_chunk`` letters per transaction; idle, they look again every
    # ``print_interval_s``. 0 workers: this process renders none.
    print_workers: int = Field(default=1, ge=0)
    print_chunk: int = Field(default=20, ge=1)
    print_interval_s: float = Field(default=1.0, gt=0)
    dispatch_interval_s: float = 1.0
    dispatch_batch_size: int = 500
    dispatch_workers: int = 2
    # A claimed message ('sending') belongs to its dispatcher for this long (wall clock). No
    # send starts later than the lease minus provider_timeout_s minus a second, so a live
    # dispatcher's claim never expires under a call; past it, the claim is recovered
    # (service_layer/recovery.py). Keep it well above a batch's sending time.
    dispatch_lease_s: float = 300.0
    # Requests in flight to providers (and the keep-alive pool's size): 500/s at 20 ms needs
    # about 10. httpcore scans every pooled connection on each request, so a pool much larger
    # than needed costs CPU per message (bench/notifier/README.md).
    send_concurrency: int = 24
    # Of each provider's rate limit (``*_rate_per_s``), the share left unspent against the
    # jitter between our clock and the provider's (TokenBucket.per_second).
    provider_rate_margin: float = Field(default=0.02, ge=0.0, lt=0.5)
    # Rules.
    default_time_zone: str = "Asia/Shanghai"
    quiet_start: time = contact_rules.QUIET_START
    quiet_end: time = contact_rules.QUIET_END
    reminder_cap: int = contact_rules.REMINDER_CAP
    reminder_cap_window_days: int = contact_rules.REMINDER_CAP_WINDOW_DAYS
    contact_grace_hours: float = 72.0
    essential_stages: list[str] = Field(
        default_factory=lambda: [
            "final_reminder",
            "demand",
            "demand_letter",
            "final_letter",
            "legal_demand",
        ]
    )
    max_attempts: int = 5
    retry_initial_s: float = 60.0
    retry_max_s: float = 3600.0
    provider_timeout_s: float = 10.0
    # Content.
    default_company_name: str = "物业服务中心"
    default_service_phone: str = ""
    #: ``development``: a developer's machine (``make up``, the demo, the tests), where the
    #: built-in pay-link secret is accepted; anything else is production and refuses to start
    #: without one. ``NOTIFIER_ENVIRONMENT`` or the shared ``PROPFEE_ENVIRONMENT``.
    environment: Literal["development", "production"] = Field(
        default="production",
        validation_alias=AliasChoices("NOTIFIER_ENVIRONMENT", "PROPFEE_ENVIRONMENT"),
    )
    # Pay links (issue 19): a short signed token per household and occasion
    # (propfee.pay_links), printed after this base ("https://pf.cn/p/aB3xK9q2Z"; in SMS
    # without "https://"). The secret signs tokens (payments verifies with the same one).
    pay_link_base_url: str = "https://pf.cn/p/"
    pay_link_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    pay_link_secret_file: Path | None = None
    #: A link lives this long from its first message; a demand's at least until its deadline
    #: plus ``pay_link_after_deadline_days``.
    pay_link_lifetime_days: int = Field(default=60, ge=1)
    pay_link_after_deadline_days: int = Field(default=30, ge=0)
    #: A reminder whose stage sets no deadline states this many days after it was asked for
    #: (notifier.domain.deadlines): a date, never "近日".
    reminder_pay_within_days: int = Field(default=7, ge=1)
    # Templates staff save: the sample rendering runs in a separate process with these limits
    # (a template exceeding one is refused, 422); dispatch renders with the same output cap.
    template_render_timeout_s: float = 2.0
    template_max_output_chars: int = 10_000
    template_render_memory_mb: int = 256
    # SMS.
    sms_provider: str = "alibaba"  # alibaba | tencent
    sms_sign_name: str = "物业服务"
    #: Segments a message may take when sent (notifier.domain.sms: UCS-2 70 for one, 67 each
    #: when longer); a longer text fails on SMS. The defaults fit one segment; a company's
    #: saved bill or reminder must (refused at save), other types are warned.
    sms_max_segments: int = 2
    sms_template_codes: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "alibaba": {
                "bill": "SMS_BILL",
                "receipt": "SMS_RECEIPT",
                "reminder": "SMS_REMINDER",
                "confirmation": "SMS_CONFIRMATION",
            },
            "tencent": {
                "bill": "100001",
                "receipt": "100002",
                "reminder": "100003",
                "confirmation": "100004",
            },
        }
    )
    #: Alibaba's SmsReport and Tencent's status callbacks carry no signature: their callback
    #: URLs carry this shared secret (``/receipts/alibaba?token=...``). Empty: both endpoints
    #: refuse every push (404), never accept unauthenticated ones.
    receipt_callback_token: SecretStr = SecretStr("")
    alibaba_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    alibaba_access_key_id: str = ""
    alibaba_access_key_secret: SecretStr = SecretStr("")
    alibaba_rate_per_s: float = 500.0
    tencent_endpoint: str = "https://sms.tencentcloudapi.com/"
    tencent_secret_id: str = ""
    tencent_secret_key: SecretStr = SecretStr("")
    tencent_sms_sdk_app_id: str = ""
    tencent_region: str = "ap-guangzhou"
    tencent_rate_per_s: float = 500.0
    # Promise and plan confirmations (dunning.promise-recorded, billing.installment-plan-created)
    # are asked on this channel; the party's preferences may substitute another.
    confirmation_channel: str = "sms"
    # WeChat: the app whose openids billing stores. "template": official-account template
    # messages (模板消息); "subscribe": mini-program subscription messages (订阅消息).
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr = SecretStr("")
    wechat_message_api: Literal["template", "subscribe"] = "template"
    wechat_token_api: Literal["stable_token", "token"] = "stable_token"
    wechat_template_ids: dict[str, str] = Field(default_factory=dict)
    # Per message type (or "default"): {"template_id", "page", "data": {keyword: variable}};
    # keywords are the template's (thing1, amount2, time3, ...), variables the message's.
    wechat_subscribe_templates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    wechat_miniprogram_state: Literal["formal", "trial", "developer"] = "formal"
    wechat_lang: str = "zh_CN"
    wechat_rate_per_s: float = 100.0
    # Message push (服务器配置): the Token and, in safe mode, the EncodingAESKey. With a Token
    # set, a WeChat message is "sent" until its push (TEMPLATESENDJOBFINISH,
    # subscribe_msg_sent_event) proves delivery; without, the msgid is the proof.
    wechat_callback_token: SecretStr = SecretStr("")
    wechat_encoding_aes_key: SecretStr = SecretStr("")
    # A push whose timestamp is further than this from now is refused (stale or replayed);
    # pushes seen within the window are remembered (wechat_push_seen) and a replay ignored.
    wechat_push_max_age_s: int = 300
    # App push through a webhook (HMAC-SHA256 signed body).
    push_webhook_url: str = ""
    push_webhook_secret: SecretStr = SecretStr("")
    push_rate_per_s: float = 200.0
    # E-mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    email_from: str = "noreply@propfee.local"
    email_rate_per_s: float = 50.0

    def pay_link_key(self) -> bytes:
        """The pay-link signing secret: from its file when set, else the inline value."""
        if self.pay_link_secret_file is not None:
            return self.pay_link_secret_file.read_bytes().strip()
        return self.pay_link_secret.get_secret_value().encode().strip()

    def check_production(self) -> None:
        """Refuse (at start) what only development may use: the built-in pay-link secret."""
        if self.environment == "development":
            return
        key = self.pay_link_key()
        if not key or key == DEVELOPMENT_SECRET.encode():
            raise ConfigurationError(
                "NOTIFIER_PAY_LINK_SECRET (or NOTIFIER_PAY_LINK_SECRET_FILE) must be set "
                "outside development: the built-in value is public"
            )
        if len(key) < 16:
            raise ConfigurationError("NOTIFIER_PAY_LINK_SECRET must be at least 16 bytes")
