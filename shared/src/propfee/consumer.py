"""Idempotent consumer: at-least-once from Kafka, effectively once in the database.

For each record: the CloudEvents envelope is read, the event validated, then in ONE database
transaction the ``ce_id`` is recorded in the inbox and the handler makes its change (and may
write outbox rows). The offset is committed (explicitly, per partition) only after that
transaction commits. A duplicate ``ce_id`` is skipped. A handler error is retried with
exponential backoff in place (no immediate re-consume); after the last attempt, or at once for
records that can never succeed (bad envelope, unknown type, invalid data), the record goes to
``<topic>.dlq.<group>`` with the reason, and the partition moves on. Database or broker
outages are not the record's fault: those are retried until the service stops.

Partitions are independent (one household's events share a partition): each partition with
records gets one task of its own, and the partition is paused while that task runs, so a
slow or retrying partition never holds up the others, and the loop keeps polling (the group
never sees a member past ``max.poll.interval.ms``). A task commits its partition's offset
after its database commits, then resumes the partition. When a rebalance revokes partitions,
their tasks are asked to stop after the record in hand and are awaited (then cancelled after
``revoke_grace_s``) before the partitions go, so no offset is ever committed for a partition
this member no longer owns.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from propfee import metrics, tracing
from propfee.cloudevents import CloudEvent, EnvelopeError
from propfee.events import Event
from propfee.kafka import client_kwargs
from propfee.logging import get_logger
from propfee.masking import mask_text
from propfee.settings import KafkaSecurity
from propfee.topics import SUBSCRIPTIONS, TopicSpec, all_topics, dlq_topic

log = get_logger(__name__)

#: Advisory locks on a run's record keys, taken in one global order (the hash's) so that two
#: runs never wait for each other in a cycle. Only for runs of up to ``_MAX_KEY_LOCKS``
#: households: each lock takes a slot of the server's shared lock table (64 per connection
#: by default), and a large batch (a billing run's invoices) rather risks a deadlock, which
#: PostgreSQL breaks and the run is then redone record by record.
_MAX_KEY_LOCKS = 64
_LOCK_KEYS = """
SELECT pg_advisory_xact_lock(k)
  FROM (SELECT DISTINCT hashtextextended('propfee-record-key:' || key, 0) AS k
          FROM unnest($1::text[]) AS key ORDER BY k) AS keys
"""


#: Set in each partition's task: that partition's work is to stop after the record in hand
#: (its partition was revoked). ``EventConsumer._halted`` reads it with the service's stop.
_HALT: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "propfee_consumer_halt", default=None
)


@dataclass(slots=True)
class _PartitionWork:
    """The one task in flight for a partition (which stays paused meanwhile)."""

    task: asyncio.Task[None]
    halt: asyncio.Event = field(default_factory=asyncio.Event)


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._release(revoked, grace=self._consumer.revoke_grace_s)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


@dataclass(frozen=True, slots=True)
class EventContext:
    """Where an event came from: its CloudEvents attributes and its Kafka position."""

    envelope: CloudEvent
    topic: str
    partition: int
    offset: int

    @property
    def event_id(self) -> str:
        return self.envelope.id


Handler = Callable[[asyncpg.Connection, Any, EventContext], Awaitable[None]]
#: Handles consecutive events of one type from one partition in ONE transaction (their inbox
#: rows included). Used where set-based SQL makes a batch nearly as cheap as one event.
BatchHandler = Callable[[asyncpg.Connection, list[tuple[Any, EventContext]]], Awaitable[None]]


def single(batch: BatchHandler) -> Handler:
    """The one-event form of a batch handler (used to isolate a failing record)."""

    async def handle(conn: asyncpg.Connection, event: Any, context: EventContext) -> None:
        await batch(conn, [(event, context)])

    return handle


class PermanentError(Exception):
    """Raised by a handler for input that can never succeed: dead-letter without retrying."""


class _Interrupted(Exception):
    """The service is stopping while a record waits on an outage: leave it uncommitted."""


class _DeadLetter(Exception):
    def __init__(self, reason: str, error: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.attempts = attempts


_INFRA_ERRORS = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
)


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            try:
                return str(value.decode())
            except (UnicodeDecodeError, AttributeError):
                return None
    return None


def describe_error(exc: BaseException) -> str:
    """A short, masked description of an error, safe for headers and logs."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        text = f"invalid event data: {'; '.join(parts)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return mask_text(text)[:2000]


class EventConsumer:
    """One consumer group reading several topics, dispatching by ``ce_type``."""

    def __init__(
        self,
        *,
        group: str,
        bootstrap_servers: str,
        pool: asyncpg.Pool,
        handlers: Mapping[type[Event], Handler],
        batch_handlers: Mapping[type[Event], BatchHandler] | None = None,
        max_batch: int = 500,
        max_group: int = 32,
        dlq_producer: AIOKafkaProducer,
        topic_prefix: str = "",
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_poll_records: int = 200,
        session_timeout_ms: int = 30000,
        client_id: str | None = None,
        security: KafkaSecurity | None = None,
        revoke_grace_s: float = 20.0,
    ) -> None:
        # Each handler call inside a CONSUMER span, the child of the event's ce_traceparent.
        handlers, batch_handlers = tracing.traced_handlers(group, handlers, batch_handlers)
        self.group = group
        self._security = security
        self._bootstrap = bootstrap_servers
        self._pool = pool
        self._prefix = topic_prefix
        self._batch = {e.ce_type(): (e, h) for e, h in (batch_handlers or {}).items()}
        self._max_batch = max_batch
        self._max_group = max_group
        singles = {**handlers, **{e: single(h) for e, h in (batch_handlers or {}).items()}}
        self._by_type = {event.ce_type(): (event, handler) for event, handler in singles.items()}
        self._topics = sorted({topic_prefix + event.topic() for event in singles})
        self._producer = dlq_producer
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._max_poll_records = max_poll_records
        self._session_timeout_ms = session_timeout_ms
        self._client_id = client_id or f"propfee-{group}"
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self.revoke_grace_s = revoke_grace_s
        self._inflight: dict[TopicPartition, _PartitionWork] = {}
        self._crashed: BaseException | None = None
        self.running = False

    def stop(self) -> None:
        """Ask the loop to finish the record in hand, commit, and leave the group."""
        self._stopping.set()

    def _halted(self) -> bool:
        """The service stops, or this task's partition was revoked: no new record."""
        halt = _HALT.get()
        return self._stopping.is_set() or (halt is not None and halt.is_set())

    def _logical_topic(self, topic: str) -> str:
        return (
            topic[len(self._prefix) :] if self._prefix and topic.startswith(self._prefix) else topic
        )

    # Read by propfee.measure (consumer lag and DLQ depth at each /metrics scrape).
    logical_topic = _logical_topic

    @property
    def kafka(self) -> AIOKafkaConsumer | None:
        """The Kafka consumer while the loop runs, else None."""
        return self._consumer if self.running else None

    @property
    def topics(self) -> list[str]:
        """The topics read, with the deployment's prefix."""
        return list(self._topics)

    @property
    def topic_prefix(self) -> str:
        return self._prefix

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._prefix + self.group,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self._max_poll_records,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(1000, self._session_timeout_ms // 10),
            max_poll_interval_ms=300000,
            **client_kwargs(self._security),
        )
        consumer.subscribe(self._topics, listener=_Revocations(self))
        await consumer.start()
        self._consumer = consumer
        self._crashed = None
        self.running = True
        log.info("consumer started", group=self.group, topics=self._topics)
        try:
            while not self._stopping.is_set():
                if self._crashed is not None:
                    raise self._crashed
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    if not records:
                        continue
                    if tp in self._inflight:  # paused: not expected, but never run it twice
                        consumer.seek(tp, records[0].offset)
                        continue
                    self._start(consumer, tp, records)
        finally:
            # Each task finishes the record in hand (it sees the stop) and commits it.
            await self._release(set(self._inflight), grace=None)
            self.running = False
            await consumer.stop()
            log.info("consumer stopped", group=self.group)

    def _start(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> None:
        """Handle a partition's records in a task of its own; the partition is paused until
        the task has committed."""
        consumer.pause(tp)
        halt = asyncio.Event()
        task = asyncio.create_task(
            self._work(consumer, tp, records, halt), name=f"{self.group}-{tp.topic}-{tp.partition}"
        )
        self._inflight[tp] = _PartitionWork(task, halt)
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._crashed is None:
            self._crashed = task.exception()  # the loop raises it: the runtime restarts us

    async def _work(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        halt: asyncio.Event,
    ) -> None:
        _HALT.set(halt)  # this task's own context
        try:
            next_offset = await self._process_partition(records)
            # Still ours: a revocation awaits this task before it gives the partition away.
            if next_offset is not None and tp in consumer.assignment():
                await self._commit(consumer, {tp: next_offset})
            if self._stopping.is_set() or halt.is_set() or tp not in consumer.assignment():
                return
            if next_offset != records[-1].offset + 1:  # not all handled: read them again
                consumer.seek(tp, records[0].offset if next_offset is None else next_offset)
            consumer.resume(tp)
        finally:
            if self._inflight.get(tp) is not None and self._inflight[tp].halt is halt:
                del self._inflight[tp]

    async def _release(self, partitions: set[TopicPartition], *, grace: float | None) -> None:
        """Stop the work of ``partitions`` after the record in hand and wait for it (it commits
        what it handled): at a revocation up to ``revoke_grace_s``, then it is cancelled
        (its transaction rolls back; the partition's next owner handles the record); at the
        service's stop, without limit (the runtime bounds the shutdown)."""
        work = [w for tp, w in list(self._inflight.items()) if tp in partitions]
        if not work:
            return
        for w in work:
            w.halt.set()
        _done, pending = await asyncio.wait([w.task for w in work], timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("revoked partitions' work cancelled", partitions=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    async def _process_partition(self, records: list[ConsumerRecord]) -> int | None:
        """Handle one partition's records in order; the offset to commit after them.

        Runs of consecutive records of a type with a batch handler go through it in one
        transaction; other runs (up to ``max_group`` records) go through their handlers one
        after the other, also in one transaction. If that fails, the run is handled record by
        record, so one bad record is retried and dead-lettered alone and never takes its
        neighbours with it.
        """
        next_offset: int | None = None
        i = 0
        while i < len(records) and not self._halted():
            ce_type = _header(records[i], "ce_type")
            end = i + 1
            batch = ce_type in self._batch
            if batch:
                while (
                    end < len(records)
                    and end - i < self._max_batch
                    and _header(records[end], "ce_type") == ce_type
                ):
                    end += 1
            else:
                while (
                    end < len(records)
                    and end - i < self._max_group
                    and _header(records[end], "ce_type") not in self._batch
                ):
                    end += 1
            if batch or end - i > 1:
                process = self._process_batch if batch else self._process_group
                try:
                    if await process(records[i:end]):
                        next_offset, i = records[end - 1].offset + 1, end
                        continue
                except _Interrupted:
                    break
            for record in records[i:end]:
                if self._halted():
                    break
                try:
                    await self._process(record)
                except _Interrupted:
                    return next_offset
                next_offset = record.offset + 1
            i = end
        return next_offset

    async def _process_group(self, records: list[ConsumerRecord]) -> bool:
        """Records of one partition through their own handlers, in order, in one transaction
        (one inbox insert, one commit); False sends them record by record instead.

        A burst (a billing run's invoices, a month end's payments) then costs one transaction
        per run instead of one per record: the same work, a fraction of the round trips and
        commits."""
        decoded = []
        for record in records:
            try:
                decoded.append(self._decode(record))
            except _DeadLetter:
                return False

        async def work(conn: asyncpg.Connection) -> int:
            new_ids = await self._into_inbox(
                conn, records, [(c, c.envelope.type) for c, _, _ in decoded]
            )
            done: set[str] = set()
            for context, event, handler in decoded:
                if context.event_id in new_ids and context.event_id not in done:
                    done.add(context.event_id)
                    await handler(conn, event, context)
            return len(done)

        return await self._in_one_transaction(records, work)

    async def _process_batch(self, records: list[ConsumerRecord]) -> bool:
        """One transaction for the run of one event type, through its batch handler; False
        sends it record by record instead."""
        decoded = []
        for record in records:
            try:
                context, event, _ = self._decode(record)
            except _DeadLetter:
                return False
            decoded.append((event, context))
        event_cls, handler = self._batch[decoded[0][1].envelope.type]

        async def work(conn: asyncpg.Connection) -> int:
            new_ids = await self._into_inbox(
                conn, records, [(c, event_cls.ce_type()) for _, c in decoded]
            )
            todo, seen = [], set()
            for event, context in decoded:
                if context.event_id in new_ids and context.event_id not in seen:
                    seen.add(context.event_id)
                    todo.append((event, context))
            if todo:
                await handler(conn, todo)
            return len(todo)

        return await self._in_one_transaction(records, work)

    async def _into_inbox(
        self,
        conn: asyncpg.Connection,
        records: list[ConsumerRecord],
        items: list[tuple[EventContext, str]],
    ) -> set[str]:
        """Record a run's events in the inbox; the ids not seen before."""
        fresh = await conn.fetch(
            "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, "
            "kafka_offset) SELECT $1, e, t, $2, $3, o "
            "FROM unnest($4::uuid[], $5::text[], $6::bigint[]) AS x(e, t, o) "
            "ON CONFLICT (consumer_group, event_id) DO NOTHING RETURNING event_id",
            self.group,
            self._logical_topic(records[0].topic),
            records[0].partition,
            [uuid.UUID(c.event_id) for c, _ in items],
            [t for _, t in items],
            [c.offset for c, _ in items],
        )
        return {str(r["event_id"]) for r in fresh}

    async def _in_one_transaction(
        self,
        records: list[ConsumerRecord],
        work: Callable[[asyncpg.Connection], Awaitable[int]],
    ) -> bool:
        """Run ``work`` (which returns how many records it handled) in one transaction,
        retried through database outages. False when it fails otherwise: the caller then
        handles the records one by one.

        The run's record keys (the households; up to ``_MAX_KEY_LOCKS`` of them) are locked
        first, all at once and in one global order: two runs of other partitions (another
        topic's events for the same households) wait for each other instead of each locking
        rows the other needs next, a deadlock PostgreSQL only breaks after
        ``deadlock_timeout`` (a second, by default)."""
        topic = self._logical_topic(records[0].topic)
        keys = sorted({r.key.decode("utf-8", "replace") for r in records if r.key})
        started = time.perf_counter()
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    if 0 < len(keys) <= _MAX_KEY_LOCKS:
                        await conn.execute(_LOCK_KEYS, keys)
                    handled = await work(conn)
                break
            except _INFRA_ERRORS as exc:
                if self._halted():
                    raise _Interrupted from exc
                log.warning("database unavailable; retrying run", topic=topic, error=repr(exc))
                await asyncio.sleep(self._backoff_initial)
            except Exception as exc:
                log.info(
                    "run failed; handling its records one by one",
                    topic=topic,
                    records=len(records),
                    error=describe_error(exc),
                )
                return False
        metrics.EVENTS_CONSUMED.labels(self.group, topic, "processed").inc(handled)
        metrics.EVENTS_CONSUMED.labels(self.group, topic, "duplicate").inc(len(records) - handled)
        metrics.HANDLER_SECONDS.labels(self.group, topic).observe(time.perf_counter() - started)
        return True

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit explicit offsets, only ever after the database commits they stand for."""
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took partitions away; their new owner re-reads from the last
            # committed offset and the inbox absorbs what this process already handled.
            log.warning("offset commit failed", partitions=len(offsets), error=repr(exc))

    async def _process(self, record: ConsumerRecord) -> None:
        topic = self._logical_topic(record.topic)
        try:
            context, event, handler = self._decode(record)
            await self._handle_with_retries(record, topic, context, event, handler)
        except _DeadLetter as dead:
            await self._dead_letter(record, topic, dead)

    def _decode(self, record: ConsumerRecord) -> tuple[EventContext, Event, Handler]:
        try:
            envelope = CloudEvent.from_kafka(record.headers, record.value)
        except EnvelopeError as exc:
            raise _DeadLetter("invalid-envelope", describe_error(exc), 0) from exc
        known = self._by_type.get(envelope.type)
        if known is None:
            raise _DeadLetter("unknown-event-type", f"no handler for ce_type {envelope.type!r}", 0)
        event_cls, handler = known
        try:
            event = event_cls.model_validate_json(envelope.data)
        except ValidationError as exc:
            malformed = any(e["type"] == "json_invalid" for e in exc.errors())
            reason = "malformed-json" if malformed else "invalid-data"
            raise _DeadLetter(reason, describe_error(exc), 0) from exc
        context = EventContext(envelope, record.topic, record.partition, record.offset)
        return context, event, handler

    async def _handle_with_retries(
        self,
        record: ConsumerRecord,
        topic: str,
        context: EventContext,
        event: Event,
        handler: Handler,
    ) -> None:
        attempt = 0
        backoff = self._backoff_initial
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcome = await self._handle_once(context, event, handler, topic)
                metrics.EVENTS_CONSUMED.labels(self.group, topic, outcome).inc()
                metrics.HANDLER_SECONDS.labels(self.group, topic).observe(
                    time.perf_counter() - started
                )
                return
            except PermanentError as exc:
                raise _DeadLetter("rejected", describe_error(exc), attempt) from exc
            except _INFRA_ERRORS as exc:
                if self._halted():
                    raise _Interrupted from exc
                log.warning("database unavailable; retrying", topic=topic, error=repr(exc))
                attempt -= 1  # an outage is not the record's fault
            except Exception as exc:
                metrics.HANDLER_RETRIES.labels(self.group, topic).inc()
                if attempt >= self._max_attempts:
                    log.error(
                        "handler failed; dead-lettering",
                        topic=topic,
                        event_id=context.event_id,
                        attempts=attempt,
                        error=describe_error(exc),
                    )
                    raise _DeadLetter("handler-failed", describe_error(exc), attempt) from exc
                log.warning(
                    "handler failed; retrying",
                    topic=topic,
                    event_id=context.event_id,
                    attempt=attempt,
                    error=describe_error(exc),
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _handle_once(
        self, context: EventContext, event: Event, handler: Handler, topic: str
    ) -> str:
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, "
                "kafka_offset) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (consumer_group, event_id) DO NOTHING RETURNING true",
                self.group,
                uuid.UUID(context.event_id),
                context.envelope.type,
                topic,
                context.partition,
                context.offset,
            )
            if not inserted:
                return "duplicate"
            await handler(conn, event, context)
        return "processed"

    async def _dead_letter(self, record: ConsumerRecord, topic: str, dead: _DeadLetter) -> None:
        headers = [
            *(record.headers or ()),
            ("dlq_reason", dead.reason.encode()),
            ("dlq_error", dead.error.encode()),
            ("dlq_attempts", str(dead.attempts).encode()),
            ("dlq_group", self.group.encode()),
            ("dlq_original_topic", topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        target = self._prefix + dlq_topic(topic, self.group)
        backoff = self._backoff_initial
        while True:
            try:
                await (
                    await self._producer.send(
                        target, value=record.value, key=record.key, headers=headers
                    )
                )
                break
            except KafkaError as exc:
                if self._halted():
                    raise _Interrupted from exc
                log.warning("dead-letter publish failed; retrying", dlq=target, error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
        metrics.EVENTS_CONSUMED.labels(self.group, topic, "dead_lettered").inc()
        log.error(
            "event dead-lettered",
            topic=topic,
            dlq=target,
            reason=dead.reason,
            error=dead.error,
            partition=record.partition,
            offset=record.offset,
        )


#: Rows deleted per statement when the inbox is pruned: short transactions, small WAL bursts.
PRUNE_BATCH = 5000


def inbox_horizon(group: str, *, margin: timedelta) -> timedelta:
    """How long a consumer group must remember an event id: the longest retention of the
    topics it reads (a record can be redelivered, or replayed from the beginning, while it is
    on its topic), plus the longest of its dead-letter topics' (a dead-lettered record can be
    replayed that much later), plus ``margin``. Read from :mod:`propfee.topics`; a group that
    is not declared there (a test's) gets the longest of every topic."""
    specs = {spec.name: spec for spec in all_topics()}
    events = SUBSCRIPTIONS.get(group)
    if events:
        read = [specs[e.topic()] for e in events]
        dead = [specs[dlq_topic(e.topic(), group)] for e in events]
    else:
        dead = [s for s in specs.values() if ".dlq." in s.name]
        read = [s for s in specs.values() if ".dlq." not in s.name]

    def longest(topics: list[TopicSpec]) -> timedelta:
        return timedelta(milliseconds=max(s.retention_ms for s in topics))

    return longest(read) + longest(dead) + margin


async def prune_inbox(
    pool: asyncpg.Pool, group: str, *, older_than: timedelta, batch: int = PRUNE_BATCH
) -> int:
    """Delete ``group``'s inbox rows processed more than ``older_than`` ago, ``batch`` rows per
    transaction (the index inbox_processed_at); return how many. Safe with several replicas:
    rows another replica is deleting are skipped (SKIP LOCKED), never waited for."""
    total = 0
    while True:
        deleted: int = await pool.fetchval(
            """
            WITH doomed AS (
                SELECT consumer_group, event_id FROM inbox
                 WHERE consumer_group = $1 AND processed_at < now() - $2::interval
                 LIMIT $3 FOR UPDATE SKIP LOCKED),
            gone AS (
                DELETE FROM inbox i USING doomed d
                 WHERE i.consumer_group = d.consumer_group AND i.event_id = d.event_id
                RETURNING 1)
            SELECT count(*) FROM gone
            """,
            group,
            older_than,
            batch,
        )
        total += deleted
        if deleted < batch:
            return total
