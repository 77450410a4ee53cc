"""CloudEvents 1.0 over Kafka, binary content mode.

The Kafka value is the JSON ``data``; the attributes travel as headers ``ce_specversion``,
``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``, ``ce_subject`` and ``content-type``, and the
distributed-tracing extension's ``ce_traceparent`` / ``ce_tracestate`` when the event was
written inside a trace (``propfee.tracing``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_type", "ce_source")


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid binary-mode CloudEvent."""


def format_time(instant: datetime) -> str:
    """RFC 3339 in UTC with a trailing Z, microseconds kept when present."""
    if instant.tzinfo is None:
        raise ValueError("CloudEvent times must be timezone-aware")
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise EnvelopeError(f"ce_time has no offset: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The attributes of one event plus its raw JSON data."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime
    data: bytes
    datacontenttype: str = CONTENT_TYPE
    #: The distributed-tracing extension: the W3C context of the span that wrote the event.
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def new(
        cls,
        *,
        type: str,
        source: str,
        subject: str | None,
        data: bytes,
        time: datetime,
        id: str | None = None,
    ) -> CloudEvent:
        if time.tzinfo is None:
            raise ValueError("CloudEvent times must be timezone-aware")
        return cls(
            id=id or str(uuid.uuid4()),
            type=type,
            source=source,
            subject=subject,
            time=time,
            data=data,
        )

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", format_time(self.time).encode()),
        ]
        if self.subject is not None:
            headers.append(("ce_subject", self.subject.encode()))
        headers.append(("content-type", self.datacontenttype.encode()))
        if self.traceparent:
            headers.append(("ce_traceparent", self.traceparent.encode()))
            if self.tracestate:
                headers.append(("ce_tracestate", self.tracestate.encode()))
        return headers

    @classmethod
    def from_kafka(
        cls, headers: Sequence[tuple[str, bytes]] | Iterable[tuple[str, bytes]], value: bytes | None
    ) -> CloudEvent:
        """Read a record; raise :class:`EnvelopeError` naming what is wrong."""
        found: dict[str, str] = {}
        for key, raw in headers or ():
            try:
                found[key] = raw.decode("utf-8") if raw is not None else ""
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"header {key} is not UTF-8") from exc
        missing = [h for h in REQUIRED_HEADERS if not found.get(h)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if found["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported ce_specversion {found['ce_specversion']!r}")
        try:
            uuid.UUID(found["ce_id"])
        except ValueError as exc:
            raise EnvelopeError(f"ce_id is not a UUID: {found['ce_id']!r}") from exc
        content_type = found.get("content-type", CONTENT_TYPE)
        if content_type.split(";")[0].strip() != CONTENT_TYPE:
            raise EnvelopeError(f"unsupported content-type {content_type!r}")
        if value is None:
            raise EnvelopeError("record has no value (data)")
        time_text = found.get("ce_time")
        try:
            time = parse_time(time_text) if time_text else datetime.now(UTC)
        except ValueError as exc:
            raise EnvelopeError(f"ce_time is not RFC 3339: {time_text!r}") from exc
        return cls(
            id=found["ce_id"],
            type=found["ce_type"],
            source=found["ce_source"],
            subject=found.get("ce_subject"),
            time=time,
            data=value,
            datacontenttype=content_type,
            traceparent=found.get("ce_traceparent") or None,
            tracestate=found.get("ce_tracestate") or None,
        )
