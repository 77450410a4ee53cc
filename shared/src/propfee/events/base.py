"""The base of every event contract. Producers' events live in sibling modules."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Tier = Literal["green", "yellow", "red"]
PaymentChannel = Literal[
    "wechat_pay", "alipay", "unionpay", "bank_withholding", "cash", "bank_card", "pos"
]
NotificationChannel = Literal["sms", "wechat", "app_push", "email", "letter", "door_notice"]


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Event(BaseModel):
    """Base of every event. Subclasses set ``producer``; topic and type follow from the name."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    producer: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def topic(cls) -> str:
        return f"{cls.producer}.{_kebab(cls.__name__)}"

    @classmethod
    def ce_type(cls) -> str:
        return f"propfee.{cls.producer}.{cls.__name__}.v{cls.version}"

    @classmethod
    def ce_source(cls) -> str:
        return f"/services/{cls.producer}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
