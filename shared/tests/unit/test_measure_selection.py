"""A scrape asking for some series only (``/metrics?name[]=``) runs only the measurements that
set them: the demo's settle looks at the outbox many times a simulated day, and each look
used to ask the brokers for the consumer's end offsets and the dead-letter topics' offsets
and run the service's own gauge queries too."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from propfee import measure


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def recorder(name: str) -> Any:
        async def measured(*_: Any) -> None:
            calls.append(name)

        return measured

    monkeypatch.setattr(measure, "measure_outbox", recorder("outbox"))
    monkeypatch.setattr(measure, "measure_kafka", recorder("kafka"))
    monkeypatch.setattr(measure, "_service_gauges", recorder("service"))
    return calls


RUNTIME: Any = SimpleNamespace(pool=None, consumer=None)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((), {"outbox", "kafka", "service"}),
        (("propfee_outbox_pending",), {"outbox"}),
        (("propfee_outbox_pending", "propfee_outbox_oldest_age_seconds"), {"outbox"}),
        (("propfee_consumer_lag",), {"kafka"}),
        (("propfee_dlq_messages", "propfee_outbox_pending"), {"kafka", "outbox"}),
        (("propfee_dispatch_backlog",), {"service"}),
        (("propfee_http_requests_total",), {"service"}),  # not a measured gauge: harmless
    ],
)
async def test_only_the_measurements_of_the_names_asked_run(
    ran: list[str], names: tuple[str, ...], expected: set[str]
) -> None:
    await measure.measure_all(RUNTIME, names)
    assert set(ran) == expected
