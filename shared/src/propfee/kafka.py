"""Kafka clients configured the one way Propfee uses them."""

from __future__ import annotations

import asyncio
import os

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from propfee.logging import get_logger
from propfee.topics import TopicSpec, all_topics

log = get_logger(__name__)


def make_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """Idempotent producer, acks=all: no duplicates from retries, nothing acknowledged early.

    No linger: the outbox relay hands the producer a whole batch of rows before it waits for
    any of them, so they are batched anyway; waiting longer for more would only add its
    milliseconds to every hop of an event chain (payment, allocation, dunning, receipt)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_batch_size=512 * 1024,  # the relay publishes thousands at once after a billing run
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    specs: list[TopicSpec] | None = None,
    replication_factor: int | None = None,
) -> list[str]:
    """Create the declared topics that do not exist yet; return the names created.

    Replication factor: the argument, else ``PROPFEE_TOPIC_REPLICATION_FACTOR``, else 1
    (the local single broker); production clusters use 3.
    """
    replicas = replication_factor or int(os.environ.get("PROPFEE_TOPIC_REPLICATION_FACTOR", "1"))
    wanted = {prefix + s.name: s for s in (specs or all_topics())}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="propfee-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions,
                replication_factor=replicas,
                topic_configs=spec.configs(),
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


async def delete_topics(bootstrap_servers: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="propfee-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
