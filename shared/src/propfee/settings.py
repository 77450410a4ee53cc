"""Settings read from the environment by pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own prefix (``BILLING_``, ...).
``KAFKA_BOOTSTRAP_SERVERS``, ``PROPFEE_TOPIC_PREFIX`` and the Kafka security settings
(:class:`KafkaSecurity`, ``KAFKA_SECURITY_PROTOCOL`` ...) are shared and unprefixed.
Defaults serve the local setup (``make up``), so nothing needs configuring there.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The local PostgreSQL (deploy/local/infra.sh) as the services' runtime role: it reads and
#: writes rows, owns no table.
LOCAL_PG = "postgresql://propfee:propfee@127.0.0.1:55432"
#: The same server as the owner role: it runs the migrations and owns every schema object.
LOCAL_PG_OWNER = "postgresql://propfee_owner:propfee_owner@127.0.0.1:55432"


def migration_url_for(database_url: str) -> str:
    """The URL migrations use when none is configured: for the local runtime role
    (:data:`LOCAL_PG`), the same database as the local owner role; for any other URL, the URL
    itself (one role owns and uses the tables, and the audit log is not protected from it)."""
    if database_url.startswith(LOCAL_PG + "/"):
        return LOCAL_PG_OWNER + database_url[len(LOCAL_PG) :]
    return database_url


def role_of(database_url: str) -> str:
    """The role a URL connects as: its user name, else ``PGUSER``, else the OS user (as
    libpq and asyncpg do)."""
    user = urlsplit(database_url).username
    if user:
        return unquote(user)
    return os.environ.get("PGUSER") or getpass.getuser()


def url_for_logs(url: str) -> str:
    """A database URL with its password hidden."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme_user = head.rsplit(":", 1)[0]
    return f"{scheme_user}:***@{tail}"


class ServiceSettings(BaseSettings):
    """What every service needs: its database, the broker, its HTTP port, messaging knobs."""

    # populate_by_name: ``ServiceSettings(topic_prefix=...)`` in code and tests is honoured (the
    # aliases are the environment variables; without it the keyword was silently ignored).
    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "service"
    database_url: str = Field(
        default=f"{LOCAL_PG}/postgres",
        description="The runtime role's URL (the pool): it may read and write rows, and only "
        "SELECT and INSERT on the audit log; it owns nothing, so it cannot ALTER or DROP.",
    )
    migration_database_url: str = Field(
        default="",
        description="The owner role's URL, used by `migrate` and migrate-on-start; it owns the "
        "schema and grants the runtime role its privileges after each migration. Empty: "
        "derived by migration_url_for (the local owner role for the local runtime role).",
    )
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
    http_workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes on the one port (`serve`); one of them runs the "
        "background work (propfee.cli). 1 serves a development machine; one per core lets "
        "the API use every core (bench/payments/README.md).",
    )
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
    # How long the group waits for a silent member (a killed pod) before giving its partitions
    # to another: the bound on the stall after a kill -9. Heartbeats go every tenth of it.
    consumer_session_timeout_ms: int = Field(default=30000, ge=6000, le=300000)
    # Inbox pruning: a consumed event id is remembered for its topics' retention plus their
    # dead-letter topics' plus this margin (propfee.consumer.inbox_horizon), then forgotten.
    inbox_retention_margin_days: int = Field(default=7, ge=0)
    inbox_prune_interval_s: float = Field(default=3600.0, gt=0)
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

    #: The settings that switch this service's background work off: applied to every uvicorn
    #: worker but the one that runs it (``propfee.cli``). Services with loops of their own
    #: add theirs.
    BACKGROUND_OFF: ClassVar[dict[str, Any]] = {"relay_enabled": False, "consumers_enabled": False}

    @property
    def migration_url(self) -> str:
        """Where migrations run: ``migration_database_url``, else derived from the runtime's."""
        return self.migration_database_url or migration_url_for(self.database_url)

    def database_url_for_logs(self) -> str:
        """The database URL with its password hidden."""
        return url_for_logs(self.database_url)


class KafkaSecurity(BaseSettings):
    """How every Kafka client (producer, consumer, admin) authenticates and encrypts.

    Unprefixed and shared by all services and tools. The default, ``PLAINTEXT``, is the local
    broker's (``make up``, tests); production uses ``SASL_SSL`` with ``SCRAM-SHA-512`` and one
    Kafka user per service (its ACLs come from ``propfee.kafka_acls``). The password comes from
    ``KAFKA_SASL_PASSWORD`` or, better, a file (``KAFKA_SASL_PASSWORD_FILE``, e.g. the Secret
    Strimzi makes for the service's KafkaUser, mounted read-only).
    """

    # Only the KAFKA_* names count, in the environment and as arguments
    # (KafkaSecurity(KAFKA_SECURITY_PROTOCOL="SASL_SSL", ...)): a field's own name (an unrelated
    # SASL_USERNAME, say) never does, and an unknown argument is an error.
    model_config = SettingsConfigDict(extra="forbid", env_file=None)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")
    sasl_password_file: Path | None = Field(
        default=None, validation_alias="KAFKA_SASL_PASSWORD_FILE"
    )
    ssl_cafile: Path | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CAFILE",
        description="PEM file of the CA that signed the brokers' certificates (else the "
        "system's trusted CAs).",
    )
    ssl_certfile: Path | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CERTFILE",
        description="Client certificate (PEM) for mutual TLS; SCRAM needs none.",
    )
    ssl_keyfile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_KEYFILE")
    ssl_check_hostname: bool = Field(default=True, validation_alias="KAFKA_SSL_CHECK_HOSTNAME")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        if self.uses_sasl:
            if not self.sasl_username:
                raise ValueError(
                    f"KAFKA_SASL_USERNAME is required with "
                    f"KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
                )
            if (self.sasl_password is None) == (self.sasl_password_file is None):
                raise ValueError(
                    "exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE is required "
                    f"with KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
                )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        if not self.uses_ssl and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(
                f"KAFKA_SSL_* is set but KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                "uses no TLS (SSL or SASL_SSL)"
            )
        return self

    def password(self) -> str | None:
        """The SASL password, read from its file at each call (a rotated Secret is picked up
        by the next client); a trailing newline in the file is not part of it."""
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is None:
            return None
        try:
            text = self.sasl_password_file.read_text()
        except OSError as exc:
            raise ValueError(
                f"KAFKA_SASL_PASSWORD_FILE={self.sasl_password_file} cannot be read: "
                f"{exc.strerror or exc}"
            ) from exc
        password = text.rstrip("\r\n")
        if not password:
            raise ValueError(f"KAFKA_SASL_PASSWORD_FILE={self.sasl_password_file} is empty")
        return password
