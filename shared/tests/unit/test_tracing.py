"""propfee.tracing: the trace context written with an event (CloudEvents distributed-tracing
extension, binary mode) and picked up by the consumer; no header without a span; the
configuration from OTEL_*; URLs without their query string."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from propfee import tracing
from propfee.cloudevents import CloudEvent
from propfee.consumer import EventContext
from propfee.events import PaymentReceived

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def payment(payment_id: str = "pay-1") -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        community_id="c-1",
        unit_id="unit-1",
        payer_party_id="party-1",
        amount_fen=27580,
        channel="wechat_pay",
        paid_at=NOW,
        received_at=NOW,
    )


def written(event: PaymentReceived, extra: list[list[str]]) -> list[tuple[str, bytes]]:
    """The Kafka headers of an event as the outbox stores and the relay publishes them."""
    envelope = CloudEvent.new(
        type=event.ce_type(), source=event.ce_source(), subject="unit-1", data=b"{}", time=NOW
    )
    rows = [[k, v.decode()] for k, v in envelope.kafka_headers()] + extra
    return [(k, v.encode()) for k, v in rows]


def received(headers: list[tuple[str, bytes]], offset: int = 7) -> EventContext:
    envelope = CloudEvent.from_kafka(headers, b"{}")
    return EventContext(envelope, "t1.payments.payment-received", 2, offset)


def by_name(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def test_no_span_no_header() -> None:
    assert trace.get_current_span().get_span_context().is_valid is False
    assert tracing.outbox_headers() == []
    context = received(written(payment(), tracing.outbox_headers()))
    assert context.envelope.traceparent is None
    assert "ce_traceparent" not in dict(context.envelope.kafka_headers())


async def test_round_trip_writer_to_consumer_span_to_next_event(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /webhooks/wechatpay", kind=SpanKind.SERVER) as web:
        header = tracing.outbox_headers()
    ctx = web.get_span_context()
    assert header == [
        [
            "ce_traceparent",
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}",
        ]
    ]
    context = received(written(payment(), header))
    assert context.envelope.traceparent == header[0][1]

    onward: list[list[list[str]]] = []

    async def handler(conn: Any, event: Any, context: EventContext) -> None:
        onward.append(tracing.outbox_headers())  # what this handler's events would carry

    handlers, _ = tracing.traced_handlers("billing", {PaymentReceived: handler}, None)
    await handlers[PaymentReceived](None, payment(), context)

    (consumed,) = by_name(spans, "t1.payments.payment-received process")
    assert consumed.kind is SpanKind.CONSUMER
    assert consumed.context is not None and consumed.parent is not None
    assert consumed.context.trace_id == ctx.trace_id
    assert consumed.parent.span_id == ctx.span_id and consumed.parent.is_remote
    assert dict(consumed.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "t1.payments.payment-received",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 7,
        "messaging.consumer.group.name": "billing",
        "messaging.message.id": context.event_id,
        "cloudevents.event_id": context.event_id,
        "cloudevents.event_type": PaymentReceived.ce_type(),
        "cloudevents.event_source": PaymentReceived.ce_source(),
    }
    # The handler's own events carry the trace onward, as children of the consumer span.
    assert onward == [
        [
            [
                "ce_traceparent",
                f"00-{ctx.trace_id:032x}-{consumed.context.span_id:016x}-{ctx.trace_flags:02x}",
            ]
        ]
    ]


async def test_tracestate_travels_too(spans: InMemorySpanExporter) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = written(
        payment(), [["ce_traceparent", parent], ["ce_tracestate", "vendor=opaque,x=1"]]
    )
    context = received(headers)
    assert context.envelope.tracestate == "vendor=opaque,x=1"
    seen: list[list[list[str]]] = []

    async def handler(conn: Any, event: Any, context: EventContext) -> None:
        seen.append(tracing.outbox_headers())

    handlers, _ = tracing.traced_handlers("dunning", {PaymentReceived: handler}, None)
    await handlers[PaymentReceived](None, payment(), context)
    (onward,) = seen
    assert onward[0][1].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert onward[1] == ["ce_tracestate", "vendor=opaque,x=1"]


async def test_malformed_traceparent_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    context = received(written(payment(), [["ce_traceparent", "not-a-traceparent"]]))

    async def handler(conn: Any, event: Any, context: EventContext) -> None:
        pass

    handlers, _ = tracing.traced_handlers("billing", {PaymentReceived: handler}, None)
    await handlers[PaymentReceived](None, payment(), context)
    (consumed,) = spans.get_finished_spans()
    assert consumed.parent is None


async def test_batch_of_one_is_a_child_of_several_is_linked(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    parents = []
    for _ in range(2):
        with tracer.start_as_current_span("request") as span:
            parents.append((span.get_span_context(), tracing.outbox_headers()))

    async def batch(conn: Any, items: list[tuple[Any, EventContext]]) -> None:
        pass

    _, batches = tracing.traced_handlers("dunning", {}, {PaymentReceived: batch})
    handle = batches[PaymentReceived]
    one = received(written(payment(), parents[0][1]), offset=1)
    await handle(None, [(payment(), one)])
    two = received(written(payment("pay-2"), parents[1][1]), offset=2)
    await handle(None, [(payment(), one), (payment("pay-2"), two)])

    single, double = by_name(spans, "t1.payments.payment-received process")
    assert single.parent is not None and single.parent.span_id == parents[0][0].span_id
    assert single.context is not None and single.context.trace_id == parents[0][0].trace_id
    assert double.parent is None
    assert [link.context.span_id for link in double.links] == [p.span_id for p, _ in parents]
    assert (double.attributes or {})["messaging.batch.message_count"] == 2
    assert "messaging.message.id" not in (double.attributes or {})


async def test_a_failing_handler_marks_its_span_without_the_message(
    spans: InMemorySpanExporter,
) -> None:
    async def handler(conn: Any, event: Any, context: EventContext) -> None:
        raise ValueError("13812345678 is not reachable")

    handlers, _ = tracing.traced_handlers("notifier", {PaymentReceived: handler}, None)
    with pytest.raises(ValueError):
        await handlers[PaymentReceived](None, payment(), received(written(payment(), [])))
    (failed,) = spans.get_finished_spans()
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert failed.status.description == "ValueError"
    assert failed.events == ()  # no exception event: its message may hold personal data
    assert "13812345678" not in repr(failed.to_json())


def test_unconfigured_environment_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_enabled", None)
    assert tracing.configure("billing") is False
    monkeypatch.setattr(tracing, "_enabled", None)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.configure("billing") is False
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # the no-op API


def test_configured_provider_is_kept(spans: InMemorySpanExporter) -> None:
    provider = trace.get_tracer_provider()
    assert tracing.configure("payments") is True
    assert trace.get_tracer_provider() is provider


def test_urls_are_recorded_without_their_query(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span(
        "GET",
        attributes={
            "http.url": "https://dysmsapi.aliyuncs.com/?PhoneNumbers=13812345678&Sign=x",
            "http.target": "/parties?phone=13812345678",
            "url.query": "PhoneNumbers=13812345678",
        },
    ) as span:
        tracing._drop_query(span)
    (done,) = spans.get_finished_spans()
    assert dict(done.attributes or {}) == {
        "http.url": "https://dysmsapi.aliyuncs.com/",
        "http.target": "/parties",
        "url.query": "",
    }


async def test_a_request_span_keeps_the_route_not_the_path_query_or_peer(
    spans: InMemorySpanExporter,
) -> None:
    import httpx
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/qr/{token}")
    async def get_statement(token: str) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    tracing.instrument_app(app, "payments")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 50000)),
        base_url="http://payments",
    ) as client:
        assert (await client.get("/qr/SECRET-TOKEN", params={"phone": "13812345678"})).is_success
        assert (await client.get("/healthz")).is_success
    (span,) = spans.get_finished_spans()  # the probe is not traced
    assert span.name == "GET /qr/{token}" and span.kind is SpanKind.SERVER
    text = span.to_json()
    for secret in ("SECRET-TOKEN", "13812345678", "203.0.113.7"):
        assert secret not in text, text
    attributes = span.attributes or {}
    assert attributes.get("http.route") == "/qr/{token}"
    assert attributes.get("http.status_code", attributes.get("http.response.status_code")) == 200


@pytest.fixture
def echo_server() -> Any:
    """A real HTTP server answering the ``traceparent`` header it received."""
    from sandbox.server import ThreadServer

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        body = json.dumps({"traceparent": headers.get(b"traceparent", b"").decode()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    server = ThreadServer(app).start()
    yield server
    server.stop()


@pytest.mark.parametrize("library", ["httpx", "aiohttp"])
async def test_provider_calls_are_client_spans_that_send_traceparent(
    spans: InMemorySpanExporter, echo_server: Any, library: str
) -> None:
    assert tracing.configure("notifier") is True  # instruments httpx and aiohttp
    url = f"{echo_server.url}/v3/pay/transactions?phone=13812345678&access_token=SECRET"
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("send sms") as parent:
        if library == "httpx":
            import httpx

            async with httpx.AsyncClient() as client:
                received = (await client.get(url)).json()["traceparent"]
        else:
            import aiohttp

            async with aiohttp.ClientSession() as session, session.get(url) as response:
                received = (await response.json())["traceparent"]
    (call,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert call.context is not None
    assert received.split("-")[1:3] == [
        f"{call.context.trace_id:032x}",
        f"{call.context.span_id:016x}",
    ]
    text = call.to_json()
    assert "13812345678" not in text and "SECRET" not in text, text
