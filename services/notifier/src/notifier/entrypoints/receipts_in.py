"""The providers' delivery-report formats, read into Receipt values.

- Alibaba Cloud SMS (SmsReport HTTP push): a JSON list of ``{"biz_id", "success",
  "err_code", "report_time"}`` (Beijing time ``YYYY-MM-DD HH:MM:SS``); Alibaba wants
  ``{"code": 0, "msg": "成功"}`` back, or it pushes again;
- Tencent Cloud SMS (status callback): a JSON list of ``{"sid", "report_status",
  "errmsg", "user_receive_time"}``; Tencent wants ``{"result": 0, "errmsg": "OK"}``;
- the owner app's push gateway: ``{"push_id", "status", "reported_at"}`` (ours: answered with
  the counts ``{"received", "applied"}``).

Items without the provider's message id are skipped; the rest is kept as the receipt's
evidence (``delivery_receipts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.service_layer.receipts import Receipt

CHINA = ZoneInfo("Asia/Shanghai")


def _local(text: str | None) -> datetime | None:
    """Providers report local Beijing time as 'YYYY-MM-DD HH:MM:SS'."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)


def alibaba(items: list[dict[str, Any]]) -> list[Receipt]:
    return [
        Receipt(
            "alibaba",
            str(i["biz_id"]),
            bool(i.get("success")),
            "DELIVERED" if i.get("success") else str(i.get("err_code") or "FAILED"),
            _local(i.get("report_time")),
            i,
        )
        for i in items
        if i.get("biz_id")
    ]


def tencent(items: list[dict[str, Any]]) -> list[Receipt]:
    return [
        Receipt(
            "tencent",
            str(i["sid"]),
            i.get("report_status") == "SUCCESS",
            "DELIVERED"
            if i.get("report_status") == "SUCCESS"
            else str(i.get("errmsg") or "FAILED"),
            _local(i.get("user_receive_time")),
            i,
        )
        for i in items
        if i.get("sid")
    ]


#: The push gateway's statuses that mean the message reached the device.
APP_PUSH_DELIVERED = frozenset({"delivered", "arrived", "received"})


def app_push(items: list[dict[str, Any]]) -> list[Receipt]:
    """The owner app's push gateway receipts: ``{"push_id", "status", "reported_at"}`` (an
    ISO instant with its offset), ``status`` "delivered" (or "arrived") when the device got it."""
    found = []
    for i in items:
        if not i.get("push_id"):
            continue
        status = str(i.get("status") or "").strip().lower() or "unknown"
        reported = i.get("reported_at")
        at = None
        if isinstance(reported, str) and reported:
            at = datetime.fromisoformat(reported)
            at = at if at.tzinfo else at.replace(tzinfo=CHINA)
        found.append(Receipt("app_push", str(i["push_id"]), status in APP_PUSH_DELIVERED,
                             status, at, i))  # fmt: skip
    return found
