"""App push through a configurable webhook (the owner app's push gateway).

The JSON body is signed: ``X-Propfee-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` and
``X-Propfee-Timestamp``; the gateway answers 2xx with ``{"push_id": ...}``. Accepted is not
delivered: the message is sent until the gateway's delivery receipt, posted (signed the same
way) to ``POST /receipts/app_push``, says it reached the device.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp

from notifier.adapters.base import HTTP_ERRORS, Outbound, SendResult, call, http_failure


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class AppPushWebhook:
    provider = "app_push"
    #: The gateway keeps ``Idempotency-Key`` (the notification id): sent again after a lost
    #: claim, it answers the first push_id and pushes nothing (service_layer/recovery.py).
    idempotent = True

    def __init__(self, session: aiohttp.ClientSession, *, url: str, secret: str) -> None:
        self._session = session
        self._url = url
        self._secret = secret

    async def send(self, message: Outbound) -> SendResult:
        if not self._url:
            return SendResult("failed", self.provider, error="no push webhook configured")
        body = json.dumps(
            {
                "notification_id": message.notification_id,
                "app_user_id": message.address,
                "title": message.subject,
                "body": message.body,
                "link": message.context.get("pay_link"),
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Propfee-Timestamp": timestamp,
            "X-Propfee-Signature": signature(self._secret, timestamp, body),
            "Idempotency-Key": message.notification_id,
        }
        try:
            response = await call(self._session, "POST", self._url, content=body, headers=headers)
        except HTTP_ERRORS as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        if not response.is_success:
            return http_failure(self.provider, response.status, response.text)
        push_id = str(response.json().get("push_id", ""))
        return SendResult("sent", self.provider, push_id or None, {"push_id": push_id})
