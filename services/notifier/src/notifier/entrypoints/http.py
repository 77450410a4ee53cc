"""Notifier's HTTP API (walking skeleton: read the queued messages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from propfee.http import Pool

router = APIRouter(tags=["notifier"])


@router.get("/notifications")
async def list_notifications(
    pool: Pool, unit_id: str | None = None, subject_id: str | None = None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT notification_id, community_id, unit_id, party_id, channel, message_type, "
        "subject_id, stage, body, status, created_at FROM notifications "
        "WHERE ($1::text IS NULL OR unit_id = $1) AND ($2::text IS NULL OR subject_id = $2) "
        "ORDER BY created_at LIMIT 1000",
        unit_id,
        subject_id,
    )
    return [dict(r) for r in rows]
