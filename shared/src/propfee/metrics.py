"""Prometheus metrics shared by every service (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "propfee_outbox_published_total", "Events published by the outbox relay", ["topic"]
)
OUTBOX_PENDING = Gauge("propfee_outbox_pending", "Outbox rows not yet published")
RELAY_ERRORS = Counter("propfee_outbox_relay_errors_total", "Relay batches that failed")
EVENTS_CONSUMED = Counter(
    "propfee_events_consumed_total",
    "Events handled by consumers, by outcome (processed, duplicate, dead_lettered)",
    ["group", "topic", "outcome"],
)
HANDLER_RETRIES = Counter(
    "propfee_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["group", "topic"],
)
HANDLER_SECONDS = Histogram(
    "propfee_handler_seconds",
    "Time to handle one event, database commit included",
    ["group", "topic"],
)
READY = Gauge("propfee_ready", "1 when the service's database and Kafka are reachable")
