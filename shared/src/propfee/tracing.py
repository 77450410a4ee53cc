"""OpenTelemetry tracing: one home for the provider, the instrumentations and the propagation
of a trace through the outbox and Kafka.

**Configuration** (:func:`configure`, called once per process by ``create_service_app``) reads
the standard variables: ``OTEL_SERVICE_NAME`` (default: the service's name),
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; a comma-separated list),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over
HTTP/protobuf), ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_BSP_*``,
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SDK_DISABLED``. When no exporter and no endpoint is
configured, nothing is installed: the API's no-op tracer costs next to nothing (the local setup,
the tests), and a ``traceparent`` that arrives is still passed on unchanged. A tracer provider
set before (a test's in-memory exporter, ``opentelemetry-instrument``) is kept.

**Spans**: HTTP requests (SERVER, FastAPI instrumentation; the probes and ``/metrics`` are not
traced), outgoing HTTP of the gateway and provider clients (CLIENT; httpx and aiohttp
instrumentations, which inject ``traceparent``), and the handling of each consumed event
(CONSUMER, :func:`traced_handlers`).

**Propagation through Kafka** follows the CloudEvents distributed-tracing extension in binary
mode: the W3C ``traceparent`` (and ``tracestate``) of the context that writes an event to the
outbox is stored with its headers as ``ce_traceparent`` (``ce_tracestate``)
(:func:`outbox_headers`); the relay publishes the headers as stored, and the consumer starts
its span as a child of that context, so that what a handler writes carries the trace onward.

**Personal data** never goes into a span: outgoing URLs are recorded without their query string
(an SMS provider's signed GET may name the phone number, WeChat's the access token); a request's
span keeps its route template, not its path (``/qr/{token}``: a capability) nor query, and not
the client's address; no header or body is captured; the consumer's attributes are the event's
ids and Kafka position only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from propfee.logging import get_logger

if TYPE_CHECKING:
    from fastapi import FastAPI

    from propfee.consumer import BatchHandler, EventContext, Handler
    from propfee.events import Event

log = get_logger(__name__)

#: The CloudEvents distributed-tracing extension's attributes as Kafka headers (binary mode).
TRACEPARENT_HEADER = "ce_traceparent"
TRACESTATE_HEADER = "ce_tracestate"
#: Not traced: probes and the scrape, which would drown the traces that matter.
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"

_W3C = TraceContextTextMapPropagator()
SpanContext = trace.SpanContext
_lock = threading.Lock()
_enabled: bool | None = None  # None: not configured yet in this process


def configure(service_name: str) -> bool:
    """Install the tracer provider and the HTTP client instrumentations from the ``OTEL_*``
    environment, once per process; True when spans are recorded (then apps are instrumented by
    :func:`instrument_app`). Later calls (another app in the same process) change nothing."""
    global _enabled
    with _lock:
        if _enabled is not None:
            return _enabled
        _enabled = _install_provider(service_name)
        if _enabled:
            _instrument_clients()
        return _enabled


def _sdk_provider_set() -> bool:
    """A provider was set before (not the API's proxy or no-op one); the SDK is not imported
    to find out, so a process without tracing never loads it."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _install_provider(service_name: str) -> bool:
    if _sdk_provider_set():
        return True  # a test's in-memory exporter, or the opentelemetry-instrument wrapper
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = [
        n.strip().lower()
        for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if n.strip()
    ]
    if not names:  # the specification's default is otlp; here only when an endpoint is named
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        names = ["otlp"] if endpoint else []
    names = [n for n in names if n != "none"]
    if not names:
        return False

    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the default name.
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol != "http/protobuf":
                log.warning(
                    "only OTLP over http/protobuf is installed; using it", protocol=protocol
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER ignored", exporter=name)
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* settings
    trace.set_tracer_provider(provider)  # flushed and shut down at exit by the SDK
    log.info("tracing on", exporters=names)
    return True


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")


def _drop_query(span: trace.Span) -> None:
    """Record a span's URL without its query string (it may name a phone number or a token)."""
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, _without_query(value))
    if "url.query" in attributes:
        span.set_attribute("url.query", "")


#: A request's own path may hold a capability (an owner's QR statement token, /qr/{token}) and
#: its peer is a person's address: the server span keeps the route template, not the path, and
#: neither the client's address nor its port.
_PATH_ATTRIBUTES = ("http.target", "url.path")
_PEER_ATTRIBUTES = (
    "net.peer.ip",
    "net.peer.port",
    "client.address",
    "client.port",
    "http.client_ip",
)


def _route_of(app: FastAPI, scope: Mapping[str, Any]) -> str:
    """The template of the route the request matches ("" when none does)."""
    from starlette.routing import Match

    for route in app.router.routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return str(getattr(route, "path", ""))
    return ""


def _only_the_route(span: trace.Span, route: str) -> None:
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    for key in _PATH_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, route)
    for key in _URL_ATTRIBUTES[:2]:
        value = attributes.get(key)
        if isinstance(value, str):
            parts = urlsplit(value)
            span.set_attribute(key, f"{parts.scheme}://{parts.netloc}{route}")
    if "url.query" in attributes:
        span.set_attribute("url.query", "")
    for key in _PEER_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, "")


def _instrument_clients() -> None:
    """Outgoing HTTP (payments' gateway clients on httpx, notifier's providers on aiohttp):
    CLIENT spans, ``traceparent`` injected into the request."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    def request_hook(span: trace.Span, _request: Any) -> None:
        _drop_query(span)

    async def async_request_hook(span: trace.Span, _request: Any) -> None:
        _drop_query(span)

    HTTPXClientInstrumentor().instrument(
        request_hook=request_hook, async_request_hook=async_request_hook
    )
    AioHttpClientInstrumentor().instrument(url_filter=lambda url: str(url.with_query(None)))


def instrument_app(app: FastAPI, service_name: str) -> None:
    """Configure tracing for the process (:func:`configure`) and, when it is on, trace the
    app's requests as SERVER spans named by the route template."""
    if not configure(service_name):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def server_request_hook(span: trace.Span, scope: Mapping[str, Any]) -> None:
        if span.is_recording():
            _only_the_route(span, _route_of(app, scope))

    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=EXCLUDED_URLS,
        server_request_hook=server_request_hook,
        exclude_spans=["receive", "send"],
    )


# --- Kafka: the CloudEvents distributed-tracing extension -----------------------------------


def carrier() -> dict[str, str]:
    """The current span's W3C context (``traceparent``, ``tracestate`` when there is one), to
    keep with work done later (a queued message); empty when no span is active."""
    found: dict[str, str] = {}
    _W3C.inject(found)
    return found


def outbox_headers() -> list[list[str]]:
    """The current span's context as outbox header pairs (``ce_traceparent``, and
    ``ce_tracestate`` when there is one); none when no span is active."""
    found = carrier()
    headers = []
    if "traceparent" in found:
        headers.append([TRACEPARENT_HEADER, found["traceparent"]])
        if found.get("tracestate"):
            headers.append([TRACESTATE_HEADER, found["tracestate"]])
    return headers


def span_context_of(traceparent: str | None, tracestate: str | None) -> trace.SpanContext | None:
    """The remote span context a ``traceparent`` (and ``tracestate``) names; None when absent
    or malformed."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    found = trace.get_current_span(_W3C.extract(carrier)).get_span_context()
    return found if found.is_valid else None


@contextlib.contextmanager
def span_after(
    name: str,
    parents: Sequence[trace.SpanContext | None],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A current span for work done on behalf of ``parents`` (the contexts that asked for it):
    the child of the one context when all share it, else a new trace linked to each of them
    (a batch made of several requests' or events' work, as the messaging conventions say).

    A failure marks the span as an error by the exception's type only (its message may hold
    data that is not the trace's to keep)."""
    known = list({(p.trace_id, p.span_id): p for p in parents if p is not None}.values())
    if len(known) == 1:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(known[0]), otel_context.Context())
        links: list[Link] = []
    else:
        parent = otel_context.Context()  # a new root, not the caller's ambient span
        links = [Link(p) for p in known]
    # The tracer of the provider in force now (not one cached at import: tests set their own).
    with trace.get_tracer("propfee").start_as_current_span(
        name,
        context=parent,
        kind=kind,
        links=links,
        attributes=dict(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.set_attribute("error.type", type(exc).__qualname__)
            raise


def current_span_context() -> trace.SpanContext | None:
    """The active span's context (to hand work to a batch: :func:`span_after`); None if none."""
    found = trace.get_current_span().get_span_context()
    return found if found.is_valid else None


def _parent_of(context: EventContext) -> trace.SpanContext | None:
    return span_context_of(context.envelope.traceparent, context.envelope.tracestate)


def _attributes(group: str, context: EventContext) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": context.topic,
        "messaging.destination.partition.id": str(context.partition),
        "messaging.kafka.offset": context.offset,
        "messaging.consumer.group.name": group,
        "messaging.message.id": context.event_id,
        "cloudevents.event_id": context.event_id,
        "cloudevents.event_type": context.envelope.type,
        "cloudevents.event_source": context.envelope.source,
    }


def traced_handlers(
    group: str,
    handlers: Mapping[type[Event], Handler],
    batch_handlers: Mapping[type[Event], BatchHandler] | None,
) -> tuple[dict[type[Event], Handler], dict[type[Event], BatchHandler]]:
    """The consumer's handlers, each call inside a CONSUMER span ``"<topic> process"``: the
    child of the event's ``ce_traceparent`` (a batch of events of several traces: a new trace
    linked to each). Whatever the handler writes to the outbox carries the trace onward."""

    def one(handler: Handler) -> Handler:
        async def handle(conn: Any, event: Any, context: EventContext) -> None:
            with span_after(
                f"{context.topic} process",
                [_parent_of(context)],
                kind=SpanKind.CONSUMER,
                attributes=_attributes(group, context),
            ):
                await handler(conn, event, context)

        return handle

    def batch(handler: BatchHandler) -> BatchHandler:
        async def handle(conn: Any, items: list[tuple[Any, EventContext]]) -> None:
            first = items[0][1]
            attributes = _attributes(group, first)
            if len(items) > 1:
                for key in (
                    "messaging.message.id",
                    "cloudevents.event_id",
                    "messaging.kafka.offset",
                ):
                    del attributes[key]
                attributes["messaging.batch.message_count"] = len(items)
            with span_after(
                f"{first.topic} process",
                [_parent_of(c) for _, c in items],
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ):
                await handler(conn, items)

        return handle

    return (
        {e: one(h) for e, h in handlers.items()},
        {e: batch(h) for e, h in (batch_handlers or {}).items()},
    )
