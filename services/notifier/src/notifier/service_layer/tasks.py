"""Staff tasks asked of dunning (phone calls, visits, fixing contact data): once per key."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from propfee.events import StaffTaskRequested
from propfee.outbox import add_event

PHONE = {"phone", "phone_call", "call"}
VISIT = {"visit", "home_visit", "door_visit"}


def task_kind(channel: str) -> str:
    if channel in PHONE:
        return "phone_call"
    if channel in VISIT:
        return "visit"
    return channel


async def request_task(
    conn: asyncpg.Connection,
    *,
    key: str,
    kind: str,
    community_id: str,
    unit_id: str,
    party_id: str,
    subject_id: str,
    stage: str | None,
    reason: str,
    at: datetime,
    notification_id: str | None = None,
) -> bool:
    """Record the task and publish StaffTaskRequested, unless ``key`` was asked for before."""
    task_id = f"task-{uuid.uuid4()}"
    inserted = await conn.fetchval(
        "INSERT INTO staff_tasks (task_key, task_id, kind, party_id, unit_id, reason, "
        "requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (task_key) DO NOTHING RETURNING true",
        key,
        task_id,
        kind,
        party_id,
        unit_id,
        reason,
        at,
    )
    if not inserted:
        return False
    event = StaffTaskRequested(
        task_id=task_id,
        kind=kind,
        community_id=community_id,
        unit_id=unit_id,
        party_id=party_id,
        subject_id=subject_id,
        stage=stage,
        reason=reason,
        notification_id=notification_id,
        requested_at=at,
    )
    await add_event(conn, event, key=unit_id, subject=subject_id)
    return True
