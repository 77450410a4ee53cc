"""What ``/readyz`` counts (``propfee.runtime``): the database always; Kafka only in a process
that runs the outbox relay or consumers (a worker, or the local single process doing both)."""

from __future__ import annotations

import pytest

from propfee.events import PaymentReceived
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings


async def _handle(*_: object) -> None:
    return None


def runtime(relay: bool, consumers: bool, *, handlers: bool = True) -> ServiceRuntime:
    settings = ServiceSettings(relay_enabled=relay, consumers_enabled=consumers)
    return ServiceRuntime(
        settings, package="x", handlers={PaymentReceived: _handle} if handlers else None
    )


@pytest.mark.parametrize(
    ("relay", "consumers", "handlers", "needs_kafka"),
    [
        (False, False, True, False),  # the Helm chart's api pods
        (True, True, True, True),  # a worker, or the local single process
        (True, False, True, True),  # relay only
        (False, True, True, True),  # consumers only
        (False, True, False, False),  # consumers on, but nothing to consume
    ],
)
def test_kafka_counts_for_workers_only(
    relay: bool, consumers: bool, handlers: bool, needs_kafka: bool
) -> None:
    rt = runtime(relay, consumers, handlers=handlers)
    assert rt.needs_kafka is needs_kafka
    down = {"database": "ok", "kafka": "KafkaConnectionError"}
    assert rt.is_ready(down) is not needs_kafka
    assert rt.is_ready({"database": "ok", "kafka": "ok"})


@pytest.mark.parametrize("relay", [True, False])
def test_no_database_or_still_starting_is_never_ready(relay: bool) -> None:
    rt = runtime(relay, relay)
    assert not rt.is_ready({"database": "ConnectionRefusedError", "kafka": "ok"})
    assert not rt.is_ready({"database": "ok", "kafka": "ok", "service": "starting"})
