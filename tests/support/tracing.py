"""The SDK's in-memory exporter as this process's tracer provider, for one test at a time.

``spans`` (a pytest fixture, a plugin of the root conftest.py) installs a
``TracerProvider`` that keeps every finished span in memory, and afterwards puts the process
back as it was: no provider, the HTTP clients uninstrumented, ``propfee.tracing`` not
configured (so the next app built sees the environment again).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from propfee import tracing


def _reset_globals() -> None:
    # What OpenTelemetry's own tests do (opentelemetry.test.globals_test): the global provider
    # may otherwise be set once per process.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


def _uninstrument() -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    for instrumentor in (HTTPXClientInstrumentor(), AioHttpClientInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this test's code finishes (``spans.get_finished_spans()``)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_globals()
    trace.set_tracer_provider(provider)
    tracing._enabled = None
    try:
        yield exporter
    finally:
        provider.shutdown()
        _uninstrument()
        tracing._enabled = None
        _reset_globals()


def hex_id(value: int, width: int = 16) -> str:
    return format(value, f"0{width}x")


def describe(spans: list[ReadableSpan]) -> str:
    """The spans as a tree-ish listing, for assertion messages."""
    lines = []
    for span in spans:
        ctx = span.get_span_context()
        assert ctx is not None
        parent = hex_id(span.parent.span_id) if span.parent else "-"
        lines.append(
            f"{hex_id(ctx.trace_id, 32)} {hex_id(ctx.span_id)} <- {parent} "
            f"{span.kind.name} {span.name}"
        )
    return "\n".join(lines)
