"""Outbox relay against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest

from propfee.outbox import OutboxRelay, add_event
from tests.support.kafka import read_topic

from .conftest import payment

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"


async def test_burst_of_1000_published_exactly_once_in_key_order(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    rolled_back: set[str] = set()

    async def writer(worker: int) -> None:
        # 10 writers x 10 transactions x 10 events, committed concurrently. Each writer owns
        # two households, as a household's changes are serialised in the services.
        units = [f"unit-{worker}-a", f"unit-{worker}-b"]
        for tx in range(10):
            async with messaging_pool.acquire() as conn, conn.transaction():
                for n in range(10):
                    seq = tx * 10 + n
                    unit = units[seq % 2]
                    await add_event(
                        conn, payment(f"p-{worker}-{seq:03d}", unit), key=unit, subject=unit
                    )
        # One more transaction per writer that rolls back: nothing of it may be published.
        try:
            async with messaging_pool.acquire() as conn, conn.transaction():
                event_id = await add_event(
                    conn, payment(f"rolled-back-{worker}"), key=units[0], subject=units[0]
                )
                rolled_back.add(event_id)
                raise RuntimeError("abort")
        except RuntimeError:
            pass

    # Two relays, as two replicas would run them, publishing while the burst is committed.
    relays = [
        OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix, poll_interval_s=0.1)
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    await asyncio.gather(*(writer(w) for w in range(10)))

    records = await read_topic(kafka, test_prefix + TOPIC, at_least=1000, settle=3.0)
    for relay in relays:
        relay.stop()
    await asyncio.gather(*tasks)

    ids = [r.ce_id for r in records]
    assert len(records) == 1000, "every committed event published exactly once"
    assert len(set(ids)) == 1000
    assert not rolled_back & set(ids), "rolled-back events were published"
    assert await messaging_pool.fetchval("SELECT count(*) FROM outbox") == 1000
    assert (
        await messaging_pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    )

    # Per-key order: each household's events arrive in the order they were committed.
    by_key: dict[bytes | None, list[str]] = defaultdict(list)
    partitions_of_key: dict[bytes | None, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(json.loads(record.value or b"")["payment_id"])
        partitions_of_key[record.key].add(record.partition)
    assert len(by_key) == 20
    for key, order in by_key.items():
        assert order == sorted(order), f"events of {key!r} out of order"
        assert len(partitions_of_key[key]) == 1


async def test_headers_are_cloudevents_binary_mode(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    topic = "payments.payment-refunded"  # a topic of its own for this test
    from datetime import UTC, datetime

    from propfee.events import PaymentRefunded

    refund = PaymentRefunded(
        refund_id="r-1",
        payment_id="p-1",
        community_id="c",
        unit_id="unit-9",
        payer_party_id="o",
        amount_fen=500,
        reason="overpaid",
        refunded_at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    async with messaging_pool.acquire() as conn, conn.transaction():
        event_id = await add_event(conn, refund, key="unit-9", subject="r-1")
    relay = OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix)
    assert await relay.drain() == 1
    assert await relay.drain() == 0
    [record] = await read_topic(kafka, test_prefix + topic, at_least=1, settle=0.5)
    assert record.key == b"unit-9"
    assert record.headers["ce_id"].decode() == event_id
    assert record.headers["ce_type"] == b"propfee.payments.PaymentRefunded.v1"
    assert record.headers["ce_source"] == b"/services/payments"
    assert record.headers["ce_subject"] == b"r-1"
    assert record.headers["ce_specversion"] == b"1.0"
    assert record.headers["content-type"] == b"application/json"
    assert record.headers["ce_time"].endswith(b"Z")
    assert PaymentRefunded.model_validate_json(record.value or b"") == refund
