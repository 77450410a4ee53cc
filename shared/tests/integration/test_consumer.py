"""The idempotent consumer against the real PostgreSQL and Kafka: inbox, retries, DLQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from propfee.consumer import EventConsumer, EventContext, PermanentError
from propfee.events import PaymentReceived, PaymentRefunded
from propfee.kafka import ensure_topics
from propfee.topics import TopicSpec, dlq_topic
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

from .conftest import apply_effect, payment

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"


def make_consumer(pool, kafka, producer, prefix, handler=apply_effect, group=None, **kw):  # type: ignore[no-untyped-def]
    return EventConsumer(
        group=group or f"g{uuid.uuid4().hex[:6]}",
        bootstrap_servers=kafka,
        pool=pool,
        handlers={PaymentReceived: handler},
        dlq_producer=producer,
        topic_prefix=prefix,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        **kw,
    )


async def publish_run_with_poison(producer, prefix: str, unit: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` payments, one event delivered three times, a poison record, then p-last."""
    dup = str(uuid.uuid4())
    for i in range(n):
        await publish(producer, prefix + TOPIC, payment(f"p-{i}", unit), key=unit)
    for _ in range(3):
        await publish(producer, prefix + TOPIC, payment("p-dup", unit), key=unit, event_id=dup)
    await publish(producer, prefix + TOPIC, payment("p-poison", unit), key=unit)
    await publish(producer, prefix + TOPIC, payment("p-last", unit), key=unit)


async def consume_until_last(consumer, pool, kafka, prefix: str, group: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Run the consumer until p-last is applied and p-poison dead-lettered; the effects."""
    task = asyncio.create_task(consumer.run())

    async def last_done() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM effects WHERE payment_id = 'p-last'"))

    await wait_until(last_done, timeout=60)
    [dead] = await read_topic(kafka, prefix + dlq_topic(TOPIC, group), at_least=1, settle=0.5)
    consumer.stop()
    await task
    assert dead.headers["dlq_reason"] == b"handler-failed"
    return dict(await pool.fetch("SELECT payment_id, times FROM effects"))


async def test_same_event_delivered_five_times_changes_the_database_once(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    event_id = str(uuid.uuid4())
    for _ in range(5):
        await publish(
            producer, test_prefix + TOPIC, payment("p-dup", unit), key=unit, event_id=event_id
        )
    await publish(producer, test_prefix + TOPIC, payment("p-after", unit), key=unit)

    consumer = make_consumer(messaging_pool, kafka, producer, test_prefix)
    task = asyncio.create_task(consumer.run())

    async def both_seen() -> bool:
        return (
            await messaging_pool.fetchval("SELECT count(*) FROM effects WHERE unit_id = $1", unit)
            == 2
        )

    await wait_until(both_seen, timeout=60)
    consumer.stop()
    await task
    assert (
        await messaging_pool.fetchval("SELECT times FROM effects WHERE payment_id = 'p-dup'") == 1
    )
    assert (
        await messaging_pool.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = $1", uuid.UUID(event_id)
        )
        == 1
    )


async def test_poison_and_malformed_messages_go_to_the_dlq_and_the_partition_moves_on(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"  # one key: everything below is on one partition
    group = f"g{uuid.uuid4().hex[:6]}"
    topic = test_prefix + TOPIC
    attempts: dict[str, int] = {}

    async def handler(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        attempts[event.payment_id] = attempts.get(event.payment_id, 0) + 1
        if event.payment_id == "p-poison":
            raise RuntimeError("ledger row locked by 13812345678")  # phone must be masked
        if event.payment_id == "p-rejected":
            raise PermanentError("unit does not exist")
        await apply_effect(conn, event, context)

    def headers(ce_type: bytes = PaymentReceived.ce_type().encode()) -> list[tuple[str, bytes]]:
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_type", ce_type),
            ("ce_source", b"/services/payments"),
            ("ce_time", datetime.now(UTC).isoformat().encode()),
            ("content-type", b"application/json"),
        ]

    await publish(producer, topic, payment("p-poison", unit), key=unit)
    await producer.send_and_wait(topic, b"{not json", key=unit.encode(), headers=headers())
    await producer.send_and_wait(
        topic, b'{"x": 1}', key=unit.encode(), headers=headers(b"propfee.payments.Nope.v1")
    )
    await producer.send_and_wait(
        topic,
        json.dumps({"payment_id": "p-missing"}).encode(),
        key=unit.encode(),
        headers=headers(),
    )
    await producer.send_and_wait(
        topic, payment("p-noheaders", unit).to_json(), key=unit.encode(), headers=[]
    )
    await publish(producer, topic, payment("p-rejected", unit), key=unit)
    await publish(producer, topic, payment("p-good", unit), key=unit)

    # Dead-letter topics are declared per group (propfee.topics); this test's group is its own.
    await ensure_topics(kafka, prefix=test_prefix, specs=[TopicSpec(dlq_topic(TOPIC, group), 1)])
    consumer = make_consumer(
        messaging_pool, kafka, producer, test_prefix, handler=handler, group=group, max_attempts=3
    )
    task = asyncio.create_task(consumer.run())

    async def good_processed() -> bool:
        return bool(
            await messaging_pool.fetchval(
                "SELECT count(*) FROM effects WHERE payment_id = 'p-good'"
            )
        )

    await wait_until(good_processed, timeout=60)
    dead = await read_topic(kafka, test_prefix + dlq_topic(TOPIC, group), at_least=6, settle=1.0)
    consumer.stop()
    await task

    assert attempts["p-poison"] == 3, "bounded retries"
    assert attempts["p-rejected"] == 1, "a permanent error is not retried"
    reasons = [r.headers["dlq_reason"].decode() for r in dead]
    assert reasons == [
        "handler-failed",
        "malformed-json",
        "unknown-event-type",
        "invalid-data",
        "invalid-envelope",
        "rejected",
    ]
    poison = dead[0]
    error = poison.headers["dlq_error"].decode()
    assert "RuntimeError: ledger row locked" in error
    assert "13812345678" not in error and "138****5678" in error
    assert poison.headers["dlq_attempts"] == b"3"
    assert poison.headers["dlq_original_topic"] == TOPIC.encode()
    assert poison.value == payment("p-poison", unit).to_json()
    assert poison.key == unit.encode()
    assert "amount_fen" in dead[3].headers["dlq_error"].decode()  # names the missing field
    assert "p-poison" not in {
        r["payment_id"] for r in await messaging_pool.fetch("SELECT payment_id FROM effects")
    }


async def test_stop_finishes_the_record_in_hand_and_commits_it(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    started = asyncio.Event()

    async def slow_handler(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        started.set()
        await asyncio.sleep(1.0)  # the service is asked to stop meanwhile
        await apply_effect(conn, event, context)

    await publish(producer, test_prefix + TOPIC, payment("p-in-flight", unit), key=unit)
    consumer = make_consumer(
        messaging_pool, kafka, producer, test_prefix, handler=slow_handler, group=group
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(started.wait(), timeout=60)
    consumer.stop()
    await asyncio.wait_for(task, timeout=30)

    assert (
        await messaging_pool.fetchval("SELECT times FROM effects WHERE payment_id = 'p-in-flight'")
        == 1
    )
    # The offset was committed: a new member of the group finds nothing left to read.
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=test_prefix + group)
    await reader.start()
    try:
        partitions = range(TopicSpec(TOPIC).partitions)
        committed = [
            await reader.committed(TopicPartition(test_prefix + TOPIC, p)) for p in partitions
        ]
        assert sum(c or 0 for c in committed) == 1
    finally:
        await reader.stop()


async def test_batch_handler_runs_in_one_transaction_and_isolates_a_poison_record(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    batches: list[list[str]] = []

    async def batch(conn, items) -> None:  # type: ignore[no-untyped-def]
        ids = [event.payment_id for event, _ in items]
        batches.append(ids)
        if "p-poison" in ids:
            raise RuntimeError("cannot allocate p-poison")
        for event, context in items:
            await apply_effect(conn, event, context)

    await publish_run_with_poison(producer, test_prefix, unit, 10)
    await ensure_topics(kafka, prefix=test_prefix, specs=[TopicSpec(dlq_topic(TOPIC, group), 1)])
    consumer = EventConsumer(
        group=group,
        bootstrap_servers=kafka,
        pool=messaging_pool,
        handlers={},
        batch_handlers={PaymentReceived: batch},
        dlq_producer=producer,
        topic_prefix=test_prefix,
        max_attempts=2,
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )
    rows = await consume_until_last(consumer, messaging_pool, kafka, test_prefix, group)
    assert rows == {**{f"p-{n}": 1 for n in range(10)}, "p-dup": 1, "p-last": 1}
    assert any(len(b) > 1 for b in batches), "consecutive records went through as a batch"


async def test_a_run_of_records_shares_one_transaction_and_a_poison_record_is_isolated(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """Records without a batch handler: a run of them is handled in one transaction (one
    commit for the run); when one fails, the run is redone record by record, so its
    neighbours are applied exactly once and only the bad one is dead-lettered."""
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    transactions: dict[str, list[int]] = {}

    async def handler(conn, event, context) -> None:  # type: ignore[no-untyped-def]
        txid = int(await conn.fetchval("SELECT txid_current()"))
        transactions.setdefault(event.payment_id, []).append(txid)
        if event.payment_id == "p-poison":
            raise RuntimeError("cannot record p-poison")
        await apply_effect(conn, event, context)

    await publish_run_with_poison(producer, test_prefix, unit, 8)
    await ensure_topics(kafka, prefix=test_prefix, specs=[TopicSpec(dlq_topic(TOPIC, group), 1)])
    consumer = make_consumer(
        messaging_pool, kafka, producer, test_prefix, handler=handler, group=group,
        max_attempts=2, max_group=32,
    )  # fmt: skip
    rows = await consume_until_last(consumer, messaging_pool, kafka, test_prefix, group)
    assert rows == {**{f"p-{n}": 1 for n in range(8)}, "p-dup": 1, "p-last": 1}
    # The first attempt handled the whole run in one transaction, which the poison record
    # rolled back; then each record was handled again in a transaction of its own.
    run = [transactions[f"p-{n}"][0] for n in range(8)] + [transactions["p-poison"][0]]
    assert len(set(run)) == 1, transactions
    again = [transactions[f"p-{n}"][1] for n in range(8)]
    assert len(set(again)) == 8 and not set(again) & set(run)
    inbox = await messaging_pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer_group = $1", group
    )
    assert inbox == 10  # 8 + p-dup once + p-last (the dead-lettered record is not in it)


async def test_with_groups_of_one_every_record_has_its_own_transaction(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    txids: list[int] = []

    async def handler(conn, event, context) -> None:  # type: ignore[no-untyped-def]
        txids.append(int(await conn.fetchval("SELECT txid_current()")))
        await apply_effect(conn, event, context)

    for n in range(5):
        await publish(producer, test_prefix + TOPIC, payment(f"q-{n}", unit), key=unit)
    consumer = make_consumer(
        messaging_pool, kafka, producer, test_prefix, handler=handler, max_group=1
    )
    task = asyncio.create_task(consumer.run())

    async def all_done() -> bool:
        return (
            await messaging_pool.fetchval("SELECT count(*) FROM effects WHERE unit_id = $1", unit)
            == 5
        )

    await wait_until(all_done, timeout=60)
    consumer.stop()
    await task
    assert len(txids) == 5 and len(set(txids)) == 5


async def test_runs_of_two_topics_lock_their_households_in_one_order(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """A run of one topic touches households X then Y, a run of another topic Y then X, at
    the same time: each run locks its record keys first, in one global order, so the second
    waits for the first instead of deadlocking with it (which PostgreSQL would break after a
    second by aborting one run, then redone record by record)."""
    prefix = f"{test_prefix}k{uuid.uuid4().hex[:4]}."
    refunded = "payments.payment-refunded"
    await ensure_topics(kafka, prefix=prefix, specs=[TopicSpec(TOPIC, 1), TopicSpec(refunded, 1)])
    x, y = f"x-{uuid.uuid4().hex[:6]}", f"y-{uuid.uuid4().hex[:6]}"
    txids: dict[str, int] = {}

    async def handler(conn, event, context) -> None:  # type: ignore[no-untyped-def]
        name = getattr(event, "refund_id", None) or event.payment_id
        txids[name] = int(await conn.fetchval("SELECT txid_current()"))
        # The household's row, held to the end of the transaction (as a handler's UPDATE).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", event.unit_id)
        await asyncio.sleep(0.3)  # long enough for the other run to lock its first row

    for unit in (x, y):
        await publish(producer, prefix + TOPIC, payment(f"pay-{unit}", unit), key=unit)
    for unit in (y, x):
        refund = PaymentRefunded(
            refund_id=f"ref-{unit}", payment_id=f"pay-{unit}", community_id="c-1",
            unit_id=unit, payer_party_id="party-1", amount_fen=100, reason="退款",
            refunded_at=datetime(2026, 3, 3, tzinfo=UTC),
        )  # fmt: skip
        await publish(producer, prefix + refunded, refund, key=unit)
    consumer = EventConsumer(
        group=f"g{uuid.uuid4().hex[:6]}", bootstrap_servers=kafka, pool=messaging_pool,
        handlers={PaymentReceived: handler, PaymentRefunded: handler},
        dlq_producer=producer, topic_prefix=prefix, max_group=32,
    )  # fmt: skip
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: _true(len(txids) >= 4 and not consumer._stopping.is_set()), timeout=60)
    await asyncio.sleep(1.5)  # a deadlock's retry (record by record) would show by now
    consumer.stop()
    await task
    assert len(txids) == 4, txids
    # Each run in one transaction (never redone one by one), the two runs in two.
    assert txids[f"pay-{x}"] == txids[f"pay-{y}"]
    assert txids[f"ref-{x}"] == txids[f"ref-{y}"]
    assert txids[f"pay-{x}"] != txids[f"ref-{x}"]


async def _true(value: bool) -> bool:
    return value


async def test_a_slow_partition_does_not_hold_up_the_others(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """One partition's handler blocks (a slow ledger, a retry's backoff): records that arrive
    meanwhile on another partition are handled at once, and the blocked one still completes,
    once, in order with what follows it on its own partition."""
    prefix = f"{test_prefix}s{uuid.uuid4().hex[:4]}."
    topic = prefix + TOPIC
    await ensure_topics(kafka, prefix=prefix, specs=[TopicSpec(TOPIC, 2)])
    release = asyncio.Event()
    started = asyncio.Event()
    order: list[str] = []

    async def handler(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        if event.payment_id == "slow":
            started.set()
            await release.wait()
        order.append(event.payment_id)
        await apply_effect(conn, event, context)

    async def send(payment_id: str, partition: int) -> None:
        from propfee.cloudevents import CloudEvent

        unit = f"unit-p{partition}"
        event = payment(payment_id, unit)
        envelope = CloudEvent.new(
            type=event.ce_type(), source=event.ce_source(), subject=unit,
            data=event.to_json(), time=datetime.now(UTC),
        )  # fmt: skip
        await producer.send_and_wait(
            topic, envelope.data, key=unit.encode(), partition=partition,
            headers=envelope.kafka_headers(),
        )  # fmt: skip

    consumer = make_consumer(messaging_pool, kafka, producer, prefix, handler=handler)
    task = asyncio.create_task(consumer.run())
    await send("slow", 0)
    await asyncio.wait_for(started.wait(), timeout=60)
    await send("after-slow", 0)  # same partition: must wait for "slow"
    for n in range(5):
        await send(f"fast-{n}", 1)

    async def fast_done() -> bool:
        return (
            await messaging_pool.fetchval(
                "SELECT count(*) FROM effects WHERE payment_id LIKE 'fast-%'"
            )
            == 5
        )

    await wait_until(fast_done, timeout=15)  # while "slow" is still blocked
    assert "slow" not in order and "after-slow" not in order
    release.set()

    async def all_done() -> bool:
        return await messaging_pool.fetchval("SELECT count(*) FROM effects") == 7

    await wait_until(all_done, timeout=30)
    consumer.stop()
    await asyncio.wait_for(task, timeout=30)
    assert order.index("slow") < order.index("after-slow")
    assert set(
        dict(await messaging_pool.fetch("SELECT payment_id, times FROM effects")).values()
    ) == {1}


async def test_the_inbox_is_pruned_beyond_the_horizon_and_recent_duplicates_still_absorbed(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """Rows older than the group's horizon (topic retention + dead-letter window + margin)
    go, in batches; recent rows stay, and an event redelivered after the pruning is still
    recognised as a duplicate (its effect applied once)."""
    from datetime import timedelta

    from propfee.consumer import inbox_horizon, prune_inbox

    group = f"g{uuid.uuid4().hex[:6]}"
    unit = f"unit-{uuid.uuid4().hex[:6]}"
    event_id = str(uuid.uuid4())
    await publish(
        producer, test_prefix + TOPIC, payment("p-recent", unit), key=unit, event_id=event_id
    )
    consumer = make_consumer(messaging_pool, kafka, producer, test_prefix, group=group)
    task = asyncio.create_task(consumer.run())

    async def applied() -> bool:
        return bool(
            await messaging_pool.fetchval("SELECT count(*) FROM effects WHERE unit_id = $1", unit)
        )

    await wait_until(applied, timeout=60)
    consumer.stop()
    await task

    horizon = inbox_horizon("billing", margin=timedelta(days=7))
    assert horizon == timedelta(days=30 + 90 + 7)  # payments topics 30 days, DLQs 90 days
    # 12 rows just past the horizon, 3 just inside it, and one of another group (kept).
    await messaging_pool.execute(
        "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, "
        "kafka_offset, processed_at) "
        "SELECT $1, gen_random_uuid(), 't', 'x', 0, g, now() - $2::interval - (g || ' h')::interval "
        "FROM generate_series(1, 12) g",
        group,
        horizon,
    )
    await messaging_pool.execute(
        "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, "
        "kafka_offset, processed_at) "
        "SELECT $1, gen_random_uuid(), 't', 'x', 0, g, now() - $2::interval + interval '1 day' "
        "FROM generate_series(1, 3) g "
        "UNION ALL SELECT 'other-group', gen_random_uuid(), 't', 'x', 0, 0, now() - interval '1000 days'",
        group,
        horizon,
    )
    assert await prune_inbox(messaging_pool, group, older_than=horizon, batch=5) == 12
    assert await prune_inbox(messaging_pool, group, older_than=horizon) == 0
    assert (
        await messaging_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer_group = $1", group)
        == 4
    )
    assert (
        await messaging_pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer_group = 'other-group'"
        )
        == 1
    )

    # The recent event is delivered again (a replay) after the pruning: still a duplicate.
    await publish(
        producer, test_prefix + TOPIC, payment("p-recent", unit), key=unit, event_id=event_id
    )
    await publish(producer, test_prefix + TOPIC, payment("p-next", unit), key=unit)
    consumer = make_consumer(messaging_pool, kafka, producer, test_prefix, group=group)
    task = asyncio.create_task(consumer.run())

    async def next_applied() -> bool:
        return bool(
            await messaging_pool.fetchval(
                "SELECT count(*) FROM effects WHERE payment_id = 'p-next'"
            )
        )

    await wait_until(next_applied, timeout=60)
    consumer.stop()
    await task
    assert (
        await messaging_pool.fetchval("SELECT times FROM effects WHERE payment_id = 'p-recent'")
        == 1
    )


async def test_a_rebalance_stops_revoked_work_without_committing_for_a_lost_partition(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """A member holds both partitions, one blocked in a slow handler; a second member joins.
    The revoked partition's work is halted, then cancelled after the grace (its transaction
    rolls back, no offset is committed for it), and whoever owns it next handles the record:
    every record's effect applied exactly once, none lost."""
    prefix = f"{test_prefix}r{uuid.uuid4().hex[:4]}."
    topic = prefix + TOPIC
    group = f"g{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka, prefix=prefix, specs=[TopicSpec(TOPIC, 2)])
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(conn, event: PaymentReceived, context: EventContext) -> None:  # type: ignore[no-untyped-def]
        if event.payment_id == "slow":
            started.set()
            await release.wait()
        await apply_effect(conn, event, context)

    async def send(payment_id: str, partition: int) -> None:
        from propfee.cloudevents import CloudEvent

        unit = f"unit-p{partition}"
        event = payment(payment_id, unit)
        envelope = CloudEvent.new(
            type=event.ce_type(), source=event.ce_source(), subject=unit,
            data=event.to_json(), time=datetime.now(UTC),
        )  # fmt: skip
        await producer.send_and_wait(
            topic, envelope.data, key=unit.encode(), partition=partition,
            headers=envelope.kafka_headers(),
        )  # fmt: skip

    first = make_consumer(
        messaging_pool, kafka, producer, prefix, handler=handler, group=group, revoke_grace_s=1.0
    )
    second = make_consumer(
        messaging_pool, kafka, producer, prefix, handler=handler, group=group, revoke_grace_s=1.0
    )
    tasks = [asyncio.create_task(first.run())]
    await send("slow", 0)
    await asyncio.wait_for(started.wait(), timeout=60)
    tasks.append(asyncio.create_task(second.run()))
    for n in range(3):
        await send(f"p0-{n}", 0)
        await send(f"p1-{n}", 1)
    await asyncio.sleep(8)  # the rebalance: the slow work is halted, then cancelled
    release.set()

    async def all_done() -> bool:
        return await messaging_pool.fetchval("SELECT count(*) FROM effects") == 7

    await wait_until(all_done, timeout=60)
    await asyncio.sleep(1.0)
    for c in (first, second):
        c.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    times = dict(await messaging_pool.fetch("SELECT payment_id, times FROM effects"))
    assert times == {"slow": 1, **{f"p{p}-{n}": 1 for p in (0, 1) for n in range(3)}}
