"""Gateway webhooks: verify on the exact bytes received, record once, answer what stops retries.

These answer what each gateway expects, never problem details (documented per route):

- WeChat Pay (API v3): 204 when handled; otherwise ``{"code": "FAIL", "message": "..."}``
  with a 4xx (not authentic or malformed: 400, 401; not configured: 404) or 503 (cannot
  record now: retried).
- Alipay: exactly ``success`` (text/plain) when handled; otherwise ``fail`` with 400, 404
  or 503.
- UnionPay: 200 (``ok``) when handled; otherwise ``fail`` with 400, 404 or 503 (UnionPay
  reads only the HTTP status).

A notification that fails verification changes nothing and is logged with the reason only.
An authentic one is acknowledged even when its money goes to finance review (an exception):
retrying would not change the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from payments.adapters import alipay_notify, unionpay_notify
from payments.adapters.gateways import get_gateways
from payments.adapters.wechatpay_notify import read_notification
from payments.adapters.wechatpay_resources import refund_report, transaction_report
from payments.service_layer.notifications import Outcome, Reports, record_notification
from payments.service_layer.recorder import PaymentRecorder
from propfee.auth import open_route
from propfee.http import get_runtime
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])


class WechatPayFailure(BaseModel):
    """WeChat Pay's refusal body: it retries any answer that is not a success."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "FAIL", "message": "verification failed"}]}
    )

    code: str
    message: str


def _wechat(description: str) -> dict[str, Any]:
    return {"description": description, "model": WechatPayFailure}


def _text(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"text/plain": {"schema": {"type": "string"}, "example": example}},
    }


_WECHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "Handled: WeChat Pay stops retrying."},
    400: _wechat("Malformed (the resource cannot be recorded)."),
    401: _wechat("Not authentic (signature, certificate, timestamp, decryption)."),
    404: _wechat("WeChat Pay is not configured in this deployment."),
    503: _wechat("Payments cannot record now (starting, database away): retried."),
}


def _plain_responses(gateway: str, success: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: _text(f"Handled: {gateway} stops retrying.", success),
        400: _text("Not authentic, or malformed.", "fail"),
        404: _text(f"{gateway} is not configured in this deployment.", "fail"),
        503: _text("Payments cannot record now (starting, database away): retried.", "fail"),
    }


def _pool(request: Request) -> Any:
    """The database pool once the service has started (None before: 503, retried)."""
    runtime = get_runtime(request)
    return runtime.pool if runtime.started.is_set() else None


def _recorder(request: Request) -> PaymentRecorder:
    """Payments reported by webhooks are recorded in groups (one transaction per group)."""
    recorder: PaymentRecorder = request.app.state.payment_recorder
    return recorder


def _wechat_fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


def _fail(status: int) -> PlainTextResponse:
    """Alipay's and UnionPay's refusal: anything but their success answer makes them retry;
    Alipay's docs name ``fail``, UnionPay's only the HTTP status (not 200)."""
    return PlainTextResponse("fail", status_code=status)


#: What a recording outcome answers: refused and malformed are the notification's fault (400,
#: never 5xx); unavailable is 503 so that the gateway retries.
_STATUS: dict[Outcome, int] = {"refused": 400, "malformed": 400, "unavailable": 503}


@router.post(
    "/webhooks/wechatpay",
    status_code=204,
    response_class=Response,
    openapi_extra=open_route("signature"),
    responses=_WECHAT_RESPONSES,
)
async def receive_wechatpay_notification(request: Request) -> Response:
    """WeChat Pay API v3 notification: 204 when handled, 4xx ``{"code": "FAIL"}`` for anything
    not authentic or malformed (5xx only when payments cannot record now: retried)."""
    body = await request.body()
    now = datetime.now(UTC)
    keys = get_gateways(request).wechatpay
    pool = _pool(request)
    if keys is None:
        # Nothing here to notify (404): a gateway retries any answer that is not a success.
        return _wechat_fail(404, "WeChat Pay is not configured")
    if pool is None:
        return _wechat_fail(503, "service is starting")
    try:
        notification = read_notification(keys, request.headers, body, now)
    except Exception as exc:  # VerificationError, or anything a hostile input provokes
        log.warning("wechatpay notification rejected", reason=str(exc)[:120])
        return _wechat_fail(401, "verification failed")

    def read() -> Reports:
        if notification.event_type == "TRANSACTION.SUCCESS":
            return transaction_report(notification.resource), None
        if notification.event_type.startswith("REFUND."):
            return None, refund_report(notification.resource, now)
        log.info("wechatpay notification ignored", event_type=notification.event_type[:64])
        return None, None

    outcome = await record_notification(pool, _recorder(request), "wechatpay", read, now)
    if outcome == "unavailable":
        return _wechat_fail(503, "cannot record now")
    if outcome != "recorded":
        return _wechat_fail(400, "malformed resource")
    return Response(status_code=204)


@router.post(
    "/webhooks/alipay",
    response_class=PlainTextResponse,
    openapi_extra=open_route("signature"),
    responses=_plain_responses("Alipay", "success"),
)
async def receive_alipay_notification(request: Request) -> PlainTextResponse:
    """Alipay notification: exactly ``success`` when handled; anything else makes it retry
    (4xx ``fail`` for what is not authentic or malformed)."""
    body = await request.body()
    now = datetime.now(UTC)
    keys = get_gateways(request).alipay
    pool = _pool(request)
    if keys is None:
        return _fail(404)
    if pool is None:
        return _fail(503)
    try:
        params = alipay_notify.parse_form(body)
        alipay_notify.verify_notification(keys, params)
    except Exception as exc:  # VerificationError, or anything a hostile input provokes
        log.warning("alipay notification rejected", reason=str(exc)[:120])
        return _fail(400)

    def read() -> Reports:
        refund = alipay_notify.refund_report(params)
        return (None if refund is not None else alipay_notify.payment_report(params)), refund

    outcome = await record_notification(pool, _recorder(request), "alipay", read, now)
    if outcome != "recorded":
        return _fail(_STATUS[outcome])
    return PlainTextResponse("success")


@router.post(
    "/webhooks/unionpay",
    response_class=PlainTextResponse,
    openapi_extra=open_route("signature"),
    responses=_plain_responses("UnionPay", "ok"),
)
async def receive_unionpay_notification(request: Request) -> PlainTextResponse:
    """UnionPay back notification: HTTP 200 when handled; anything else makes it retry (4xx for
    what is not authentic or malformed)."""
    body = await request.body()
    now = datetime.now(UTC)
    keys = get_gateways(request).unionpay
    pool = _pool(request)
    if keys is None:
        return _fail(404)
    if pool is None:
        return _fail(503)
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        unionpay_notify.verify_notification(keys, params, now)
    except Exception as exc:  # VerificationError, or anything a hostile input provokes
        log.warning("unionpay notification rejected", reason=str(exc)[:120])
        return _fail(400)

    def read() -> Reports:
        refund = unionpay_notify.refund_report(params)
        return (None if refund is not None else unionpay_notify.payment_report(params)), refund

    outcome = await record_notification(pool, _recorder(request), "unionpay", read, now)
    if outcome != "recorded":
        return _fail(_STATUS[outcome])
    return PlainTextResponse("ok")
