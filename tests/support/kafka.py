"""Read what is really on a topic, independent of any consumer group."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from propfee.cloudevents import CloudEvent
from propfee.events import Event
from propfee.kafka import client_kwargs


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def ce_id(self) -> str:
        return self.headers["ce_id"].decode()


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int, timeout: float = 60.0, settle: float = 1.0
) -> list[Record]:
    """Every record on ``topic`` from the beginning: waits for ``at_least`` records, then keeps
    reading for ``settle`` seconds so that unexpected extra records (duplicates) are seen too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **client_kwargs(),
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        while partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        settle_until: float | None = None
        while True:
            now = loop.time()
            if len(records) >= at_least and settle_until is None:
                settle_until = now + settle
            if settle_until is not None and now >= settle_until:
                return records
            if now > deadline:
                raise AssertionError(f"{topic}: {len(records)} records, expected {at_least}")
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records += [
                    Record(m.topic, m.partition, m.offset, m.key, m.value, dict(m.headers or ()))
                    for m in msgs
                ]
    finally:
        await consumer.stop()


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    event: Event,
    *,
    key: str,
    event_id: str | None = None,
    time=None,  # type: ignore[no-untyped-def]
) -> CloudEvent:
    """Publish one event the way the outbox relay does (for tests that act as a producer)."""
    from datetime import UTC, datetime

    envelope = CloudEvent.new(
        id=event_id,
        type=event.ce_type(),
        source=event.ce_source(),
        subject=key,
        data=event.to_json(),
        time=time or datetime.now(UTC),
    )
    await producer.send_and_wait(
        topic, envelope.data, key=key.encode(), headers=envelope.kafka_headers()
    )
    return envelope
