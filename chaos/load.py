"""The load: the demo's simulated community (demo/simulate.py), day after day, through the
services' public interfaces: billing runs on the 1st, the dunning sweep every morning, staff
work, owners paying through signed WeChat Pay / Alipay / UnionPay notifications (a share
delivered twice) or at the counter, the notifier's dispatch to the sandbox's SMS, WeChat and
push providers every evening, the SMS delivery reports overnight.

Under faults the clients are patient the way real ones are: a gateway re-delivers a
notification that failed, the counter retries with the same Idempotency-Key, the scheduler
re-runs a sweep. :class:`ChaosApi` retries connection failures and 5xx answers until
``patience_s`` has passed, and lets a fault wait until a given call is in flight (payments
"mid-webhook", notifier "mid-dispatch").
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from demo.api import Api, ApiError, Tokens
from demo.feed import Feed
from demo.settle import Settle

_TRANSIENT = re.compile(r"→ 50[0234]\b|Error\(|Disconnected|Timeout|Connection|Connector")


class ChaosApi(Api):
    def __init__(
        self,
        urls: Mapping[str, str],
        tokens: Tokens,
        concurrency: int = 16,
        patience_s: float = 240,
    ) -> None:
        super().__init__(urls, tokens, concurrency)
        self.patience_s = patience_s
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.retried: Counter[str] = Counter()  # service → calls retried after a failure
        self._changed = asyncio.Event()

    async def call(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        key = (service, f"{method} {path}")
        self.in_flight[key] += 1
        self._changed.set()
        deadline = time.monotonic() + self.patience_s
        try:
            while True:
                try:
                    return await super().call(method, service, path, **kwargs)
                except ApiError as exc:
                    if not _TRANSIENT.search(str(exc)) or time.monotonic() > deadline:
                        raise
                    self.retried[service] += 1
                    await asyncio.sleep(0.5)
        finally:
            self.in_flight[key] -= 1
            if self.in_flight[key] <= 0:
                del self.in_flight[key]

    def busy(self, service: str, call: str) -> bool:
        """True while a call to ``service`` starting with ``call`` ("POST /webhooks/") is
        in flight."""
        return any(s == service and c.startswith(call) for s, c in self.in_flight)

    async def wait_busy(self, service: str, call: str, timeout_s: float) -> bool:
        """Until such a call is in flight (True) or the time is up (False)."""
        deadline = time.monotonic() + timeout_s
        while not self.busy(service, call):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
            except TimeoutError:
                pass
        return True


class PatientSettle(Settle):
    """The demo's "caught up?" look, which keeps looking while a broker is away (the load's
    Kafka clients fail like any client; the system is what is measured)."""

    patience_s = 300.0

    async def _lag(self) -> tuple[int, dict[TopicPartition, int]]:
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                return await super()._lag()
            except (KafkaError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise
                self._behind = [f"kafka ({type(exc).__name__})"]
                await asyncio.sleep(0.5)


class PatientFeed(Feed):
    def _apply(self, topic: str, value: bytes | None) -> int:
        try:
            return super()._apply(topic, value)
        except (ValueError, KeyError, TypeError):  # a poison record, published on purpose
            return 0

    async def drain(self) -> int:
        deadline = time.monotonic() + 240
        while True:
            try:
                return await super().drain()
            except (KafkaError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


async def make_patient(sim: Any) -> None:
    """Swap the simulation's Kafka readers for patient ones (same construction); the
    unstarted clients they replace are closed (aiokafka warns about them otherwise)."""
    old_settle, old_feed = sim.settle, sim.feed
    sim.settle = PatientSettle(old_settle.api, old_settle.bootstrap, old_settle.prefix)
    sim.feed = PatientFeed(old_feed.bootstrap, old_settle.prefix, old_feed.community_id)
    await old_settle.consumer.stop()
    await old_feed.consumer.stop()
    await old_settle.admin.close()
