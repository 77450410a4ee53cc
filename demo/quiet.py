"""Wait until the system has caught up: every outbox published, every consumer group at the end.

Time in the demo is accelerated, so before the simulator moves the clock (the next sweep, the
next dispatch) it waits until everything the last step caused has been handled: each service's
``propfee_outbox_pending`` gauge is zero and each consumer group has committed the end offset
of every partition it reads (Kafka's own view, through the admin API).
"""

from __future__ import annotations

import asyncio
import re
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from demo.api import Api
from propfee.topics import SUBSCRIPTIONS

#: How far apart two looks that find nothing pending must be (a consumer that committed its
#: offset has its outbox rows committed too; the relay publishes them within milliseconds).
APART_S = 0.03

_PENDING = re.compile(r"^propfee_outbox_pending\s+([0-9.e+]+)$", re.M)


async def partitions_of(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics (which must exist: the services created them)."""
    found = []
    for info in await admin.describe_topics(topics):
        if info["error_code"] or not info["partitions"]:
            raise RuntimeError(f"topic {info['topic']} is missing (error {info['error_code']})")
        found += [TopicPartition(info["topic"], p["partition"]) for p in info["partitions"]]
    return sorted(found)


class Quiet:
    def __init__(self, api: Api, bootstrap: str, prefix: str) -> None:
        self.api = api
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.groups = {
            prefix + group: [prefix + e.topic() for e in events]
            for group, events in SUBSCRIPTIONS.items()
        }
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.partitions: list[TopicPartition] = []
        self.waited_s = 0.0
        self.waits = 0

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        topics = sorted({t for ts in self.groups.values() for t in ts})
        self.partitions = await partitions_of(self.admin, topics)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def _outboxes_empty(self) -> bool:
        texts = await asyncio.gather(*(self.api.metrics(s) for s in self.api.urls))
        for text in texts:
            m = _PENDING.search(text)
            if m and float(m.group(1)) > 0:
                return False
        return True

    async def _lag(self) -> tuple[int, dict[TopicPartition, int]]:
        ends, *committed_by_group = await asyncio.gather(
            self.consumer.end_offsets(self.partitions),
            *(self.admin.list_consumer_group_offsets(group) for group in self.groups),
        )
        lag = 0
        for topics, committed in zip(self.groups.values(), committed_by_group, strict=True):
            for tp, end in ends.items():
                if tp.topic not in topics or end == 0:
                    continue
                meta = committed.get(tp)
                lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag, ends

    async def settle(self, timeout_s: float = 180.0) -> None:
        """Return once two looks in a row, at least ``APART_S`` apart, find nothing pending
        and no new records (an outbox relay publishes within milliseconds of a commit:
        LISTEN). Looks come every 20-50 ms: a simulated day waits for this a few times, so
        its floor is a good part of a quiet day's length."""
        started = time.monotonic()
        previous: tuple[float, dict[TopicPartition, int]] | None = None
        delay = 0.02
        while True:
            looked = time.monotonic()
            lag, ends = await self._lag()
            if lag == 0 and previous is not None and ends == previous[1]:
                if looked - previous[0] >= APART_S and await self._outboxes_empty():
                    break
                if looked - previous[0] < APART_S:
                    await asyncio.sleep(APART_S - (looked - previous[0]))
                    continue
            previous = (looked, ends) if lag == 0 else None
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the services did not catch up in {timeout_s:.0f}s (lag {lag})")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        self.waits += 1
        self.waited_s += time.monotonic() - started
