"""The event contracts: pydantic models are the source of the JSON Schemas and AsyncAPI.

Each event class knows its topic (``<producer>.<event-in-kebab-case>``) and its CloudEvents
type (``propfee.<producer>.<Name>.v1``). Within a ``.v1`` type, change only by adding
optional fields. Money is integer fen with ``currency``; business dates are local dates of
the community's time zone; instants are RFC 3339.

One module per producer (``billing``, ``payments``, ``dunning``, ``notifier``); every event
class defined there is registered here automatically.
"""

from __future__ import annotations

from typing import Any

from propfee.events import billing, dunning, notifier, payments
from propfee.events.base import Event, NotificationChannel, PaymentChannel, Tier
from propfee.events.billing import *  # noqa: F403
from propfee.events.dunning import *  # noqa: F403
from propfee.events.notifier import *  # noqa: F403
from propfee.events.payments import *  # noqa: F403


def _events_of(module: object) -> list[type[Event]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Event)
        and value is not Event
        and value.__module__ == getattr(module, "__name__", None)
    ]


ALL_EVENTS: tuple[type[Event], ...] = tuple(
    event for module in (billing, payments, dunning, notifier) for event in _events_of(module)
)
EVENTS_BY_TYPE: dict[str, type[Event]] = {e.ce_type(): e for e in ALL_EVENTS}


def json_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")
    schema["$id"] = f"https://propfee.dev/schemas/{event.ce_type()}.json"
    schema["x-topic"] = event.topic()
    schema["x-ce-type"] = event.ce_type()
    return schema


__all__ = [
    "ALL_EVENTS",
    "EVENTS_BY_TYPE",
    "Event",
    "NotificationChannel",
    "PaymentChannel",
    "Tier",
    "json_schema",
    *(e.__name__ for e in ALL_EVENTS),
]
