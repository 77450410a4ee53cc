"""Notifier's HTTP API: messages and their evidence, the dispatcher, delivery receipts.

Staff endpoints need a bearer token (roles in notifier.entrypoints.security); the providers'
delivery callbacks are open, authenticated by the callback token in their URL."""

from __future__ import annotations

import hmac
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request
from fastapi.responses import Response

from notifier.adapters.app_push import signature as app_push_signature
from notifier.entrypoints import receipts_in, security
from notifier.entrypoints.security import Dispatcher, DocumentReader, LetterClerk, Reader
from notifier.runtime import NotifierRuntime
from notifier.service_layer import receipts
from notifier.service_layer.queries import scope_sql
from notifier.settings import NotifierSettings
from propfee import audit, business_time
from propfee.auth import open_route
from propfee.http import Pool

router = APIRouter(tags=["notifier"])
COLUMNS = (
    "notification_id, community_id, unit_id, party_id, channel, requested_channel, message_type, "
    "subject_id, stage, body, subject_line, status, status_reason, attempts, tried_channels, "
    "fallback_of, template_id, template_version, provider, provider_message_id, proof, "
    "requested_at, next_attempt_at, sent_at, delivered_at, failed_at, batch_id, "
    "tracking_number, created_at"
)
N_COLUMNS = ", ".join(f"n.{c.strip()}" for c in COLUMNS.split(","))
ID = Annotated[str, Query(max_length=200)]


@router.get("/notifications")
async def list_notifications(
    pool: Pool,
    principal: Reader,
    unit_id: ID | None = None,
    subject_id: ID | None = None,
    party_id: ID | None = None,
    status: ID | None = None,
    community_id: ID | None = None,
) -> list[dict[str, Any]]:
    """Messages with the exact text sent and the proof, of the caller's communities (bodies are
    evidence with personal data: masked for roles that do not see contacts)."""
    rows = await pool.fetch(
        f"SELECT {N_COLUMNS} FROM notifications n LEFT JOIN communities c USING (community_id) "
        "WHERE ($1::text IS NULL OR n.unit_id = $1) AND ($2::text IS NULL OR n.subject_id = $2) "
        "AND ($3::text IS NULL OR n.party_id = $3) AND ($4::text IS NULL OR n.status = $4) "
        f"AND ($5::text IS NULL OR n.community_id = $5) AND {scope_sql(6)} "
        "ORDER BY n.created_at, n.notification_id LIMIT 1000",
        unit_id,
        subject_id,
        party_id,
        status,
        community_id,
        *principal.sql_scope(),
    )
    return [security.mask_message(principal, r) for r in rows]


@router.get("/notifications/{notification_id}/document", response_class=Response)
async def letter_document(pool: Pool, notification_id: str, principal: DocumentReader) -> Response:
    """The print-ready PDF of a letter or door notice (roles that see contacts only)."""
    await security.notification(pool, principal, notification_id)
    pdf = await pool.fetchval(
        "SELECT document FROM notifications WHERE notification_id = $1", notification_id
    )
    if pdf is None:
        raise HTTPException(404, "no document for this notification")
    return Response(pdf, media_type="application/pdf")


@router.post("/dispatch")
async def dispatch(
    request: Request, pool: Pool, principal: Dispatcher, as_of: datetime | None = None
) -> dict[str, Any]:
    """Send what is due now: one pass, the answer counts only. Staff dispatch their own
    communities' messages, as of now (a chosen ``as_of`` more than a few minutes from now is
    403). The service role (the simulation clock, tests) may choose the instant and passes
    over the deployment's queue, as the background loop does on the wall clock."""
    runtime: NotifierRuntime = request.app.state.runtime
    if runtime.dispatcher is None:
        raise HTTPException(503, "dispatcher is starting")
    if as_of is not None and as_of.tzinfo is None:
        raise HTTPException(422, "as_of needs a time zone offset (RFC 3339)")
    instant = business_time.as_of_now(principal, as_of, datetime.now(UTC), field="as_of")
    scope = principal.sql_scope()
    report = await runtime.dispatcher.dispatch(
        instant,
        workers=runtime.settings.dispatch_workers,
        scope=None if scope == (None, None) else scope,
    )
    return {"as_of": instant.isoformat(), **report.counts}


async def _store_and_apply(request: Request, pool: Pool, items: list[receipts.Receipt]) -> int:
    runtime: NotifierRuntime = request.app.state.runtime
    async with pool.acquire() as conn, conn.transaction():
        await receipts.store(conn, items)
        return await receipts.apply(conn, datetime.now(UTC), runtime.settings)


def _callback_token(request: Request, token: str) -> None:
    """Alibaba's and Tencent's status pushes carry no signature: the callback URL configured
    at the provider carries ``?token=<NOTIFIER_RECEIPT_CALLBACK_TOKEN>``. Not configured: 404
    (the endpoint is off); a wrong token: 401; nothing is stored either way."""
    settings: NotifierSettings = request.app.state.runtime.settings
    expected = settings.receipt_callback_token.get_secret_value()
    if not expected:
        raise HTTPException(404, "delivery report callbacks are not configured")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "bad callback token")


CallbackToken = Annotated[
    str,
    Query(
        max_length=256,
        description="The shared secret of the callback URL (NOTIFIER_RECEIPT_CALLBACK_TOKEN)",
    ),
]


@router.post("/receipts/alibaba", openapi_extra=open_route("signature"))
async def alibaba_receipts(
    request: Request,
    pool: Pool,
    body: Annotated[list[dict[str, Any]], Body()],
    token: CallbackToken = "",
) -> dict[str, Any]:
    """Alibaba Cloud SMS delivery reports (SmsReport HTTP push); authenticated by the
    callback URL's ``token``."""
    _callback_token(request, token)
    await _store_and_apply(request, pool, receipts_in.alibaba(body))
    return {"code": 0, "msg": "成功"}


@router.post("/receipts/tencent", openapi_extra=open_route("signature"))
async def tencent_receipts(
    request: Request,
    pool: Pool,
    body: Annotated[list[dict[str, Any]], Body()],
    token: CallbackToken = "",
) -> dict[str, Any]:
    """Tencent Cloud SMS status callbacks (delivery reports); authenticated by the callback
    URL's ``token``."""
    _callback_token(request, token)
    await _store_and_apply(request, pool, receipts_in.tencent(body))
    return {"result": 0, "errmsg": "OK"}


@router.post("/receipts/app_push", openapi_extra=open_route("signature"))
async def app_push_receipts(
    request: Request,
    pool: Pool,
    x_propfee_signature: Annotated[str, Header(max_length=200)] = "",
    x_propfee_timestamp: Annotated[str, Header(max_length=20)] = "",
) -> dict[str, Any]:
    """The owner app's push gateway: delivery receipts (a JSON list, or one object, of
    ``{"push_id", "status", "reported_at"}``), signed as notifier signs its pushes
    (``X-Propfee-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``, the
    timestamp within ``NOTIFIER_WECHAT_PUSH_MAX_AGE_S`` of now). Only a receipt makes an app
    push delivered; the gateway accepting it made it sent. No secret configured: 404; a bad or
    stale signature: 401, nothing stored."""
    settings: NotifierSettings = request.app.state.runtime.settings
    secret = settings.push_webhook_secret.get_secret_value()
    if not secret:
        raise HTTPException(404, "app push receipts are not configured")
    body = await request.body()
    if len(body) > 256 * 1024:
        raise HTTPException(413, "receipts too large")
    stamp = x_propfee_timestamp
    if not (stamp.isascii() and stamp.isdigit()):
        raise HTTPException(401, "bad timestamp")
    if abs(time.time() - int(stamp)) > settings.wechat_push_max_age_s:
        raise HTTPException(401, "stale timestamp")
    expected = app_push_signature(secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), x_propfee_signature.encode()):
        raise HTTPException(401, "bad signature")
    try:
        parsed = json.loads(body)
        items = parsed if isinstance(parsed, list) else [parsed]
        found = receipts_in.app_push([i for i in items if isinstance(i, dict)])
    except (ValueError, TypeError) as exc:
        raise HTTPException(400, f"not receipts: {exc}") from exc
    applied = await _store_and_apply(request, pool, found)
    return {"received": len(found), "applied": applied}


@router.post("/receipts")
async def manual_receipt(
    request: Request, pool: Pool, body: receipts_in.ManualReceipt, principal: LetterClerk
) -> dict[str, Any]:
    """A receipt recorded by staff for a message of theirs (provider and its message id):
    404 for a message they may not see or that does not exist. ``reported_at`` (the delivery
    time, default now) may be back-dated within the company's window, never forward-dated
    (403); the receipt keeps when it was recorded too. Audited."""
    runtime: NotifierRuntime = request.app.state.runtime
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await security.sent_message(conn, principal, body.provider, body.provider_message_id)
        body = body.model_copy(
            update={
                "reported_at": business_time.business_instant(
                    principal,
                    body.reported_at,
                    now,
                    field="reported_at",
                    backdate_days=row["backdate_days"],
                )
            }
        )
        await receipts.store(conn, [body.to_receipt()])
        applied = await receipts.apply(conn, now, runtime.settings)
        status = await conn.fetchval(
            "SELECT status FROM notifications WHERE notification_id = $1", row["notification_id"]
        )
        await audit.record(
            conn,
            principal,
            "receipt.recorded",
            "notification",
            row["notification_id"],
            community_id=row["community_id"],
            unit_id=row["unit_id"],
            company_id=row["company_id"],
            before={"status": row["status"]},
            after={**body.model_dump(mode="json"), "status": status},
        )
    return {"applied": applied, "notification_id": row["notification_id"], "status": status}
