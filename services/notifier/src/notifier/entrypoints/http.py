"""Notifier's HTTP API: messages and their evidence, the dispatcher, delivery receipts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response

from notifier.entrypoints import receipts_in
from notifier.runtime import NotifierRuntime
from notifier.service_layer import receipts
from propfee.http import Pool

router = APIRouter(tags=["notifier"])
COLUMNS = (
    "notification_id, community_id, unit_id, party_id, channel, requested_channel, message_type, "
    "subject_id, stage, body, subject_line, status, status_reason, attempts, tried_channels, "
    "fallback_of, template_id, template_version, provider, provider_message_id, proof, "
    "requested_at, next_attempt_at, sent_at, delivered_at, failed_at, batch_id, "
    "tracking_number, created_at"
)


@router.get("/notifications")
async def list_notifications(
    pool: Pool,
    unit_id: str | None = None,
    subject_id: str | None = None,
    party_id: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Messages with the exact text sent and the proof (staff only: bodies are evidence)."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM notifications "
        "WHERE ($1::text IS NULL OR unit_id = $1) AND ($2::text IS NULL OR subject_id = $2) "
        "AND ($3::text IS NULL OR party_id = $3) AND ($4::text IS NULL OR status = $4) "
        "ORDER BY created_at, notification_id LIMIT 1000",
        unit_id,
        subject_id,
        party_id,
        status,
    )
    return [dict(r) for r in rows]


@router.get("/notifications/{notification_id}/document", response_class=Response)
async def letter_document(pool: Pool, notification_id: str) -> Response:
    """The print-ready PDF of a letter or door notice."""
    pdf = await pool.fetchval(
        "SELECT document FROM notifications WHERE notification_id = $1", notification_id
    )
    if pdf is None:
        raise HTTPException(404, "no document for this notification")
    return Response(pdf, media_type="application/pdf")


@router.post("/dispatch")
async def dispatch(request: Request, pool: Pool, as_of: datetime | None = None) -> dict[str, Any]:
    """Send what is due at ``as_of`` (default: now); tests and simulations drive time here."""
    runtime: NotifierRuntime = request.app.state.runtime
    if runtime.dispatcher is None:
        raise HTTPException(503, "dispatcher is starting")
    if as_of is not None and as_of.tzinfo is None:
        raise HTTPException(422, "as_of needs a time zone offset (RFC 3339)")
    instant = as_of or datetime.now(UTC)
    report = await runtime.dispatcher.dispatch(instant, workers=runtime.settings.dispatch_workers)
    return {"as_of": instant.isoformat(), **report.counts}


async def _store_and_apply(request: Request, pool: Pool, items: list[receipts.Receipt]) -> int:
    runtime: NotifierRuntime = request.app.state.runtime
    async with pool.acquire() as conn, conn.transaction():
        await receipts.store(conn, items)
        return await receipts.apply(conn, datetime.now(UTC), runtime.settings)


@router.post("/receipts/alibaba")
async def alibaba_receipts(
    request: Request, pool: Pool, body: Annotated[list[dict[str, Any]], Body()]
) -> dict[str, Any]:
    """Alibaba Cloud SMS delivery reports (SmsReport HTTP push)."""
    await _store_and_apply(request, pool, receipts_in.alibaba(body))
    return {"code": 0, "msg": "成功"}


@router.post("/receipts/tencent")
async def tencent_receipts(
    request: Request, pool: Pool, body: Annotated[list[dict[str, Any]], Body()]
) -> dict[str, Any]:
    """Tencent Cloud SMS status callbacks (delivery reports)."""
    await _store_and_apply(request, pool, receipts_in.tencent(body))
    return {"result": 0, "errmsg": "OK"}


@router.post("/receipts")
async def manual_receipt(
    request: Request, pool: Pool, body: receipts_in.ManualReceipt
) -> dict[str, int]:
    """A receipt recorded by staff or another gateway: provider and its message id."""
    applied = await _store_and_apply(request, pool, [body.to_receipt()])
    return {"applied": applied}
