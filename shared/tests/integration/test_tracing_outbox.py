"""The trace through the real outbox, relay, Kafka and consumer: add_event, add_events and
add_raw_events store the writer's ``ce_traceparent``, the relay publishes it, the consumer's
span is its child and the handler's own events carry it on. Without a span: no header."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from propfee.consumer import EventConsumer, EventContext
from propfee.events import PaymentReceived
from propfee.outbox import OutboxRelay, RawEvent, add_event, add_events, add_raw_events
from tests.support.fixtures import wait_until
from tests.support.kafka import read_topic

from .conftest import payment

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def stored_headers(pool: asyncpg.Pool) -> list[dict[str, str]]:
    rows = await pool.fetch("SELECT headers FROM outbox ORDER BY id")
    return [dict((k, v) for k, v in row["headers"]) for row in rows]


async def test_each_way_of_writing_stores_the_trace_and_none_without_a_span(
    spans: InMemorySpanExporter,
    messaging_pool,  # type: ignore[no-untyped-def]
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        async with messaging_pool.acquire() as conn, conn.transaction():
            await add_event(conn, payment("p-1"), key="u", subject="p-1")
            await add_events(conn, [(payment("p-2"), "u", "p-2")], time=NOW)
            await add_raw_events(
                conn,
                [RawEvent(PaymentReceived, payment("p-3").to_json(), "u", "p-3")],
                time=NOW,
            )
    async with messaging_pool.acquire() as conn, conn.transaction():
        await add_event(conn, payment("p-4"), key="u", subject="p-4")
        await add_events(conn, [(payment("p-5"), "u", "p-5")], time=NOW)
    ctx = span.get_span_context()
    parent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    headers = await stored_headers(messaging_pool)
    assert [h.get("ce_traceparent") for h in headers] == [parent, parent, parent, None, None]
    assert all("ce_tracestate" not in h for h in headers)


async def test_relay_publishes_it_and_the_consumer_continues_the_trace(
    spans: InMemorySpanExporter,
    messaging_pool,
    producer,
    kafka,
    test_prefix,  # type: ignore[no-untyped-def]
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /webhooks/wechatpay", kind=SpanKind.SERVER) as web:
        async with messaging_pool.acquire() as conn, conn.transaction():
            await add_event(conn, payment("p-1"), key="unit-1", subject="p-1")
    relay = OutboxRelay(messaging_pool, producer, topic_prefix=test_prefix)
    assert await relay.drain() == 1
    [record] = await read_topic(kafka, test_prefix + TOPIC, at_least=1, settle=0.2)
    ctx = web.get_span_context()
    assert record.headers["ce_traceparent"].decode().startswith(f"00-{ctx.trace_id:032x}-")

    handled: list[str] = []

    async def handler(conn: Any, event: PaymentReceived, context: EventContext) -> None:
        # What a handler writes carries the trace onward.
        await add_event(conn, payment(f"{event.payment_id}-next"), key="unit-1", subject="x")
        handled.append(event.payment_id)

    consumer = EventConsumer(
        group="tracing-test",
        bootstrap_servers=kafka,
        pool=messaging_pool,
        handlers={PaymentReceived: handler},
        dlq_producer=producer,
        topic_prefix=test_prefix,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def done() -> bool:
            return handled == ["p-1"]

        await wait_until(done, timeout=60)
    finally:
        consumer.stop()
        await task
    (consumed,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert consumed.name == f"{test_prefix}{TOPIC} process"
    assert consumed.parent is not None and consumed.parent.span_id == ctx.span_id
    assert consumed.context is not None and consumed.context.trace_id == ctx.trace_id
    attributes = consumed.attributes or {}
    assert attributes["messaging.kafka.offset"] == record.offset
    assert attributes["messaging.destination.partition.id"] == str(record.partition)
    assert attributes["cloudevents.event_id"] == record.ce_id
    onward = (await stored_headers(messaging_pool))[-1]["ce_traceparent"]
    assert onward == (
        f"00-{ctx.trace_id:032x}-{consumed.context.span_id:016x}-{ctx.trace_flags:02x}"
    )


async def test_raw_events_store_the_headers_add_event_stores(messaging_pool) -> None:  # type: ignore[no-untyped-def]
    """add_raw_events serialises its headers from a template: the same list, in the same
    order, as add_event's (a subject that needs escaping included)."""
    event = payment("p-9")
    async with messaging_pool.acquire() as conn, conn.transaction():
        await add_event(conn, event, key="u", subject='p-9 "x"\\', time=NOW)
        await add_raw_events(
            conn,
            [RawEvent(PaymentReceived, event.to_json(), "u", 'p-9 "x"\\')] * 2,
            time=NOW,
        )
    rows = await messaging_pool.fetch("SELECT event_id, headers FROM outbox ORDER BY id")
    one, raw, raw2 = ([[k, v] for k, v in row["headers"]] for row in rows)
    ids = [str(row["event_id"]) for row in rows]
    assert [k for k, _ in raw] == [k for k, _ in one]
    assert [h for h in raw if h[0] != "ce_id"] == [h for h in one if h[0] != "ce_id"]
    assert dict(raw)["ce_id"] == ids[1] and dict(raw2)["ce_id"] == ids[2] != ids[1]
    assert ids[1][14] == "4" and ids[1][19] in "89ab"  # version 4, RFC 4122 variant
