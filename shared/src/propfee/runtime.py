"""The life of a service process: connect (with backoff), migrate, relay, consume, stop.

The HTTP server starts first and answers ``/healthz`` at once. The database comes first
(migrations, then the pool): once it answers, the service serves its routes. Kafka (the
producer, then the outbox relay and the consumers) connects in the background with backoff;
until it does, events wait in the outbox. ``/readyz`` of an API process (relay and consumers
off) depends on its database alone; a worker's (relay or consumers on) also on Kafka. A service
that cannot reach a dependency keeps retrying with backoff instead of exiting in a loop.
Shutdown stops consumers after the record in hand, drains the outbox relay, then closes the
clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from propfee import metrics
from propfee.consumer import BatchHandler, EventConsumer, Handler, inbox_horizon, prune_inbox
from propfee.db import create_pool, migrate_database
from propfee.events import Event
from propfee.kafka import make_producer
from propfee.logging import get_logger
from propfee.outbox import OutboxRelay
from propfee.settings import KafkaSecurity, ServiceSettings

log = get_logger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        package: str,
        handlers: Mapping[type[Event], Handler] | None = None,
        batch_handlers: Mapping[type[Event], BatchHandler] | None = None,
    ) -> None:
        self.settings = settings
        self.package = package
        self.handlers = dict(handlers or {})
        self.batch_handlers = dict(batch_handlers or {})
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._boot_task: asyncio.Task[None] | None = None
        self._kafka_task: asyncio.Task[None] | None = None
        self.started = asyncio.Event()  # the database is up: routes may use the pool
        self.kafka_started = asyncio.Event()  # the producer, relay and consumers are up
        self._stopping = asyncio.Event()
        # Read once at start: a misconfigured KAFKA_SECURITY_PROTOCOL/SASL fails here, loudly.
        self.kafka_security = KafkaSecurity()

    @property
    def name(self) -> str:
        return self.settings.service_name

    def start(self) -> None:
        """Begin booting in the background; returns at once."""
        self._boot_task = asyncio.create_task(self._boot(), name=f"{self.name}-boot")

    @property
    def needs_kafka(self) -> bool:
        """True for a worker (the outbox relay or consumers run here): its readiness counts
        Kafka. An API process (both switched off, the Helm chart's api pods) is ready on its
        database alone; the outbox holds its events until a worker publishes them."""
        s = self.settings
        return s.relay_enabled or (
            s.consumers_enabled and bool(self.handlers or self.batch_handlers)
        )

    async def _boot(self) -> None:
        """The database first (migrations, pool), then serve; Kafka connects in the background.

        Routes that need only the database (a gateway's webhook writes the payment and its
        outbox rows in one transaction) answer while Kafka is still unreachable."""
        delay = 0.5
        while True:
            try:
                await self._connect_database()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "database not reachable; retrying",
                    error=repr(exc),
                    database=self.settings.database_url_for_logs(),
                    retry_in_s=delay,
                )
                await self._close_pool()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.startup_backoff_max_s)
        self._kafka_task = asyncio.create_task(self._boot_kafka(), name=f"{self.name}-kafka")
        await self.on_started()
        self.started.set()
        if not self.needs_kafka:
            metrics.READY.set(1)
        log.info("service started", http_port=self.settings.http_port)

    async def _boot_kafka(self) -> None:
        """Start the producer with backoff, then the relay and the consumers (if enabled)."""
        s = self.settings
        delay = 0.5
        while True:
            try:
                await self._connect_kafka()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "kafka not reachable; retrying (the outbox holds the events)",
                    error=repr(exc),
                    kafka=s.kafka_bootstrap_servers,
                    retry_in_s=delay,
                )
                await self._close_producer()
                await asyncio.sleep(delay)
                delay = min(delay * 2, s.startup_backoff_max_s)
        log.info("kafka connected", kafka=s.kafka_bootstrap_servers)
        if s.relay_enabled:
            assert self.pool is not None and self.producer is not None
            self.relay = OutboxRelay(
                self.pool,
                self.producer,
                topic_prefix=s.topic_prefix,
                batch_size=s.relay_batch_size,
                poll_interval_s=s.relay_poll_interval_s,
                send_timeout_s=s.relay_send_timeout_s,
                retention_days=s.outbox_retention_days,
            )
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        if s.consumers_enabled and (self.handlers or self.batch_handlers):
            assert self.pool is not None and self.producer is not None
            self.consumer = EventConsumer(
                group=self.name,
                bootstrap_servers=s.kafka_bootstrap_servers,
                pool=self.pool,
                handlers=self.handlers,
                batch_handlers=self.batch_handlers,
                dlq_producer=self.producer,
                topic_prefix=s.topic_prefix,
                max_attempts=s.consumer_max_attempts,
                backoff_initial_s=s.consumer_backoff_initial_s,
                backoff_max_s=s.consumer_backoff_max_s,
                max_poll_records=s.consumer_max_poll_records,
                session_timeout_ms=s.consumer_session_timeout_ms,
                security=self.kafka_security,
            )
            self._tasks.append(
                asyncio.create_task(self._run_consumer(), name=f"{self.name}-consumer")
            )
            self._tasks.append(
                asyncio.create_task(self._prune_inbox(), name=f"{self.name}-inbox-pruning")
            )
        self.kafka_started.set()
        metrics.READY.set(1)

    async def on_started(self) -> None:
        """Hook for a service's own background work (a dispatcher, a scheduler): called once
        the database is migrated and the pool open, before the service reports started. Kafka
        may still be connecting (``kafka_started``): write events to the outbox, never to the
        producer. Start tasks here."""

    async def on_stopping(self) -> None:
        """Hook called first on shutdown, while the pool and producer are still open: stop
        and await the service's own background work here."""

    async def _connect_database(self) -> None:
        s = self.settings
        if s.migrate_on_start:
            # As the owner role (migration_url), never through the runtime role's pool.
            await migrate_database(s.database_url, self.package, migration_url=s.migration_url)
        self.pool = await create_pool(
            s.database_url, min_size=s.db_pool_min, max_size=s.db_pool_max
        )
        await self._check_audit_log_protected()

    async def _connect_kafka(self) -> None:
        s = self.settings
        self.producer = make_producer(
            s.kafka_bootstrap_servers,
            client_id=f"propfee-{self.name}",
            security=self.kafka_security,
        )
        await self.producer.start()

    async def _check_audit_log_protected(self) -> None:
        """Warn when this process's own role could switch the audit log's protection off:
        it owns the table, its schema or the database (or may act as their owner), or it is
        a superuser."""
        assert self.pool is not None
        row = await self.pool.fetchrow(
            """
            SELECT pg_has_role(current_user, c.relowner, 'MEMBER')
                   OR pg_has_role(current_user, n.nspowner, 'MEMBER')
                   OR (SELECT pg_has_role(current_user, datdba, 'MEMBER') FROM pg_database
                        WHERE datname = current_database()) AS owns,
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass('public.audit_log')
            """
        )
        if row is not None and (row["owns"] or row["superuser"]):
            log.warning(
                "the service's database role owns the audit log, its schema or the database "
                "(or is a superuser): it could ALTER, DROP or disable the append-only trigger; "
                "run migrations as a separate owner role (*_MIGRATION_DATABASE_URL, "
                "docs/security.md)",
                database=self.settings.database_url_for_logs(),
            )

    async def _run_consumer(self) -> None:
        """Keep the consumer running; a broker outage at join time is retried."""
        delay = 0.5
        while self.consumer is not None:
            try:
                await self.consumer.run()
                return  # stopped on purpose
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer crashed; restarting", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.startup_backoff_max_s)
                if self.consumer is None or self.consumer._stopping.is_set():
                    return

    async def _prune_inbox(self) -> None:
        """Forget consumed event ids older than the group's horizon, once per
        ``inbox_prune_interval_s`` (the first time after a random part of it, so replicas
        started together do not prune together; pruning twice at once is safe anyway)."""
        s = self.settings
        horizon = inbox_horizon(self.name, margin=timedelta(days=s.inbox_retention_margin_days))
        delay = random.uniform(0.1, 1.0) * s.inbox_prune_interval_s
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                return
            delay = s.inbox_prune_interval_s
            if self.pool is None:
                continue
            try:
                pruned = await prune_inbox(self.pool, self.name, older_than=horizon)
            except Exception as exc:
                log.warning("inbox pruning failed; will retry", error=type(exc).__name__)
                continue
            if pruned:
                log.info("inbox pruned", rows=pruned, older_than_days=horizon.days)

    async def readiness(self) -> dict[str, str]:
        """Check the database and the broker now; see :meth:`is_ready` for what counts."""
        result = {"database": "not connected", "kafka": "not connected"}
        if self.pool is not None:
            try:
                async with asyncio.timeout(2):
                    await self.pool.fetchval("SELECT 1")
                result["database"] = "ok"
            except Exception as exc:
                result["database"] = type(exc).__name__
        if self.producer is not None and self.kafka_started.is_set():
            try:
                async with asyncio.timeout(3):
                    await self.producer.client.fetch_all_metadata()
                result["kafka"] = "ok"
            except Exception as exc:
                result["kafka"] = type(exc).__name__
        if not self.started.is_set():
            result["service"] = "starting"
        metrics.READY.set(1 if self.is_ready(result) else 0)
        return result

    def is_ready(self, checks: Mapping[str, str]) -> bool:
        """Ready when the service started and its database answers; a worker (relay or
        consumers here, :attr:`needs_kafka`) also needs Kafka. An API process reports Kafka's
        state in the body but stays ready without it: its webhooks only need the database."""
        counted = {k: v for k, v in checks.items() if k != "kafka" or self.needs_kafka}
        return all(v == "ok" for v in counted.values())

    async def measure(self) -> None:
        """Hook for a service's own gauges, called at each /metrics scrape (within a second;
        ``propfee.measure``): set them from the database here (notifier's dispatch backlog)."""

    async def stop(self) -> None:
        """Graceful: finish the record in hand, publish what committed, close clients."""
        self._stopping.set()
        if self.started.is_set():
            try:
                await asyncio.wait_for(self.on_stopping(), timeout=self.settings.shutdown_timeout_s)
            except Exception as exc:
                log.warning("background work did not stop cleanly", error=repr(exc))
        if self._boot_task is not None and not self._boot_task.done():
            self._boot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._boot_task
        if self._kafka_task is not None and not self._kafka_task.done():
            self._kafka_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._kafka_task
        timeout = self.settings.shutdown_timeout_s
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.relay is not None and self.producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.relay.drain()
        await self._close_clients()
        metrics.READY.set(0)
        log.info("service stopped")

    async def _close_clients(self) -> None:
        await self._close_producer()
        await self._close_pool()

    async def _close_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _close_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), timeout=5)
