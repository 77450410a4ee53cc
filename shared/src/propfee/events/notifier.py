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
    provider: str | None = Field(
        default=None, description="Who carried it: alibaba, tencent, wechat, smtp, post, ..."
    )
    requested_channel: str | None = Field(
        default=None, description="The channel asked for, when the party's preferences changed it"
    )


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
    fallback_channel: NotificationChannel | None = Field(
        default=None, description="The channel tried next, when final is false"
    )
    attempts: int | None = None


class StaffTaskRequested(Event):
    """notifier asks dunning for a task done by a person: a phone call or a visit that an
    escalation asked for, or fixing a party's contact data when no message could be sent."""

    producer: ClassVar[str] = "notifier"

    task_id: str
    kind: str = Field(
        description="phone_call | visit (asked by an escalation), fix_contact (no message "
        "could be sent), or another action channel dunning asked for"
    )
    community_id: str
    unit_id: str
    party_id: str
    subject_id: str = Field(description="The case, invoice or payment the task is about")
    stage: str | None = None
    reason: str
    notification_id: str | None = None
    requested_at: AwareDatetime


class PayLinkIssued(Event):
    """notifier gave a household a pay link (issue 19): a short signed token, one per household
    and occasion (the message it was written for), that expires and can be revoked. payments
    keeps it and resolves it to what the household owes on the day it is opened."""

    producer: ClassVar[str] = "notifier"

    token: str = Field(description="The few characters after the host: an id and its signature")
    community_id: str
    unit_id: str
    party_id: str
    occasion: str = Field(
        description="What it was written for: subject (invoice, case or payment id), message "
        "type and stage"
    )
    issued_at: AwareDatetime
    expires_at: AwareDatetime
