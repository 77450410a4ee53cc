"""Kafka authenticated and authorised (issue 16): a secured broker (SASL_SSL, SCRAM-SHA-512,
StandardAuthorizer, no ACL = denied) with each service's ACLs from ``propfee.kafka_acls`` (the
generator of the Helm chart's KafkaUsers), applied with Kafka's own ``kafka-acls`` tool.

``deploy/local/infra.sh start-kafka-secure`` runs a second, separate broker (ports 9192-9194,
``$PROPFEE_HOME/kafka-secure``); this module starts it and stops it (only it) at the end. The
clients are the services' own: ``make_producer`` and the consumer settings of
``propfee.consumer`` with ``KafkaSecurity`` read from what ``env-kafka-secure`` prints.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from propfee.auth.dev import DevIssuer
from propfee.events import PartyContactsUpdated, PaymentReceived
from propfee.kafka import client_kwargs, make_admin, make_producer
from propfee.kafka_acls import service_acls
from propfee.settings import KafkaSecurity
from propfee.topics import PUBLICATIONS, SUBSCRIPTIONS, dlq_topic
from tests.support.auth import auth_env
from tests.support.fixtures import wait_until
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
PAYMENTS_TOPIC = PaymentReceived.topic()
CONTACTS_TOPIC = PartyContactsUpdated.topic()


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[None]:
    subprocess.run(["bash", str(INFRA), "start-kafka-secure"], check=True, timeout=600)
    try:
        yield
    finally:
        subprocess.run(["bash", str(INFRA), "stop-kafka-secure"], check=False, timeout=120)


def user_env(user: str) -> dict[str, str]:
    """The ``export`` lines of ``infra.sh env-kafka-secure USER`` as a dict."""
    out = subprocess.run(
        ["bash", str(INFRA), "env-kafka-secure", user],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        (env[name],) = shlex.split(value)
    return env


def settings_of(user: str, **override: object) -> tuple[str, KafkaSecurity]:
    env = user_env(user)
    security = KafkaSecurity(
        KAFKA_SECURITY_PROTOCOL=env["KAFKA_SECURITY_PROTOCOL"],  # type: ignore[arg-type]
        KAFKA_SASL_MECHANISM=env["KAFKA_SASL_MECHANISM"],  # type: ignore[arg-type]
        KAFKA_SASL_USERNAME=env["KAFKA_SASL_USERNAME"],
        KAFKA_SASL_PASSWORD_FILE=Path(env["KAFKA_SASL_PASSWORD_FILE"]),
        KAFKA_SSL_CAFILE=Path(env["KAFKA_SSL_CAFILE"]) if "KAFKA_SSL_CAFILE" in env else None,
    )
    if override:
        security = security.model_copy(update=override)
    return env["KAFKA_BOOTSTRAP_SERVERS"], security


async def publish(user: str, topic: str, value: bytes = b'{"test": true}') -> None:
    bootstrap, security = settings_of(user)
    producer = make_producer(bootstrap, client_id=f"test-{user}", security=security)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"unit-1"), timeout=30)
    finally:
        await producer.stop()


def service_consumer(user: str, group: str, *topics: str) -> AIOKafkaConsumer:
    """A consumer with the service's settings (as propfee.consumer.EventConsumer makes it)."""
    bootstrap, security = settings_of(user)
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"test-{user}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **client_kwargs(security),
    )


async def read_until(consumer: AIOKafkaConsumer, value: bytes, timeout: float = 30) -> None:
    """Poll until ``value`` arrives (or the broker refuses); commit what was read."""
    try:
        await consumer.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if any(r.value == value for records in batches.values() for r in records):
                await consumer.commit()
                return
        raise AssertionError(f"{value!r} did not arrive")
    finally:
        await consumer.stop()


async def test_a_service_without_write_acl_cannot_publish_payments(secure_kafka: None) -> None:
    """dunning reads payments.payment-received; it cannot forge one (billing would allocate it)."""
    assert PAYMENTS_TOPIC not in {
        a.name for a in service_acls("dunning") if "Write" in a.operations
    }
    with pytest.raises(TopicAuthorizationFailedError):
        await publish("dunning", PAYMENTS_TOPIC)
    await publish("payments", PAYMENTS_TOPIC)


async def test_a_consumer_without_read_acl_cannot_read_the_contacts(secure_kafka: None) -> None:
    """billing.party-contacts-updated carries phone numbers: notifier reads it, and dunning
    (the evidence names the debtor), payments not."""
    value = f'{{"contacts": "{uuid.uuid4()}"}}'.encode()
    await publish("billing", CONTACTS_TOPIC, value)
    with pytest.raises(TopicAuthorizationFailedError):
        await read_until(service_consumer("payments", "payments", CONTACTS_TOPIC), value)
    await read_until(service_consumer("notifier", "notifier", CONTACTS_TOPIC), value)
    await read_until(service_consumer("dunning", "dunning", CONTACTS_TOPIC), value)
    # Its publisher may write the topic, not read it back.
    with pytest.raises(TopicAuthorizationFailedError):
        await read_until(service_consumer("billing", "billing", CONTACTS_TOPIC), value)


async def test_a_service_cannot_use_another_services_consumer_group(secure_kafka: None) -> None:
    """A group's committed offsets are its own: dunning cannot join (or move) notifier's."""
    with pytest.raises(GroupAuthorizationFailedError):
        await read_until(service_consumer("dunning", "notifier", PAYMENTS_TOPIC), b"any")


async def test_unauthenticated_and_wrong_password_clients_are_refused(secure_kafka: None) -> None:
    bootstrap, security = settings_of("payments")
    wrong = security.model_copy(
        update={"sasl_password_file": None, "sasl_password": SecretStr("guess")}
    )
    for attempt in (wrong, KafkaSecurity()):  # a wrong password; no TLS, no SASL at all
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, request_timeout_ms=5000, **client_kwargs(attempt)
        )
        with pytest.raises((KafkaError, KafkaConnectionError, OSError)):
            await asyncio.wait_for(producer.start(), timeout=30)
        await producer.stop()


async def test_the_generated_acls_let_every_service_do_its_work(secure_kafka: None) -> None:
    """Least privilege, but enough: each service publishes its events and its dead letters
    (idempotent producer, no cluster permission) and its group reads all its subscriptions."""
    for service in SUBSCRIPTIONS:
        writes = [e.topic() for e in PUBLICATIONS[service]]
        writes += [dlq_topic(e.topic(), service) for e in SUBSCRIPTIONS[service]]
        bootstrap, security = settings_of(service)
        producer = make_producer(bootstrap, client_id=f"test-{service}", security=security)
        await producer.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(producer.send_and_wait(t, b"{}", key=b"u") for t in writes)),
                timeout=60,
            )
        finally:
            await producer.stop()
        reads = sorted({e.topic() for e in SUBSCRIPTIONS[service]})
        consumer = service_consumer(service, service, *reads)
        await consumer.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not consumer.assignment() and loop.time() < deadline:
                await consumer.getmany(timeout_ms=500)
            assert {tp.topic for tp in consumer.assignment()} == set(reads), service
            await consumer.commit()  # the group's offsets: Read on the group
        finally:
            await consumer.stop()


async def test_a_service_runs_on_the_secured_broker_with_its_own_user(
    secure_kafka: None, create_database: Any, dev_issuer: DevIssuer, tmp_path: Path
) -> None:
    """billing as a real process, configured only through the KAFKA_* environment the Helm
    chart gives its pods: it is ready (its producer connected) and its consumer group joins."""
    env = user_env("billing")
    process = ServiceProcess(
        "billing",
        database_url=await create_database("billing_secure"),
        bootstrap_servers=env.pop("KAFKA_BOOTSTRAP_SERVERS"),
        topic_prefix="",
        log_dir=tmp_path,
        env={**auth_env(dev_issuer), **env},
    )
    bootstrap, admin_security = settings_of("admin")
    admin = make_admin(bootstrap, security=admin_security)
    await admin.start()
    try:
        await asyncio.to_thread(process.start, timeout=120)

        async def group_joined() -> bool:
            (response,) = await admin.describe_consumer_groups(["billing"])
            _error, _group, state, _type, _protocol, members, *_ = response.groups[0]
            return state == "Stable" and len(members) == 1

        await wait_until(group_joined, timeout=60)
    finally:
        await admin.close()
        process.stop()
