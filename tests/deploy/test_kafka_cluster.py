"""The local 3-broker Kafka cluster (issue 21): ``deploy/local/infra.sh start-kafka-cluster``
runs three KRaft nodes (each a broker and one of three controller voters) with the topics'
production settings, and ``python -m propfee.admin topics --production`` creates every topic
with ``propfee.topics.PRODUCTION_REPLICATION`` (3 replicas, ``min.insync.replicas`` 2).

Real processes (``tests.support.kafka_cluster``, for the fault suite too): the cluster is started
with a throwaway ``PROPFEE_HOME`` and free ports (it
cannot collide with the shared broker or anyone's cluster) and always stopped at the end. The
faults are the fault suite's: ``kill-kafka-node N`` (kill -9), ``start-kafka-node N``,
``kafka-cluster-leader``. The producer is the services' own (``make_producer``: idempotent,
``acks=all``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from propfee.events import PaymentReceived
from propfee.kafka import make_admin, make_producer
from propfee.topics import PRODUCTION_REPLICATION, all_topics
from tests.support.fixtures import wait_until
from tests.support.kafka_cluster import NODES, Cluster, kafka_cluster

pytestmark = [pytest.mark.integration, pytest.mark.long, pytest.mark.timeout(400)]

TOPIC = PaymentReceived.topic()  # 6 partitions, led by all three nodes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with kafka_cluster(tmp_path_factory.mktemp("kafka-cluster")) as cluster:
        print(f"\nkafka cluster started in {cluster.start_seconds:.1f} s")
        yield cluster


def config_of(response: Any) -> dict[str, dict[str, str]]:
    """describe_configs answers as {resource name: {config name: value}}."""
    out: dict[str, dict[str, str]] = {}
    for r in response:
        for resource in r.to_object()["resources"]:
            assert resource["error_code"] == 0, resource
            out[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in resource["config_entries"]
            }
    return out


async def partitions(bootstrap: str, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    admin = make_admin(bootstrap, client_id="test-cluster")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: t["partitions"] for t in described}


async def produce_everywhere(producer: AIOKafkaProducer, timeout: float) -> None:
    """One record to each partition of TOPIC, each acknowledged by min.insync.replicas."""
    n = next(s.partitions for s in all_topics() if s.name == TOPIC)
    sends = [
        producer.send_and_wait(TOPIC, b'{"test":true}', key=b"unit-1", partition=p)
        for p in range(n)
    ]
    results = await asyncio.wait_for(asyncio.gather(*sends), timeout=timeout)
    assert sorted(r.partition for r in results) == list(range(n))


def test_env_and_status_name_three_nodes(cluster: Cluster) -> None:
    base = cluster.port_base
    assert cluster.bootstrap == ",".join(f"127.0.0.1:{base + 100 * i}" for i in range(3))
    status = cluster.infra("kafka-cluster-status").splitlines()
    assert len(status) == 3
    for n, line in zip(NODES, status, strict=True):
        assert line.startswith(f"node {n}: running (pid ")
        assert f"broker 127.0.0.1:{base + 100 * (n - 1)}," in line
        assert f"controller 127.0.0.1:{base + 100 * (n - 1) + 1})" in line


async def test_every_topic_has_the_production_replication(cluster: Cluster) -> None:
    names = [s.name for s in all_topics()]
    described = await partitions(cluster.bootstrap, names)
    assert set(described) == set(names)
    for name, parts in described.items():
        assert parts, name
        for p in parts:
            assert len(p["replicas"]) == PRODUCTION_REPLICATION.factor == 3, (name, p)
    admin = make_admin(cluster.bootstrap, client_id="test-cluster")
    await admin.start()
    try:
        topics = config_of(
            await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
            )
        )
        brokers = config_of(
            await admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, str(n)) for n in NODES]
            )
        )
    finally:
        await admin.close()
    for name in names:
        assert topics[name]["min.insync.replicas"] == "2", name
        assert PRODUCTION_REPLICATION.min_insync_replicas == 2
        assert topics[name]["unclean.leader.election.enable"] == "false", name
    for broker in brokers.values():
        assert broker["auto.create.topics.enable"] == "false"
        assert broker["default.replication.factor"] == "3"
        assert broker["min.insync.replicas"] == "2"


async def test_writes_survive_one_node_and_refuse_with_two_down(cluster: Cluster) -> None:
    """Kill the quorum leader: a new one is elected and acks=all writes go on with 2 of 3.
    Kill a second node: writes fail (no ISR of 2) rather than being acknowledged by one broker.
    Start both again: they rejoin (every partition back to 3 in sync) and writes succeed."""
    timings: dict[str, float] = {}
    producer = make_producer(cluster.bootstrap, client_id="test-cluster")
    await producer.start()
    try:
        await produce_everywhere(producer, timeout=30)

        t = time.monotonic()
        first = cluster.leader()
        cluster.kill(first)

        async def new_leader() -> bool:
            leader = await cluster.leader_or_none()
            return leader is not None and leader != first

        await wait_until(new_leader, timeout=60, interval=0.5)
        timings["new quorum leader"] = time.monotonic() - t
        await produce_everywhere(producer, timeout=60)
        timings["first write with one node down"] = time.monotonic() - t

        second = next(n for n in NODES if n != first)
        cluster.kill(second)
        t = time.monotonic()
        with pytest.raises((TimeoutError, KafkaError)):
            await produce_everywhere(producer, timeout=8)
        timings["refused with two down"] = time.monotonic() - t

        t = time.monotonic()
        cluster.start(first, second)
        timings["both restarted"] = time.monotonic() - t
        assert cluster.leader() in NODES

        async def all_in_sync() -> bool:
            parts = (await partitions(cluster.bootstrap, [TOPIC]))[TOPIC]
            return all(len(p["isr"]) == 3 for p in parts)

        await wait_until(all_in_sync, timeout=60, interval=0.5)
        timings["all partitions in sync"] = time.monotonic() - t
        await produce_everywhere(producer, timeout=60)
    finally:
        await producer.stop()
    print("\n" + ", ".join(f"{k}: {v:.1f} s" for k, v in timings.items()))
    status = cluster.infra("kafka-cluster-status")
    assert status.count(": running (pid ") == 3, status
