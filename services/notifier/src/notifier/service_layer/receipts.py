"""Delivery receipts (status callbacks): stored as reported, then applied to the messages.

A receipt may arrive before the dispatcher has recorded the provider's message id; it is
applied whenever both are there (the dispatcher and the callback endpoint both call apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from notifier.service_layer import outcomes, queries
from notifier.settings import NotifierSettings


@dataclass(frozen=True, slots=True)
class Receipt:
    provider: str
    provider_message_id: str
    success: bool
    status: str
    reported_at: datetime | None
    raw: dict[str, Any]


async def store(conn: asyncpg.Connection, items: list[Receipt]) -> None:
    await conn.executemany(
        "INSERT INTO delivery_receipts (provider, provider_message_id, success, status, "
        "reported_at, raw) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (provider, provider_message_id, status) DO NOTHING",
        [
            (r.provider, r.provider_message_id, r.success, r.status, r.reported_at, r.raw)
            for r in items
        ],
    )


async def apply(conn: asyncpg.Connection, as_of: datetime, s: NotifierSettings) -> int:
    """Match unapplied receipts to sent messages: delivered (with proof) or failed."""
    matched = await conn.fetch(
        "SELECT DISTINCT ON (n.notification_id) r.receipt_id, n.notification_id, r.success, "
        "r.status, r.reported_at, r.provider FROM delivery_receipts r "
        "JOIN notifications n ON n.provider = r.provider "
        "AND n.provider_message_id = r.provider_message_id AND n.status = 'sent' "
        "WHERE r.applied_at IS NULL ORDER BY n.notification_id, r.success DESC, r.receipt_id"
    )
    if not matched:
        return 0
    await conn.execute(
        "UPDATE delivery_receipts SET applied_at = now() WHERE receipt_id = ANY($1::bigint[])",
        [m["receipt_id"] for m in matched],
    )
    rows = {
        r["notification_id"]: r
        for r in await conn.fetch(queries.BY_IDS, [m["notification_id"] for m in matched])
    }
    for m in matched:
        row = rows[m["notification_id"]]
        at = m["reported_at"] or as_of
        if m["success"]:
            proof = {
                **(row["proof"] or {}),
                "receipt_status": m["status"],
                "receipt_at": at.isoformat(),
            }
            await conn.execute(
                "UPDATE notifications SET status = 'delivered', delivered_at = $2, proof = $3 "
                "WHERE notification_id = $1",
                row["notification_id"],
                at,
                proof,
            )
            await outcomes.delivered(conn, row, row["channel"], m["provider"], proof, at)
        else:
            reason = f"{m['provider']} delivery receipt: {m['status']}"
            await outcomes.fail(
                conn, row, row["channel"], reason, at, default_zone=s.default_time_zone
            )
    return len(matched)
