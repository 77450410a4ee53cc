from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings


class NotifierSettings(ServiceSettings):
    """Environment variables prefixed ``NOTIFIER_`` (e.g. ``NOTIFIER_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    service_name: str = "notifier"
    database_url: str = f"{LOCAL_PG}/notifier"
    http_port: int = 8104
