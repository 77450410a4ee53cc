"""The JSON notifier answers: one model per answer, each with an example (the generated
TypeScript client and the conformance fuzz read these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A message's state (``notifications.status``, migrations 0009 and 0011): ``sending`` is
#: claimed by a dispatcher and at the provider; ``unknown``, its dispatcher died before the
#: provider's answer was recorded and the provider cannot say (staff review it).
NotificationStatus = Literal[
    "queued",
    "awaiting_contacts",
    "sending",
    "sent",
    "printing",
    "posted",
    "delivered",
    "failed",
    "suppressed",
    "skipped",
    "cancelled",
    "unknown",
]

_AT = "2026-12-03T09:30:00+08:00"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Notification(BaseModel):
    """A message with the exact text sent and its proof. ``body``, ``subject_line`` and the
    proof's contact data are masked for roles that do not see contacts."""

    model_config = _examples(
        {
            "notification_id": "ntf-5f0c2b1e",
            "community_id": "comm-1",
            "unit_id": "unit-0101",
            "party_id": "p-1",
            "channel": "sms",
            "requested_channel": "sms",
            "message_type": "reminder",
            "subject_id": "case-1",
            "stage": "first_reminder",
            "body": "【物业服务】1栋1单元101欠费275.80元，12月31日前缴 pf.cn/p/aB3xK9q2Z",
            "subject_line": None,
            "status": "delivered",
            "status_reason": None,
            "attempts": 1,
            "tried_channels": ["sms"],
            "fallback_of": None,
            "template_id": "reminder.sms",
            "template_version": 0,
            "provider": "alibaba",
            "provider_message_id": "900619746936498440^0",
            "proof": {"status": "DELIVERED"},
            "requested_at": _AT,
            "next_attempt_at": None,
            "sent_at": _AT,
            "delivered_at": _AT,
            "failed_at": None,
            "batch_id": None,
            "tracking_number": None,
            "created_at": _AT,
        }
    )

    notification_id: str
    community_id: str
    unit_id: str
    party_id: str
    channel: str
    requested_channel: str | None = None
    message_type: str
    subject_id: str
    stage: str | None = None
    body: str | None = None
    subject_line: str | None = None
    status: NotificationStatus
    status_reason: str | None = None
    attempts: int
    tried_channels: list[str]
    fallback_of: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    proof: dict[str, Any] | None = None
    requested_at: datetime | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    batch_id: str | None = None
    tracking_number: str | None = None
    created_at: datetime


class DispatchReport(BaseModel):
    """One dispatch pass: the instant it decided at and what became of the claimed messages."""

    model_config = _examples(
        {"as_of": _AT, "claimed": 3, "sent": 2, "printing": 1, "sms_segments": 2}
    )

    as_of: datetime
    claimed: int = 0
    sent: int = 0
    delivered: int = 0
    printing: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    cancelled: int = 0
    suppressed: int = 0
    awaiting_contacts: int = 0
    recovered: int = Field(
        default=0,
        description="Lost claims found at their provider and recorded as sent (counted in sent)",
    )
    requeued: int = Field(default=0, description="Lost claims queued again (provider idempotent)")
    unknown: int = Field(default=0, description="Lost claims whose outcome staff must review")
    unrecorded: int = Field(
        default=0,
        description="Sent, but the outcome was refused by the database (a provider id already "
        "recorded for another message): left 'sending' for recovery to ask the provider",
    )
    sms_segments: int = Field(default=0, description="SMS segments billed by this pass")


class AlibabaAck(BaseModel):
    """The answer Alibaba Cloud's SmsReport push expects (``code`` 0: received, do not
    push again)."""

    model_config = _examples({"code": 0, "msg": "成功"})

    code: int
    msg: str


class TencentAck(BaseModel):
    """The answer Tencent Cloud's status callback expects (``result`` 0: received)."""

    model_config = _examples({"result": 0, "errmsg": "OK"})

    result: int
    errmsg: str


class AppPushReceiptsAck(BaseModel):
    """Receipts read from the push gateway's call and how many messages they changed."""

    model_config = _examples({"received": 2, "applied": 2})

    received: int
    applied: int


class ManualReceiptRecorded(BaseModel):
    model_config = _examples(
        {"applied": 1, "notification_id": "ntf-5f0c2b1e", "status": "delivered"}
    )

    applied: int = Field(description="Messages the receipt changed (0: it changed nothing)")
    notification_id: str
    status: NotificationStatus


class Preferences(BaseModel):
    """What the person asked for, as recorded by staff."""

    model_config = _examples(
        {
            "party_id": "p-1",
            "allowed_channels": ["sms", "letter"],
            "preferred_channels": ["sms"],
            "do_not_contact": False,
            "note": "asked by phone",
            "set_by": "客服 王",
        }
    )

    party_id: str
    allowed_channels: list[str] | None = None
    preferred_channels: list[str] | None = None
    do_not_contact: bool | None = None
    note: str | None = None
    set_by: str


class TemplateSaved(BaseModel):
    model_config = _examples(
        {
            "template_version_id": "tv-2b7e",
            "template_id": "reminder.first_reminder.sms.zh-CN",
            "version": 2,
            "company_id": "co-1",
            "status": "draft",
            "warnings": [],
        }
    )

    template_version_id: str
    template_id: str
    version: int
    company_id: str
    status: Literal["draft"]
    warnings: list[str] = Field(description="Saved, but worth knowing (an SMS of 2 segments)")


class TemplatePreview(BaseModel):
    """A template as an owner would read it on its channel, rendered with sample values."""

    model_config = _examples(
        {
            "channel": "sms",
            "subject": "示例物业服务有限公司：缴费提醒",
            "body": "【物业】12栋3单元2801欠费12345.67元，12月31日前缴 pf.cn/p/aB3xK9q2Z "
            "询075512345678",
            "sms_segments": 1,
            "sample": {"room": "12栋3单元2801", "amount": "12345.67"},
            "problems": [],
            "warnings": [],
        }
    )

    channel: str
    subject: str | None = Field(description="Null when the template cannot be rendered")
    body: str | None = Field(description="Null when the template cannot be rendered")
    sms_segments: int | None = Field(description="An SMS's segments with its sign")
    sample: dict[str, str | int | bool] = Field(description="The sample values used")
    problems: list[str] = Field(description="Why saving or approving it would be refused")
    warnings: list[str]


class TemplateApproved(BaseModel):
    model_config = _examples(
        {
            "template_version_id": "tv-2b7e",
            "company_id": "co-1",
            "template_id": "reminder.first_reminder.sms.zh-CN",
            "version": 2,
            "status": "approved",
            "author": "admin-1",
            "approved_by": "admin-2",
            "approved_at": _AT,
        }
    )

    template_version_id: str
    company_id: str
    template_id: str
    version: int
    status: Literal["approved"]
    author: str | None = None
    approved_by: str
    approved_at: datetime


class TemplateVersion(BaseModel):
    """A saved version of a company's template (its wording, no personal data)."""

    model_config = _examples(
        {
            "template_version_id": "tv-2b7e",
            "company_id": "co-1",
            "template_id": "reminder.first_reminder.sms.zh-CN",
            "version": 2,
            "status": "approved",
            "message_type": "reminder",
            "stage": "first_reminder",
            "channel": "sms",
            "locale": "zh-CN",
            "subject": None,
            "body": "{{ room }}欠费{{ amount }}元，{{ deadline }}前缴 {{ pay_link }} "
            "询{{ contact }}",
            "provider_codes": {"alibaba": "SMS_1234"},
            "created_by": "王经理",
            "author": "admin-1",
            "created_at": _AT,
            "approved_by": "admin-2",
            "approved_at": _AT,
        }
    )

    template_version_id: str
    company_id: str | None = None
    template_id: str
    version: int
    status: Literal["draft", "approved"]
    message_type: str
    stage: str | None = None
    channel: str
    locale: str
    subject: str | None = None
    body: str
    provider_codes: dict[str, str]
    created_by: str | None = None
    author: str | None = None
    created_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None


class LetterBatch(BaseModel):
    """A print batch (``batch_id`` null and no letters when nothing was due)."""

    model_config = _examples(
        {
            "batch_id": "batch-81c2",
            "letters": 2,
            "notification_ids": ["ntf-1", "ntf-2"],
            "community_ids": ["comm-1"],
            "by_channel": {"letter": ["ntf-1"], "door_notice": ["ntf-2"]},
        }
    )

    batch_id: str | None
    letters: int
    notification_ids: list[str]
    community_ids: list[str]
    by_channel: dict[str, list[str]]


class LetterStatus(BaseModel):
    """A letter's state after a tracking number or a delivery was recorded."""

    model_config = _examples({"notification_id": "ntf-1", "status": "posted"})

    notification_id: str
    status: Literal["posted", "delivered", "unchanged"]


class Party(BaseModel):
    """What notifier knows of a party (contacts masked for roles that do not see them)."""

    model_config = _examples(
        {
            "party_id": "p-1",
            "community_id": "comm-1",
            "kind": "owner",
            "name": "张三",
            "phone": "13800138000",
            "email": None,
            "wechat_openid": None,
            "app_user_id": None,
            "postal_address": "1栋1单元101",
            "reachable_channels": ["sms", "letter", "door_notice"],
            "allowed_channels": None,
            "preferred_channels": ["sms"],
            "do_not_contact": False,
            "locale": "zh-CN",
            "updated_at": _AT,
        }
    )

    party_id: str
    community_id: str
    kind: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    app_user_id: str | None = None
    postal_address: str | None = None
    reachable_channels: list[str]
    allowed_channels: list[str] | None = None
    preferred_channels: list[str] | None = None
    do_not_contact: bool | None = None
    locale: str | None = None
    updated_at: datetime | None = None


class ContactRules(BaseModel):
    """The quiet hours and reminder cap in force for a community: its own (``source``
    community) or the service's settings."""

    model_config = _examples(
        {
            "community_id": "comm-1",
            "quiet_start": "21:30",
            "quiet_end": "07:30",
            "reminder_cap": 4,
            "cap_window_days": 30,
            "source": "community",
            "set_by": "经理 李",
            "updated_at": _AT,
        }
    )

    community_id: str
    quiet_start: str = Field(description="HH:MM, the community's local time")
    quiet_end: str
    reminder_cap: int
    cap_window_days: int
    source: Literal["settings", "community"]
    set_by: str | None = None
    updated_at: datetime | None = None
