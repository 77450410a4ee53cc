from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings


class BillingSettings(ServiceSettings):
    """Environment variables prefixed ``BILLING_`` (e.g. ``BILLING_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    service_name: str = "billing"
    database_url: str = f"{LOCAL_PG}/billing"
    http_port: int = 8101
