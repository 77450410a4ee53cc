"""Billing's settings: environment variables prefixed ``BILLING_``."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings

#: The receipt secret of development (the demo, the tests): public, so set
#: ``BILLING_RECEIPT_SECRET`` (or ``BILLING_RECEIPT_SECRET_FILE``) anywhere receipts are real.
DEVELOPMENT_RECEIPT_SECRET = "local-development-only-receipt-secret"


class BillingSettings(ServiceSettings):
    """Environment variables prefixed ``BILLING_`` (e.g. ``BILLING_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    service_name: str = "billing"
    database_url: str = f"{LOCAL_PG}/billing"
    http_port: int = 8101
    #: ``development`` (the demo, the tests, ``make up``) accepts the built-in receipt secret;
    #: anything else is production, where billing refuses to start with it.
    #: ``BILLING_ENVIRONMENT`` or the shared ``PROPFEE_ENVIRONMENT``; production unless set.
    environment: Literal["development", "production"] = Field(
        default="production",
        validation_alias=AliasChoices("BILLING_ENVIRONMENT", "PROPFEE_ENVIRONMENT"),
    )
    #: Where owners reach billing's public routes: the receipt's verification link and QR
    #: code are ``{public_base_url}/receipts/verify/{code}``.
    public_base_url: str = "http://127.0.0.1:8101"
    #: Signs receipt numbers into their verification codes (HMAC-SHA256); the file (a mounted
    #: secret) wins when both are set. Changing it invalidates no code already issued (codes
    #: are stored on first download) but makes no new one match an old receipt.
    receipt_secret: SecretStr = SecretStr(DEVELOPMENT_RECEIPT_SECRET)
    receipt_secret_file: Path | None = None
    #: Billing runs: units per work item (a run of at most this many is billed within its
    #: request; a larger one is split into items that any billing process claims).
    run_item_units: int = Field(default=5000, ge=1)
    #: Claimers of run items in this process (0: none here; every uvicorn worker process
    #: claims: the items are shared through the database, ``FOR UPDATE SKIP LOCKED``).
    run_workers: int = Field(default=2, ge=0)
    #: How often an idle claimer looks for items without a NOTIFY (a fallback).
    run_poll_interval_s: float = Field(default=2.0, gt=0)

    def receipt_key(self) -> bytes:
        if self.receipt_secret_file is not None:
            return self.receipt_secret_file.read_bytes().strip()
        return self.receipt_secret.get_secret_value().encode()

    def check_production(self) -> None:
        """Refuse (at start) what only development may use: the built-in receipt secret (it
        is public: anyone could make a receipt's code). Names the setting, never its value."""
        if self.environment == "development":
            return
        key = self.receipt_key()
        if key == DEVELOPMENT_RECEIPT_SECRET.encode():
            raise ValueError(
                "BILLING_RECEIPT_SECRET (or BILLING_RECEIPT_SECRET_FILE) must be set outside "
                "development: the built-in value is public (PROPFEE_ENVIRONMENT=development on "
                "a developer's machine)"
            )
        if len(key) < 16:
            raise ValueError("BILLING_RECEIPT_SECRET must be at least 16 bytes")
