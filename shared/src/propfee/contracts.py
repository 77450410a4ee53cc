"""Event contract artefacts generated from the pydantic models.

    python -m propfee.contracts write [DIR]   regenerate docs/events (JSON Schema + AsyncAPI)
    python -m propfee.contracts check [DIR]   exit 1 if the committed files are stale

One JSON Schema per event type and one AsyncAPI 3.0 document per service, listing the
channels it sends and receives, the CloudEvents binary-mode headers and the message key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from propfee.events import ALL_EVENTS, Event, json_schema
from propfee.topics import PUBLICATIONS, SUBSCRIPTIONS, dlq_topic

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "docs" / "events"

SERVICE_DESCRIPTIONS = {
    "billing": "Registry, fee schedules, invoices, late fees, allocation: what is owed.",
    "payments": "Payment orders, gateway webhooks, counter payments, refunds: what was paid.",
    "dunning": "Arrears cases, tiers, escalation, tasks, legal track: who is chased, how, when.",
    "notifier": "Channels, templates, preferences, quiet hours, delivery proof.",
}

CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode.",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Unique; the dedup key"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The aggregate id"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "CloudEvents distributed-tracing extension: the W3C traceparent of "
            "the span that wrote the event (absent when it was written outside a trace)",
        },
        "ce_tracestate": {
            "type": "string",
            "description": "CloudEvents distributed-tracing extension: the W3C tracestate, "
            "when there is one",
        },
    },
}


def schema_files() -> dict[str, str]:
    return {
        f"schemas/{e.ce_type()}.json": json.dumps(json_schema(e), indent=2, ensure_ascii=False)
        + "\n"
        for e in ALL_EVENTS
    }


def _message(event: Event | type[Event]) -> dict[str, Any]:
    assert isinstance(event, type)
    headers = json.loads(json.dumps(CE_HEADERS))
    headers["properties"]["ce_type"]["const"] = event.ce_type()
    headers["properties"]["ce_source"]["const"] = event.ce_source()
    return {
        "name": event.__name__,
        "title": event.__name__,
        "summary": (event.__doc__ or "").strip().splitlines()[0],
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": f"../schemas/{event.ce_type()}.json"},
        "bindings": {
            "kafka": {"key": {"type": "string", "description": "The unit id (household account)"}}
        },
    }


def asyncapi_document(service: str) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event in PUBLICATIONS[service]:
        channels[event.__name__] = {
            "address": event.topic(),
            "messages": {event.__name__: _message(event)},
        }
        operations[f"publish{event.__name__}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event.__name__}"},
            "summary": "Published through the transactional outbox (at least once).",
        }
    for event in SUBSCRIPTIONS[service]:
        channels.setdefault(
            event.__name__,
            {"address": event.topic(), "messages": {event.__name__: _message(event)}},
        )
        operations[f"consume{event.__name__}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{event.__name__}"},
            "summary": f"Consumer group '{service}'; inbox dedup by ce_id; failures go to "
            f"'{dlq_topic(event.topic(), service)}'.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Propfee {service}",
            "version": "1.0.0",
            "description": SERVICE_DESCRIPTIONS[service],
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make up"}
        },
        "channels": channels,
        "operations": operations,
    }


def asyncapi_files() -> dict[str, str]:
    return {
        f"asyncapi/{service}.yaml": yaml.safe_dump(
            asyncapi_document(service), sort_keys=False, allow_unicode=True, width=100
        )
        for service in SUBSCRIPTIONS
    }


def all_files() -> dict[str, str]:
    return {**schema_files(), **asyncapi_files()}


def stale_files(directory: Path) -> list[str]:
    """Files that are missing, different, or no longer generated."""
    expected = all_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    for sub in ("schemas", "asyncapi"):
        for path in (directory / sub).glob("*") if (directory / sub).is_dir() else []:
            if f"{sub}/{path.name}" not in expected:
                stale.append(f"{sub}/{path.name}")
    return sorted(stale)


def write(directory: Path) -> None:
    for sub in ("schemas", "asyncapi"):
        if (directory / sub).is_dir():
            for path in (directory / sub).glob("*"):
                path.unlink()
    for name, text in all_files().items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m propfee.contracts")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.directory)
        print(f"wrote {len(all_files())} files to {args.directory}")
        return
    stale = stale_files(args.directory)
    if stale:
        print("stale event contracts (run: make contracts):\n  " + "\n  ".join(stale))
        sys.exit(1)
    print("event contracts are up to date")


if __name__ == "__main__":
    main()
