"""The relay publishes each household's events in the order their transactions COMMITTED.

Outbox ids come from a sequence at INSERT time. Two transactions writing events for the same
household (message key), where the one that inserts first commits last, used to be published
in id order, i.e. against the order in which their changes became true. Real PostgreSQL and
real Kafka; the topic is read back and each key's order compared with the commit order.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest

from propfee.outbox import OutboxRelay, add_event, add_events
from tests.support.kafka import Record, read_topic

from .conftest import payment

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"


def order_by_key(records: list[Record]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[(record.key or b"").decode()].append(json.loads(record.value or b"")["payment_id"])
    return dict(by_key)


@pytest.mark.parametrize("relay_between", [False, True], ids=["relay-after", "relay-between"])
async def test_same_key_published_in_commit_order_not_insert_order(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
    relay_between: bool,
) -> None:
    """A inserts first and commits last, B inserts second and commits first: B, then A.

    With ``relay-between`` the relay also runs while A is still open (B is then published
    alone, A in a later batch); with ``relay-after`` it runs once both committed."""
    relay = OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix)
    unit, other = "unit-1", "unit-2"
    async with messaging_pool.acquire() as a, messaging_pool.acquire() as b:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        await add_event(a, payment("a-1", unit), key=unit, subject=unit)  # lower ids
        await add_event(a, payment("a-2", unit), key=unit, subject=unit)
        await add_event(b, payment("b-1", unit), key=unit, subject=unit)
        await add_event(b, payment("b-2", other), key=other, subject=other)
        await tx_b.commit()
        if relay_between:
            assert await relay.drain() == 2
        await tx_a.commit()
    await relay.drain()

    records = await read_topic(kafka, test_prefix + TOPIC, at_least=4, settle=0.5)
    assert len(records) == 4
    assert order_by_key(records) == {unit: ["b-1", "a-1", "a-2"], other: ["b-2"]}


async def test_commit_order_holds_under_concurrent_writers_with_a_relay_running(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """Sixty transactions on three shared keys, each holding its transaction open for a
    while after inserting (so insert order and commit order differ), a relay publishing all
    along. Whenever one transaction's commit returned before another's began, and both wrote
    the same key, the first one's event is published first."""
    import random

    rnd = random.Random(7)
    keys = [f"unit-{k}" for k in range(3)]
    commits: dict[str, tuple[str, float, float]] = {}  # payment -> key, commit began, returned
    relay = OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix, poll_interval_s=0.02)
    task = asyncio.create_task(relay.run())
    loop = asyncio.get_running_loop()

    async def writer(n: int) -> None:
        await asyncio.sleep(rnd.random() * 0.5)
        key, pause, name = keys[n % len(keys)], rnd.random() * 0.2, f"p-{n:03d}"
        async with messaging_pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await add_event(conn, payment(name, key), key=key, subject=key)
            await asyncio.sleep(pause)
            began = loop.time()
            await tx.commit()
            commits[name] = (key, began, loop.time())

    await asyncio.gather(*(writer(n) for n in range(60)))
    records = await read_topic(kafka, test_prefix + TOPIC, at_least=60, settle=1.0)
    relay.stop()
    await task
    assert len(records) == 60
    position = {p: i for ps in order_by_key(records).values() for i, p in enumerate(ps)}
    wrong = [
        (first, second)
        for first, (key1, _, returned) in commits.items()
        for second, (key2, began, _) in commits.items()
        if key1 == key2 and returned < began and position[first] > position[second]
    ]
    assert not wrong, f"published against commit order: {wrong[:5]}"


async def test_a_bulk_transaction_orders_its_keys_and_does_not_hold_up_others(
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    """A billing-run-like transaction writes thousands of events (COPY) for many keys and
    stays open; a small transaction on one of those keys inserts later and commits at once
    (it must not wait for the long one), so its event is published first; the bulk one's
    events follow once it commits."""
    relay = OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix)
    keys = [f"unit-{k}" for k in range(500)]
    bulk = [(payment(f"bulk-{n:05d}", k), k, k) for n in range(5000) for k in [keys[n % 500]]]
    async with messaging_pool.acquire() as big, messaging_pool.acquire() as small:
        tx_big = big.transaction()
        await tx_big.start()
        await add_events(big, bulk, time=bulk[0][0].paid_at)
        tx_small = small.transaction()
        await tx_small.start()
        await add_event(small, payment("small", keys[7]), key=keys[7], subject=keys[7])
        await asyncio.wait_for(tx_small.commit(), timeout=5)  # not behind the open bulk one
        await asyncio.wait_for(tx_big.commit(), timeout=30)
    assert await relay.drain() == 5001  # in batches of 500, the bulk one's across eleven
    assert await messaging_pool.fetchval("SELECT count(*) FROM outbox_commit") == 0, "forgotten"
    records = await read_topic(kafka, test_prefix + TOPIC, at_least=5001, settle=1.0)
    assert len(records) == 5001
    published = order_by_key(records)
    assert published[keys[7]][0] == "small"
    for key in keys:
        rest = [p for p in published[key] if p != "small"]
        assert rest == sorted(rest), "a bulk transaction's events keep their own order"
