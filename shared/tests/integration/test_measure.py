"""Scrape-time gauges against the real Kafka and PostgreSQL (``propfee.measure``): consumer
lag of a stuck consumer, DLQ depth, outbox age; and a scrape that still answers at once when
the database does not."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from prometheus_client import REGISTRY

from propfee import measure
from propfee.consumer import EventConsumer, EventContext
from propfee.events import PaymentReceived
from propfee.outbox import add_event
from propfee.topics import dlq_topic
from tests.support.fixtures import wait_until
from tests.support.kafka import publish

from .conftest import payment

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"
GROUP = "billing"  # a group whose DLQ topics are declared (created under the test's prefix)


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def lags(topic: str = TOPIC) -> dict[str, float]:
    """The lag of each partition of ``topic`` (6 partitions, all held by the one consumer)."""
    values = {
        str(p): gauge("propfee_consumer_lag", group=GROUP, topic=topic, partition=str(p))
        for p in range(6)
    }
    return {p: v for p, v in values.items() if v is not None}


async def test_lag_of_a_stuck_consumer_and_dlq_depth_are_measured_from_kafka(
    messaging_pool: asyncpg.Pool,
    producer,  # type: ignore[no-untyped-def]
    kafka: str,
    test_prefix: str,
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"  # one key: one partition
    release = asyncio.Event()
    taken = asyncio.Event()

    async def stuck(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        taken.set()
        await release.wait()

    consumer = EventConsumer(
        group=GROUP,
        bootstrap_servers=kafka,
        pool=messaging_pool,
        handlers={PaymentReceived: stuck},
        dlq_producer=producer,
        topic_prefix=test_prefix,
    )
    await publish(producer, test_prefix + TOPIC, payment("p-0", unit), key=unit)
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(taken.wait(), timeout=60)
        # Five records nobody will consume while the handler is stuck on p-0.
        for n in range(1, 6):
            await publish(producer, test_prefix + TOPIC, payment(f"p-{n}", unit), key=unit)
        # And one dead letter in the group's DLQ for that topic.
        dlq = dlq_topic(TOPIC, GROUP)
        await producer.send_and_wait(test_prefix + dlq, b"{}", key=unit.encode())

        async def measured() -> bool:
            await measure.measure_kafka(consumer)
            return sorted(lags().values()) == [0] * 5 + [5] and (
                gauge("propfee_dlq_messages", topic=dlq) == 1
            )

        await wait_until(measured, timeout=30, interval=0.5)
        [partition] = [p for p, lag in lags().items() if lag == 5]
        # Other partitions held are measured too (nothing behind), other DLQs are empty.
        assert gauge("propfee_dlq_messages", topic=dlq_topic("billing.invoice-issued", GROUP)) in (
            None,
            0,
        )
        assert gauge("propfee_dlq_messages", topic=dlq_topic(TOPIC + "x", GROUP)) is None
    finally:
        release.set()
        consumer.stop()
        await asyncio.wait_for(task, timeout=30)

    # Released, the consumer takes the rest: the lag falls to 0.
    consumer2_done = asyncio.Event()

    async def done(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        if event.payment_id == "p-5":
            consumer2_done.set()

    again = EventConsumer(
        group=GROUP,
        bootstrap_servers=kafka,
        pool=messaging_pool,
        handlers={PaymentReceived: done},
        dlq_producer=producer,
        topic_prefix=test_prefix,
    )
    task = asyncio.create_task(again.run())
    try:
        await asyncio.wait_for(consumer2_done.wait(), timeout=60)

        async def caught_up() -> bool:
            await measure.measure_kafka(again)
            return lags().get(partition) == 0

        await wait_until(caught_up, timeout=30, interval=0.5)
    finally:
        again.stop()
        await asyncio.wait_for(task, timeout=30)


async def test_outbox_age_is_the_oldest_unpublished_row(messaging_pool: asyncpg.Pool) -> None:
    await measure.measure_outbox(messaging_pool)
    assert gauge("propfee_outbox_oldest_age_seconds") == 0
    async with messaging_pool.acquire() as conn, conn.transaction():
        for n in range(2):
            await add_event(conn, payment(f"age-{n}"), key="unit-1", subject=f"age-{n}")
    await messaging_pool.execute(
        "UPDATE outbox SET created_at = now() - interval '90 seconds' "
        "WHERE id = (SELECT min(id) FROM outbox)"
    )
    await measure.measure_outbox(messaging_pool)
    age = gauge("propfee_outbox_oldest_age_seconds")
    assert age is not None and 90 <= age < 120
    assert gauge("propfee_outbox_pending") == 2
    await messaging_pool.execute("UPDATE outbox SET published_at = now()")
    await measure.measure_outbox(messaging_pool)
    assert gauge("propfee_outbox_oldest_age_seconds") == 0
    assert gauge("propfee_outbox_pending") == 0


async def test_a_database_that_does_not_answer_leaves_the_gauges_and_the_scrape_answers(
    messaging_pool: asyncpg.Pool,
) -> None:
    await measure.measure_outbox(messaging_pool)
    before = gauge("propfee_outbox_oldest_age_seconds")
    async with messaging_pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        await measure.measure_outbox(messaging_pool)
        assert time.monotonic() - started < measure.DATABASE_TIMEOUT_S + 0.5
    assert gauge("propfee_outbox_oldest_age_seconds") == before
