"""Transactional outbox: events are rows written in the same transaction as the change.

``add_event`` is called inside the caller's transaction. The :class:`OutboxRelay` publishes
committed rows in COMMIT order per message key with an idempotent producer (acks=all) and
marks them published. Ids come from a sequence at INSERT time, which is not commit order: a
transaction that inserts first may commit last. So each writing transaction takes a commit
number at its commit (migration 0002: a deferred constraint trigger that first locks the hash
buckets of the transaction's keys until the commit is visible), and the relay publishes by
(commit number, id). Only one relay per database publishes at a time (a transaction-scoped
advisory lock), and the rows it publishes are locked ``FOR UPDATE``: replicas are safe.
The headers are published as stored, the writer's trace context among them (``ce_traceparent``,
``propfee.tracing``).
A crash between publishing and marking re-publishes the batch; consumers' inboxes absorb it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from asyncpg.pgproto.pgproto import UUID as PgUUID

from propfee import metrics, tracing
from propfee.cloudevents import CloudEvent, format_time
from propfee.events import Event
from propfee.logging import get_logger

log = get_logger(__name__)

NOTIFY_CHANNEL = "propfee_outbox"
_RELAY_LOCK = 7_301_002  # pg_advisory_xact_lock key: one publishing relay per database
#: From this many rows in one bulk call (COPY), the transaction is marked bulk: at its commit
#: it takes the outbox's commit gate exclusively (one lock, no scan of its keys) instead of
#: one lock per key bucket. Other writers then wait for it only during its commit.
BULK_ROWS = 500

#: The next rows to publish: committed transactions in commit-number order (the index on
#: outbox_commit.seq), each one's pending rows in id order from the relay's cursor (the index
#: outbox_pending, entered at (xact_id, after_id): the entries of rows already published, dead
#: until a vacuum, are not walked again at every batch of a billing run). The nested loop keeps
#: the commit order, so an incremental sort stops at the LIMIT. The row comparison and the
#: order by ``(xact_id, id)`` leave the planner one index to use: with ``xact_id = ...`` it may
#: scan the primary key instead, filtering out every published row, when its statistics say a
#: transaction has thousands of rows (as after a billing run). Transactions without pending
#: rows (all published, or none written) are skipped here, then forgotten.
_NEXT_BATCH = """
SELECT c.seq, o.id, o.topic, o.message_key, o.headers, o.payload
  FROM (SELECT xact_id, seq, after_id FROM outbox_commit WHERE seq IS NOT NULL ORDER BY seq) AS c
 CROSS JOIN LATERAL (
       SELECT id, topic, message_key, headers, payload FROM outbox
        WHERE (outbox.xact_id, outbox.id) > (c.xact_id, c.after_id)
          AND outbox.xact_id <= c.xact_id
          AND published_at IS NULL
        ORDER BY xact_id, id LIMIT $1 FOR UPDATE) AS o
 ORDER BY c.seq, o.id
 LIMIT $1
"""
#: After a batch: forget the transactions up to its last one that have nothing pending, and
#: move the last one's cursor (its rows are published in id order).
_AFTER_BATCH = """
WITH gone AS (
    DELETE FROM outbox_commit AS c
     WHERE c.seq <= $1
       AND NOT EXISTS (SELECT 1 FROM outbox o
                        WHERE o.xact_id = c.xact_id AND o.published_at IS NULL)
    RETURNING c.seq)
UPDATE outbox_commit SET after_id = $2 WHERE seq = $1 AND seq NOT IN (SELECT seq FROM gone)
"""


async def add_event(
    conn: asyncpg.Connection,
    event: Event,
    *,
    key: str,
    subject: str,
    time: datetime | None = None,
    event_id: str | None = None,
) -> str:
    """Write ``event`` to the outbox in the caller's transaction; return its ``ce_id``.

    ``key`` is the Kafka message key (the unit id); ``subject`` the aggregate id.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("add_event must run inside the transaction that makes the change")
    cloud_event = CloudEvent.new(
        id=event_id,
        type=event.ce_type(),
        source=event.ce_source(),
        subject=subject,
        data=event.to_json(),
        time=time or datetime.now(UTC),
    )
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, message_key, headers, payload) "
        "VALUES ($1, $2, $3, $4, $5)",
        uuid.UUID(cloud_event.id),
        event.topic(),
        key,
        [[k, v.decode()] for k, v in cloud_event.kafka_headers()] + tracing.outbox_headers(),
        cloud_event.data,
    )
    return cloud_event.id


@dataclass(frozen=True, slots=True)
class RawEvent:
    """An event already serialised by a set-based operation that validated its own data.

    ``event_type`` names the contract; tests check such payloads against the model."""

    event_type: type[Event]
    payload: bytes
    key: str
    subject: str


async def add_raw_events(
    conn: asyncpg.Connection, events: Sequence[RawEvent], *, time: datetime
) -> None:
    """Bulk :func:`add_event` for payloads serialised by the caller (COPY, one instant)."""
    if not conn.is_in_transaction():
        raise RuntimeError("add_raw_events must run inside the transaction of the change")
    stamp = orjson.dumps(format_time(time))
    trace = b"".join(b"," + orjson.dumps(h) for h in tracing.outbox_headers())
    # The headers as :func:`add_event` writes them, serialised once per event type (a
    # template: only the id and the subject differ), passed to the jsonb codec as a fragment.
    templates: dict[type[Event], tuple[bytes, bytes, str]] = {}
    records = []
    for event in events:
        template = templates.get(event.event_type)
        if template is None:
            kind = event.event_type
            template = templates[kind] = (
                b'[["ce_specversion","1.0"],["ce_id","',
                b'"],["ce_type",'
                + orjson.dumps(kind.ce_type())
                + b'],["ce_source",'
                + orjson.dumps(kind.ce_source())
                + b'],["ce_time",'
                + stamp
                + b'],["ce_subject",',
                kind.topic(),
            )
        event_id = _uuid4()
        headers = orjson.Fragment(
            b"".join(
                (
                    template[0],
                    str(event_id).encode(),
                    template[1],
                    orjson.dumps(event.subject),
                    b'],["content-type","application/json"]',
                    trace,
                    b"]",
                )
            )
        )
        records.append((event_id, template[2], event.key, headers, event.payload))
    await _copy_to_outbox(conn, records)


def _uuid4() -> PgUUID:
    """A random (version 4) UUID, asyncpg's own type: a third of ``uuid.uuid4()``'s cost,
    which counts at a million events."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return PgUUID(bytes(raw))


async def _copy_to_outbox(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows into the outbox; a large set marks its transaction bulk (:data:`BULK_ROWS`).

    COPY fires the statement trigger that wakes the relay."""
    if len(records) >= BULK_ROWS:
        await conn.execute("SELECT set_config('propfee.outbox_bulk', 'on', true)")
    await conn.copy_records_to_table(
        "outbox",
        records=records,
        columns=["event_id", "topic", "message_key", "headers", "payload"],
    )


async def add_events(
    conn: asyncpg.Connection, events: Sequence[tuple[Event, str, str]], *, time: datetime
) -> list[str]:
    """Bulk form of :func:`add_event` (COPY): ``(event, key, subject)`` triples, one instant.

    For set-based operations (a billing run, a sweep) that publish thousands of events in the
    transaction that makes their change.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("add_events must run inside the transaction that makes the change")
    records = []
    ids = []
    trace_headers = tracing.outbox_headers()  # the caller's trace, if any (one for the batch)
    for event, key, subject in events:
        envelope = CloudEvent.new(
            type=event.ce_type(),
            source=event.ce_source(),
            subject=subject,
            data=event.to_json(),
            time=time,
        )
        headers = [[k, v.decode()] for k, v in envelope.kafka_headers()] + trace_headers
        records.append((uuid.UUID(envelope.id), event.topic(), key, headers, envelope.data))
        ids.append(envelope.id)
    await _copy_to_outbox(conn, records)
    return ids


class RelayError(RuntimeError):
    """A batch could not be published; it stays in the outbox and is retried."""


class OutboxRelay:
    """Publishes committed outbox rows; wakes on NOTIFY, polls as a fallback."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        send_timeout_s: float = 30.0,
        retention_days: int = 7,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._poll_interval = poll_interval_s
        self._send_timeout = send_timeout_s
        self._retention_days = retention_days
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listen_conn: asyncpg.Connection | None = None

    async def publish_batch(self) -> int:
        """Publish up to one batch; return how many rows were published (0: none or not leader)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(_NEXT_BATCH, self._batch_size)
            if not rows:
                # Only transactions without pending rows are left, if any: forget them.
                await conn.execute(_AFTER_BATCH, 2**63 - 1, 0)
                return 0
            futures = []
            for row in rows:
                topic = self._prefix + row["topic"]
                try:
                    futures.append(
                        await self._producer.send(
                            topic,
                            value=bytes(row["payload"]),
                            key=row["message_key"].encode(),
                            headers=[(k, v.encode()) for k, v in row["headers"]],
                        )
                    )
                except Exception as exc:
                    raise RelayError(f"cannot publish to {topic}: {exc!r}") from exc
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self._send_timeout)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            await conn.execute(_AFTER_BATCH, rows[-1]["seq"], rows[-1]["id"])
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(row["topic"]).inc()
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending (used at shutdown and by tests)."""
        total = 0
        while (n := await self.publish_batch()) > 0:
            total += n
        return total

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Loop until :meth:`stop`; errors are logged and retried with backoff."""
        await self._listen()
        backoff = 0.2
        last_cleanup = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    published = await self.publish_batch()
                    backoff = 0.2
                    if loop.time() - last_cleanup > 600:
                        await self._cleanup()
                        last_cleanup = loop.time()
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:
                    metrics.RELAY_ERRORS.inc()
                    log.warning("outbox relay batch failed; will retry", error=str(exc))
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if published >= self._batch_size:
                    continue  # more is waiting
                await self._sleep(self._poll_interval)
        finally:
            await self._unlisten()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)

    def _on_notify(self, *_: Any) -> None:
        self._wakeup.set()

    async def _listen(self) -> None:
        try:
            self._listen_conn = await self._pool.acquire()
            await self._listen_conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except Exception as exc:  # polling still works without LISTEN
            log.warning("outbox LISTEN unavailable; polling only", error=repr(exc))
            await self._unlisten()

    async def _unlisten(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    async def _cleanup(self) -> None:
        """Forget rows published longer ago than the retention. (The backlog gauge is counted
        at each /metrics scrape: ``propfee.measure.measure_outbox``.)"""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)",
                self._retention_days,
            )
