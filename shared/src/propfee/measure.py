"""Gauges measured when Prometheus scrapes ``/metrics``, from the systems' own state.

Measured, not kept: a relay that stopped publishing must show its backlog growing, a stuck
consumer its lag, not the last number it reported. Each measurement has a short timeout and
a failure leaves its gauges as they were, so a scrape answers even while the database or
Kafka does not (its ``propfee_ready`` then says 0).

- ``propfee_outbox_pending`` and ``propfee_outbox_oldest_age_seconds``: one query.
- ``propfee_consumer_lag{group,topic,partition}``: for each partition this process's consumer
  holds, the partition's end offset (the last stable offset: the consumer reads committed
  records only) minus the consumer's position (the next record it will take; records in
  hand count as taken). End offsets are asked of the brokers at each measurement, so a stalled
  consumer's lag grows with what is produced.
- ``propfee_dlq_messages{topic}``: end minus beginning offsets of the group's dead-letter
  topics ``<topic>.dlq.<group>``.
- The service's own gauges through ``ServiceRuntime.measure`` (notifier's dispatch backlog).

The Kafka gauges come from the process that runs the consumer, with its own client (no other
connection); several uvicorn workers have one such process (``propfee.cli``), which also
refreshes them every few seconds (:func:`refresh_kafka_gauges`) since a scrape may be
answered by another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from propfee import metrics
from propfee.logging import get_logger
from propfee.topics import dlq_topic

if TYPE_CHECKING:
    from propfee.consumer import EventConsumer
    from propfee.runtime import ServiceRuntime

log = get_logger(__name__)

DATABASE_TIMEOUT_S = 1.0
KAFKA_TIMEOUT_S = 1.5

_OUTBOX = """
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age_s
  FROM outbox WHERE published_at IS NULL
"""

#: Lag series set by this process: a partition it no longer holds is set to 0 then removed
#: (in multiprocess mode a removed child keeps its last value in the worker's file).
_lag_series: set[tuple[str, str, str]] = set()


#: The gauges each measurement sets; any other name is the service's own (``runtime.measure``).
OUTBOX_GAUGES = frozenset({"propfee_outbox_pending", "propfee_outbox_oldest_age_seconds"})
KAFKA_GAUGES = frozenset({"propfee_consumer_lag", "propfee_dlq_messages"})


async def measure_all(runtime: ServiceRuntime, names: Collection[str] = ()) -> None:
    """Every scrape-time gauge, concurrently; returns within about the longest timeout.

    ``names`` (a scrape asking for some series only, ``?name[]=``): only the measurements
    that set them. A look at the outbox alone (the demo's settle asks it many times a
    simulated day) then costs one query, not the consumer's end offsets from the brokers,
    the dead-letter topics' offsets and the service's own gauges' queries."""
    wanted = set(names)
    everything = not wanted
    jobs = []
    if everything or wanted & OUTBOX_GAUGES:
        jobs.append(measure_outbox(runtime.pool))
    if everything or wanted & KAFKA_GAUGES:
        jobs.append(measure_kafka(runtime.consumer))
    if everything or wanted - OUTBOX_GAUGES - KAFKA_GAUGES:
        jobs.append(_service_gauges(runtime))
    await asyncio.gather(*jobs)


async def measure_outbox(pool: asyncpg.Pool | None) -> None:
    if pool is None:
        return
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            row = await pool.fetchrow(_OUTBOX)
    except Exception as exc:
        log.warning("cannot measure the outbox for /metrics", error=type(exc).__name__)
        return
    assert row is not None
    metrics.OUTBOX_PENDING.set(row["pending"])
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, row["oldest_age_s"]))


async def _service_gauges(runtime: ServiceRuntime) -> None:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            await runtime.measure()
    except Exception as exc:
        log.warning("cannot measure the service's gauges for /metrics", error=type(exc).__name__)


async def measure_kafka(consumer: EventConsumer | None) -> None:
    """Lag of the partitions this process consumes and depth of the group's DLQs (each with
    its own timeout: a DLQ topic missing from the cluster does not stop the lag)."""
    kafka = consumer.kafka if consumer is not None else None
    if consumer is None or kafka is None:
        return
    await asyncio.gather(_measure_lag(consumer, kafka), _measure_dlqs(consumer, kafka))


async def _measure_lag(consumer: EventConsumer, kafka: AIOKafkaConsumer) -> None:
    assigned = sorted(kafka.assignment())
    try:
        async with asyncio.timeout(KAFKA_TIMEOUT_S):
            ends = await kafka.end_offsets(assigned) if assigned else {}
    except Exception as exc:
        log.warning("cannot measure consumer lag for /metrics", error=type(exc).__name__)
        return
    held: set[tuple[str, str, str]] = set()
    for tp in assigned:
        try:
            position = await asyncio.wait_for(kafka.position(tp), timeout=0.1)
        except Exception:  # revoked meanwhile, or no position yet (just assigned)
            continue
        labels = (consumer.group, consumer.logical_topic(tp.topic), str(tp.partition))
        metrics.CONSUMER_LAG.labels(*labels).set(max(0, ends[tp] - position))
        held.add(labels)
    for labels in _lag_series - held:
        metrics.CONSUMER_LAG.labels(*labels).set(0)
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(*labels)
    _lag_series.clear()
    _lag_series.update(held)


async def _measure_dlqs(consumer: EventConsumer, kafka: AIOKafkaConsumer) -> None:
    # Dead-letter topics have one partition (propfee.topics.all_topics).
    dlqs = {}
    for topic in consumer.topics:
        name = dlq_topic(consumer.logical_topic(topic), consumer.group)
        dlqs[TopicPartition(consumer.topic_prefix + name, 0)] = name
    try:
        async with asyncio.timeout(KAFKA_TIMEOUT_S):
            ends, starts = await asyncio.gather(
                kafka.end_offsets(list(dlqs)), kafka.beginning_offsets(list(dlqs))
            )
    except Exception as exc:
        log.warning("cannot measure the dead-letter topics for /metrics", error=type(exc).__name__)
        return
    for tp, name in dlqs.items():
        if tp in ends and tp in starts:
            metrics.DLQ_MESSAGES.labels(name).set(max(0, ends[tp] - starts[tp]))


async def refresh_kafka_gauges(runtime: ServiceRuntime, interval_s: float = 5.0) -> None:
    """Measure the Kafka gauges every ``interval_s`` (several workers: the one that consumes
    is not always the one a scrape reaches)."""
    while True:
        await asyncio.sleep(interval_s)
        with contextlib.suppress(Exception):
            await measure_kafka(runtime.consumer)
