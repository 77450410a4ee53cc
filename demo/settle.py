"""Wait until the system has caught up: every outbox published, every consumer group at the end.

Time in the demo is accelerated, so before the simulator moves the clock (the next sweep, the
next dispatch) it waits until everything the last step caused has been handled. Three looks,
in this order, all of them clean:

1. every consumer group has committed the end offset of every partition it reads (Kafka's own
   view, through the admin API): every record published so far was handled, and a consumer
   commits its offset only after the transaction that handled the record committed;
2. every service's outbox is empty (``propfee_outbox_pending``, counted in the service's
   database at each scrape): what those transactions wrote to publish was published;
3. the end offsets are still those of look 1: nothing was published between the looks.

The simulator's own calls have all been answered before it settles, and a service answers
only after its transaction committed, so nothing else can still be in flight.
"""

from __future__ import annotations

import asyncio
import re
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from demo.api import Api
from propfee.kafka import client_kwargs
from propfee.topics import SUBSCRIPTIONS

_PENDING = re.compile(r"^propfee_outbox_pending\s+([0-9.e+]+)$", re.M)


async def partitions_of(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics (which must exist: the services created them)."""
    found = []
    for info in await admin.describe_topics(topics):
        if info["error_code"] or not info["partitions"]:
            raise RuntimeError(f"topic {info['topic']} is missing (error {info['error_code']})")
        found += [TopicPartition(info["topic"], p["partition"]) for p in info["partitions"]]
    return sorted(found)


class Settle:
    def __init__(self, api: Api, bootstrap: str, prefix: str) -> None:
        self.api = api
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.groups = {
            prefix + group: [prefix + e.topic() for e in events]
            for group, events in SUBSCRIPTIONS.items()
        }
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs())
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs()
        )
        self.partitions: list[TopicPartition] = []
        self.waited_s = 0.0
        self.waits = 0
        #: Seconds of waiting while a service's consumers were behind or its outbox not
        #: empty (the report's "waiting for the services", by who was still busy).
        self.behind_s: dict[str, float] = dict.fromkeys(
            [*sorted(g.removeprefix(prefix) for g in self.groups), "outboxes"], 0.0
        )
        self._behind: list[str] = []

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        topics = sorted({t for ts in self.groups.values() for t in ts})
        self.partitions = await partitions_of(self.admin, topics)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def _outboxes_empty(self) -> bool:
        texts = await asyncio.gather(
            *(self.api.metrics(s, "propfee_outbox_pending") for s in self.api.urls)
        )
        self._behind = [
            "outboxes"
            for text in texts
            if (m := _PENDING.search(text)) is None or float(m.group(1)) > 0  # no gauge: unsure
        ][:1]
        return not self._behind

    async def _lag(self) -> tuple[int, dict[TopicPartition, int]]:
        ends, *committed_by_group = await asyncio.gather(
            self.consumer.end_offsets(self.partitions),
            *(self.admin.list_consumer_group_offsets(group) for group in self.groups),
        )
        lag, self._behind = 0, []
        groups = zip(self.groups.items(), committed_by_group, strict=True)
        for (group, topics), committed in groups:
            behind = 0
            for tp, end in ends.items():
                if tp.topic not in topics or end == 0:
                    continue
                meta = committed.get(tp)
                behind += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
            if behind:
                self._behind.append(group.removeprefix(self.prefix))
            lag += behind
        return lag, ends

    async def settle(self, timeout_s: float = 180.0) -> None:
        """Return once the three looks of the module's docstring are clean; else look again
        after 10-50 ms."""
        started = time.monotonic()
        delay = 0.01
        while True:
            looked = time.monotonic()
            lag, ends = await self._lag()
            if lag == 0 and await self._outboxes_empty():
                lag, again = await self._lag()
                if lag == 0 and again == ends:
                    break
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the services did not catch up in {timeout_s:.0f}s (lag {lag})")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.05)
            for who in self._behind:
                self.behind_s[who] += time.monotonic() - looked
        self.waits += 1
        self.waited_s += time.monotonic() - started
