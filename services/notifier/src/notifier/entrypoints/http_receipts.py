"""Delivery receipts: the SMS providers' and the push gateway's callbacks, and receipts
recorded by staff. WeChat's pushes are in ``http_wechat_push``.

The callbacks are not staff endpoints: open, authenticated by the callback token in their URL
(Alibaba, Tencent) or their signature (the push gateway). Each answers what its provider
expects, so the provider stops retrying the push:

- Alibaba Cloud SMS (SmsReport HTTP push): ``{"code": 0, "msg": "成功"}``;
- Tencent Cloud SMS (status callback): ``{"result": 0, "errmsg": "OK"}``;
- the push gateway: ``{"received", "applied"}`` (our own gateway reads the counts).

Not configured: 404 (the endpoint is off); a wrong token or signature: 401; nothing is stored
either way.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request

from notifier.adapters.app_push import signature as app_push_signature
from notifier.entrypoints import receipts_in
from notifier.entrypoints.models import (
    AlibabaAck,
    AppPushReceiptsAck,
    ManualReceiptRecorded,
    TencentAck,
)
from notifier.entrypoints.security import LetterClerk
from notifier.errors import CallbackOff, CallbackRefused, NotReceipts
from notifier.service_layer import messages
from notifier.settings import NotifierSettings
from propfee.auth import open_route
from propfee.http import Pool
from propfee.problems import TooLarge, problem_responses

router = APIRouter(tags=["receipts"])
MAX_BODY = 256 * 1024


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.runtime.settings
    return settings


def _callback_token(settings: NotifierSettings, token: str) -> None:
    """Alibaba's and Tencent's status pushes carry no signature: the callback URL configured
    at the provider carries ``?token=<NOTIFIER_RECEIPT_CALLBACK_TOKEN>``. Not configured: 404
    (the endpoint is off); a wrong token: 401; nothing is stored either way."""
    expected = settings.receipt_callback_token.get_secret_value()
    if not expected:
        raise CallbackOff("delivery report callbacks are not configured")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise CallbackRefused("bad callback token")


CallbackToken = Annotated[
    str,
    Query(
        max_length=256,
        description="The shared secret of the callback URL (NOTIFIER_RECEIPT_CALLBACK_TOKEN)",
    ),
]
#: A provider's report items, as the provider sends them (read by ``receipts_in``).
Reports = Annotated[list[dict[str, Any]], Body(max_length=10_000)]
CALLBACK_ERRORS = problem_responses(
    401, 404, **{"401": "Bad callback token", "404": "Callbacks not configured"}
)


@router.post("/receipts/alibaba", openapi_extra=open_route("signature"), responses=CALLBACK_ERRORS)
async def receive_alibaba_reports(
    request: Request, pool: Pool, body: Reports, token: CallbackToken = ""
) -> AlibabaAck:
    """Alibaba Cloud SMS delivery reports (SmsReport HTTP push: ``biz_id``, ``success``,
    ``err_code``, ``report_time``); authenticated by the callback URL's ``token``. Answered
    as Alibaba expects: ``{"code": 0, "msg": "成功"}``."""
    settings = _settings(request)
    _callback_token(settings, token)
    await messages.store_and_apply(pool, receipts_in.alibaba(body), settings)
    return AlibabaAck(code=0, msg="成功")


@router.post("/receipts/tencent", openapi_extra=open_route("signature"), responses=CALLBACK_ERRORS)
async def receive_tencent_reports(
    request: Request, pool: Pool, body: Reports, token: CallbackToken = ""
) -> TencentAck:
    """Tencent Cloud SMS status callbacks (delivery reports: ``sid``, ``report_status``,
    ``errmsg``, ``user_receive_time``); authenticated by the callback URL's ``token``.
    Answered as Tencent expects: ``{"result": 0, "errmsg": "OK"}``."""
    settings = _settings(request)
    _callback_token(settings, token)
    await messages.store_and_apply(pool, receipts_in.tencent(body), settings)
    return TencentAck(result=0, errmsg="OK")


@router.post(
    "/receipts/app_push",
    openapi_extra={
        **open_route("signature"),
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "description": "A receipt or a list of receipts",
                        "oneOf": [
                            {"type": "array", "items": {"type": "object"}},
                            {"type": "object"},
                        ],
                    }
                }
            }
        },
    },
    responses=problem_responses(
        400, 401, 404, 413, **{"401": "Bad or stale signature", "404": "Not configured"}
    ),
)
async def receive_app_push_receipts(
    request: Request,
    pool: Pool,
    x_propfee_signature: Annotated[str, Header(max_length=200)] = "",
    x_propfee_timestamp: Annotated[str, Header(max_length=20)] = "",
) -> AppPushReceiptsAck:
    """The owner app's push gateway: delivery receipts (a JSON list, or one object, of
    ``{"push_id", "status", "reported_at"}``), signed as notifier signs its pushes
    (``X-Propfee-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``, the
    timestamp within ``NOTIFIER_WECHAT_PUSH_MAX_AGE_S`` of now). Only a receipt makes an app
    push delivered; the gateway accepting it made it sent. No secret configured: 404; a bad or
    stale signature: 401, nothing stored; a signed body that is not receipts: 400."""
    settings = _settings(request)
    secret = settings.push_webhook_secret.get_secret_value()
    if not secret:
        raise CallbackOff("app push receipts are not configured")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLarge("receipts too large")
    stamp = x_propfee_timestamp
    if not (stamp.isascii() and stamp.isdigit()):
        raise CallbackRefused("bad timestamp")
    if abs(time.time() - int(stamp)) > settings.wechat_push_max_age_s:
        raise CallbackRefused("stale timestamp")
    expected = app_push_signature(secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), x_propfee_signature.encode()):
        raise CallbackRefused("bad signature")
    try:
        parsed = json.loads(body)
        items = parsed if isinstance(parsed, list) else [parsed]
        found = receipts_in.app_push([i for i in items if isinstance(i, dict)])
    except (ValueError, TypeError) as exc:
        raise NotReceipts(f"not receipts: {exc}") from exc
    applied = await messages.store_and_apply(pool, found, settings)
    return AppPushReceiptsAck(received=len(found), applied=applied)


@router.post("/receipts", responses=problem_responses(404))
async def record_manual_receipt(
    request: Request, pool: Pool, body: messages.ManualReceipt, principal: LetterClerk
) -> ManualReceiptRecorded:
    """A receipt recorded by staff for a message of theirs (provider and its message id):
    404 for a message they may not see or that does not exist. ``reported_at`` (the delivery
    time, default now) may be back-dated within the company's window, never forward-dated
    (403); the receipt keeps when it was recorded too. Audited."""
    answer = await messages.record_manual_receipt(pool, principal, body, _settings(request))
    return ManualReceiptRecorded(**answer)
