from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings


class PaymentsSettings(ServiceSettings):
    """Environment variables prefixed ``PAYMENTS_`` (e.g. ``PAYMENTS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    service_name: str = "payments"
    database_url: str = f"{LOCAL_PG}/payments"
    http_port: int = 8102
