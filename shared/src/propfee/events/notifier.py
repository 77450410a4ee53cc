"""Events notifier publishes."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from propfee.events.base import Event, NotificationChannel


class NotificationDelivered(Event):
    """notifier has proof that a message reached the person."""

    producer: ClassVar[str] = "notifier"

    notification_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: NotificationChannel
    message_type: str
    subject_id: str = Field(description="What the message was about: invoice, case or payment id")
    stage: str | None = None
    delivered_at: AwareDatetime
    proof: dict[str, str] = Field(default_factory=dict)


class NotificationFailed(Event):
    """notifier gave up on a message on one channel."""

    producer: ClassVar[str] = "notifier"

    notification_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: NotificationChannel
    message_type: str
    subject_id: str
    stage: str | None = None
    reason: str
    final: bool = Field(description="True when no channel is left to fall back to")
    failed_at: AwareDatetime
