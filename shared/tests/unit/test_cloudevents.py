import uuid
from datetime import UTC, datetime

import pytest

from propfee.cloudevents import CloudEvent, EnvelopeError


def _event() -> CloudEvent:
    return CloudEvent.new(
        type="propfee.billing.InvoiceIssued.v1",
        source="/services/billing",
        subject="inv-1",
        data=b'{"a":1}',
        time=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    )


def test_binary_mode_headers() -> None:
    event = _event()
    headers = dict(event.kafka_headers())
    assert headers["ce_specversion"] == b"1.0"
    assert uuid.UUID(headers["ce_id"].decode())
    assert headers["ce_type"] == b"propfee.billing.InvoiceIssued.v1"
    assert headers["ce_source"] == b"/services/billing"
    assert headers["ce_time"] == b"2026-03-02T08:00:00Z"
    assert headers["ce_subject"] == b"inv-1"
    assert headers["content-type"] == b"application/json"


def test_round_trip() -> None:
    event = _event()
    assert CloudEvent.from_kafka(event.kafka_headers(), event.data) == event


@pytest.mark.parametrize(
    ("drop", "message"),
    [("ce_id", r"missing CloudEvents header\(s\): ce_id"), ("ce_type", "ce_type")],
)
def test_missing_headers_are_named(drop: str, message: str) -> None:
    headers = [(k, v) for k, v in _event().kafka_headers() if k != drop]
    with pytest.raises(EnvelopeError, match=message):
        CloudEvent.from_kafka(headers, b"{}")


def test_bad_values_are_refused() -> None:
    headers = [(k, b"not-a-uuid" if k == "ce_id" else v) for k, v in _event().kafka_headers()]
    with pytest.raises(EnvelopeError, match="not a UUID"):
        CloudEvent.from_kafka(headers, b"{}")
    with pytest.raises(EnvelopeError, match="no value"):
        CloudEvent.from_kafka(_event().kafka_headers(), None)
    with pytest.raises(ValueError):
        CloudEvent.new(type="t", source="s", subject=None, data=b"", time=datetime(2026, 1, 1))
