"""The Kafka clients' security settings (KafkaSecurity) and the one kwargs builder every
producer, consumer and admin client uses (propfee.kafka.client_kwargs)."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest
from pydantic import ValidationError

from propfee.consumer import EventConsumer
from propfee.kafka import client_kwargs, make_admin, make_producer
from propfee.settings import KafkaSecurity

ENV = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_CHECK_HOSTNAME",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_default_is_plaintext_and_adds_nothing_else() -> None:
    assert client_kwargs() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "billing")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", certifi.where())
    kwargs = client_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.get_ca_certs()  # the CA file was loaded


def test_password_from_a_file_without_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-secret\n")
    security = KafkaSecurity(
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_USERNAME="payments",
        KAFKA_SASL_PASSWORD_FILE=secret,
    )
    kwargs = client_kwargs(security)
    assert kwargs["sasl_plain_password"] == "from-the-secret"
    assert "ssl_context" not in kwargs
    secret.write_text("rotated")  # read again by the next client
    assert client_kwargs(security)["sasl_plain_password"] == "rotated"


def test_the_password_never_shows_in_the_settings_repr() -> None:
    security = KafkaSecurity(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_USERNAME="notifier",
        KAFKA_SASL_PASSWORD="hunter2",
    )
    assert "hunter2" not in repr(security)
    assert "hunter2" not in str(security.model_dump())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "x"},
            "KAFKA_SASL_USERNAME",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "x",
                "KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka",
            },
            "exactly one of",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_SSL_CAFILE": "/ca.pem"}, "uses no TLS"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/c.pem"}, "KAFKA_SSL_KEYFILE"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL ", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SECURITY_PROTOCOL",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "GSSAPI",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "x",
            },
            "KAFKA_SASL_MECHANISM",
        ),
    ],
)
def test_incomplete_or_contradictory_settings_say_which_variable(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSecurity(**settings)  # type: ignore[arg-type]


def test_a_missing_password_file_names_the_variable(tmp_path: Path) -> None:
    security = KafkaSecurity(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_USERNAME="dunning",
        KAFKA_SASL_PASSWORD_FILE=tmp_path / "absent",
    )
    with pytest.raises(ValueError, match=r"KAFKA_SASL_PASSWORD_FILE=.*absent"):
        client_kwargs(security)


def test_a_missing_ca_file_fails_at_client_creation() -> None:
    security = KafkaSecurity(
        KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=Path("/nonexistent/ca.pem")
    )
    with pytest.raises(OSError):
        client_kwargs(security)


async def test_every_client_gets_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The producer, the admin client and the consumer group all carry SASL_SSL."""
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "billing")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    producer = make_producer("127.0.0.1:1", client_id="t")
    assert producer.client._security_protocol == "SASL_SSL"
    assert producer.client._sasl_plain_username == "billing"
    admin = make_admin("127.0.0.1:1")
    assert admin._client._security_protocol == "SASL_SSL"
    captured: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_consumer(*topics: str, **kwargs: object) -> None:
        captured.update(kwargs)
        raise Stop

    monkeypatch.setattr("propfee.consumer.AIOKafkaConsumer", fake_consumer)
    consumer = EventConsumer(
        group="billing",
        bootstrap_servers="127.0.0.1:1",
        pool=None,  # type: ignore[arg-type]
        handlers={},
        dlq_producer=producer,
    )
    with pytest.raises(Stop):
        await consumer.run()
    assert captured["security_protocol"] == "SASL_SSL"
    assert captured["sasl_mechanism"] == "SCRAM-SHA-512"
    assert captured["sasl_plain_password"] == "s3cret"


def test_only_the_kafka_names_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Field names without the KAFKA_ prefix (set for something else) never count."""
    monkeypatch.setenv("SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SASL_USERNAME", "someone-else")
    monkeypatch.setenv("security_protocol", "SSL")
    assert client_kwargs() == {"security_protocol": "PLAINTEXT"}
