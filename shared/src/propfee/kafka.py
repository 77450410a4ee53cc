"""Kafka clients configured the one way Propfee uses them.

Every producer, consumer and admin client takes its security settings from
:func:`client_kwargs` (TLS, SASL/SCRAM; ``KAFKA_SECURITY_PROTOCOL`` ... in the environment).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from propfee.logging import get_logger
from propfee.settings import KafkaSecurity
from propfee.topics import REPLICATIONS, Replication, TopicSpec, all_topics

log = get_logger(__name__)


def client_kwargs(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The aiokafka keyword arguments for authentication and encryption, the same for
    producers, consumers and admin clients. ``None`` reads :class:`KafkaSecurity` from the
    environment (unprefixed ``KAFKA_*`` variables); ``PLAINTEXT`` (the default) adds nothing
    but the protocol."""
    s = security if security is not None else KafkaSecurity()
    kwargs: dict[str, Any] = {"security_protocol": s.security_protocol}
    if s.uses_ssl:
        context = create_ssl_context(
            cafile=s.ssl_cafile,
            certfile=s.ssl_certfile,
            keyfile=s.ssl_keyfile,
        )
        context.check_hostname = s.ssl_check_hostname
        kwargs["ssl_context"] = context
    if s.uses_sasl:
        kwargs["sasl_mechanism"] = s.sasl_mechanism
        kwargs["sasl_plain_username"] = s.sasl_username
        kwargs["sasl_plain_password"] = s.password()
    return kwargs


def make_admin(
    bootstrap_servers: str,
    *,
    client_id: str = "propfee-admin",
    security: KafkaSecurity | None = None,
) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, **client_kwargs(security)
    )


def make_producer(
    bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaProducer:
    """Idempotent producer, acks=all: no duplicates from retries, nothing acknowledged early.

    No linger: the outbox relay hands the producer a whole batch of rows before it waits for
    any of them, so they are batched anyway; waiting longer for more would only add its
    milliseconds to every hop of an event chain (payment, allocation, dunning, receipt)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        **client_kwargs(security),
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_batch_size=512 * 1024,  # the relay publishes thousands at once after a billing run
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


def topic_replication() -> Replication:
    """The replication named by ``PROPFEE_TOPIC_REPLICATION`` (default ``single-broker``)."""
    name = os.environ.get("PROPFEE_TOPIC_REPLICATION", "single-broker")
    try:
        return REPLICATIONS[name]
    except KeyError:
        raise ValueError(
            f"PROPFEE_TOPIC_REPLICATION={name!r}: expected one of {', '.join(REPLICATIONS)}"
        ) from None


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    specs: list[TopicSpec] | None = None,
    replication: Replication | None = None,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Create the declared topics that do not exist yet; return the names created.

    Replication (factor and ``min.insync.replicas``): the argument, else the one named by
    ``PROPFEE_TOPIC_REPLICATION`` (``single-broker``, the default, or ``production``; see
    :data:`propfee.topics.REPLICATIONS`). Topics that exist are left as they are.
    """
    replication = replication or topic_replication()
    wanted = {prefix + s.name: s for s in (specs or all_topics())}
    admin = make_admin(bootstrap_servers, security=security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions,
                replication_factor=replication.factor,
                topic_configs=spec.configs() | replication.configs(),
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
            log.info("topics created", topics=[t.name for t in missing])
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(
    bootstrap_servers: str, names: list[str], *, security: KafkaSecurity | None = None
) -> None:
    admin = make_admin(bootstrap_servers, security=security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
