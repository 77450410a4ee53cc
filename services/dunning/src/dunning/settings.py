from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings


class DunningSettings(ServiceSettings):
    """Environment variables prefixed ``DUNNING_`` (e.g. ``DUNNING_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="DUNNING_", extra="ignore")

    service_name: str = "dunning"
    database_url: str = f"{LOCAL_PG}/dunning"
    http_port: int = 8103
