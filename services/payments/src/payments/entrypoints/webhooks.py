"""Gateway webhooks: verify on the exact bytes received, record once, answer what stops retries.

A notification that fails verification changes nothing and is logged with the reason only.
An authentic one is acknowledged even when its money goes to finance review (an exception):
retrying would not change the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from payments.adapters import alipay_notify, unionpay_notify
from payments.adapters.gateways import get_gateways
from payments.adapters.wechatpay_notify import read_notification
from payments.adapters.wechatpay_resources import refund_report, transaction_report
from payments.domain.refunds import RefundMismatch, RefundReport
from payments.domain.settlement import GatewayReport
from payments.service_layer.recorder import PaymentRecorder
from payments.service_layer.refunds import confirm_refund
from propfee.auth import open_route
from propfee.http import get_runtime
from propfee.logging import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])


def _pool(request: Request) -> asyncpg.Pool | None:
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


#: What the database refuses of a report is the notification's fault (a value out of range, a
#: text PostgreSQL cannot hold): 400, never 5xx. Anything else there (the database away) is 5xx,
#: so that the gateway retries.
REFUSED_BY_DATABASE = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
UNAVAILABLE = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def _record(
    request: Request,
    pool: asyncpg.Pool,
    report: GatewayReport | None,
    refund: RefundReport | None,
    now: datetime,
) -> None:
    if refund is not None:
        async with pool.acquire() as conn, conn.transaction():
            await confirm_refund(conn, refund)
    elif report is not None:
        await _recorder(request).record(pool, report, now)


@router.post(
    "/webhooks/wechatpay",
    status_code=204,
    response_class=Response,
    openapi_extra=open_route("signature"),
)
async def wechatpay(request: Request) -> Response:
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
    report = refund = None
    try:
        if notification.event_type == "TRANSACTION.SUCCESS":
            report = transaction_report(notification.resource)
        elif notification.event_type.startswith("REFUND."):
            refund = refund_report(notification.resource, now)
        else:
            log.info("wechatpay notification ignored", event_type=notification.event_type[:64])
        await _record(request, pool, report, refund, now)
    except (*REFUSED_BY_DATABASE, RefundMismatch) as exc:
        log.warning("wechatpay notification refused", error=type(exc).__name__)
        return _wechat_fail(400, "malformed resource")
    except UNAVAILABLE as exc:  # the database away: 503, the gateway retries
        log.warning("wechatpay notification not recorded now", error=type(exc).__name__)
        return _wechat_fail(503, "cannot record now")
    except Exception as exc:  # a resource field of the wrong type or out of range
        log.warning("wechatpay notification malformed", error=type(exc).__name__)
        return _wechat_fail(400, "malformed resource")
    return Response(status_code=204)


@router.post(
    "/webhooks/alipay", response_class=PlainTextResponse, openapi_extra=open_route("signature")
)
async def alipay(request: Request) -> PlainTextResponse:
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
    try:
        refund = alipay_notify.refund_report(params)
        report = None if refund is not None else alipay_notify.payment_report(params)
        await _record(request, pool, report, refund, now)
    except (*REFUSED_BY_DATABASE, RefundMismatch) as exc:
        log.warning("alipay notification refused", error=type(exc).__name__)
        return _fail(400)
    except UNAVAILABLE as exc:
        log.warning("alipay notification not recorded now", error=type(exc).__name__)
        return _fail(503)
    except Exception as exc:
        log.warning("alipay notification malformed", error=type(exc).__name__)
        return _fail(400)
    return PlainTextResponse("success")


@router.post(
    "/webhooks/unionpay", response_class=PlainTextResponse, openapi_extra=open_route("signature")
)
async def unionpay(request: Request) -> PlainTextResponse:
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
    try:
        refund = unionpay_notify.refund_report(params)
        report = None if refund is not None else unionpay_notify.payment_report(params)
        await _record(request, pool, report, refund, now)
    except (*REFUSED_BY_DATABASE, RefundMismatch) as exc:
        log.warning("unionpay notification refused", error=type(exc).__name__)
        return _fail(400)
    except UNAVAILABLE as exc:
        log.warning("unionpay notification not recorded now", error=type(exc).__name__)
        return _fail(503)
    except Exception as exc:
        log.warning("unionpay notification malformed", error=type(exc).__name__)
        return _fail(400)
    return PlainTextResponse("ok")
