"""Settings read from the environment by pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own prefix (``BILLING_``, ...).
``KAFKA_BOOTSTRAP_SERVERS`` and ``PROPFEE_TOPIC_PREFIX`` are shared and unprefixed.
Defaults serve the local setup (``make up``), so nothing needs configuring there.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_PG = "postgresql://propfee:propfee@127.0.0.1:55432"


class ServiceSettings(BaseSettings):
    """What every service needs: its database, the broker, its HTTP port, messaging knobs."""

    # populate_by_name: ``ServiceSettings(topic_prefix=...)`` in code and tests is honoured (the
    # aliases are the environment variables; without it the keyword was silently ignored).
    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "service"
    database_url: str = f"{LOCAL_PG}/postgres"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"),
    )
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("PROPFEE_TOPIC_PREFIX"),
        description="Prefix for every topic and consumer group (isolates test runs on a "
        "shared cluster); empty in production so topic names match the contract.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8100
    log_level: str = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Outbox relay.
    relay_enabled: bool = True
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    relay_send_timeout_s: float = 30.0
    outbox_retention_days: int = 7
    # Consumers.
    consumers_enabled: bool = True
    consumer_max_attempts: int = 5
    consumer_backoff_initial_s: float = 0.2
    consumer_backoff_max_s: float = 5.0
    consumer_max_poll_records: int = 1000
    # Uploads (ledgers, bank files, statements): what a file may cost before it is refused
    # (``propfee.uploads``); the byte limit holds for every request body.
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_upload_rows: int = Field(default=200_000, ge=1)
    max_upload_columns: int = Field(default=256, ge=1)
    max_upload_cell_chars: int = Field(default=10_000, ge=1)
    max_xlsx_ratio: int = Field(default=100, ge=1)
    max_xlsx_uncompressed_bytes: int = Field(default=50 * 1000 * 1000, ge=1)
    # Start-up.
    startup_backoff_max_s: float = 10.0
    shutdown_timeout_s: float = 25.0

    def database_url_for_logs(self) -> str:
        """The database URL with its password hidden."""
        head, sep, tail = self.database_url.partition("@")
        if not sep or ":" not in head.split("//", 1)[-1]:
            return self.database_url
        scheme_user = head.rsplit(":", 1)[0]
        return f"{scheme_user}:***@{tail}"
