"""Letters and door notices after rendering: print batches, and the tracking number (or the
hand-delivery reference) recorded later as the delivery proof."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from notifier.adapters.letters_pdf import render_pdf
from notifier.service_layer import outcomes, queries


async def create_batch(
    conn: asyncpg.Connection,
    as_of: datetime,
    limit: int = 1000,
    *,
    scope: tuple[str | None, list[str] | None] = (None, None),
    company_id: str | None = None,
) -> dict[str, object]:
    """Gather the letters rendered so far into one PDF for the print room: those of the
    communities in ``scope`` (``Principal.sql_scope()``, see ``queries.scope_sql``). The batch
    keeps ``company_id`` (who printed it) and the communities of its letters."""
    rows = await conn.fetch(
        "SELECT n.notification_id, n.community_id, n.channel, n.params -> 'letter' AS letter "
        "FROM notifications n LEFT JOIN communities c USING (community_id) "
        "WHERE n.status = 'printing' AND n.batch_id IS NULL AND n.sent_at <= $1 "
        f"AND {queries.scope_sql(3)} "
        "ORDER BY n.unit_id, n.notification_id LIMIT $2 FOR UPDATE OF n SKIP LOCKED",
        as_of,
        limit,
        *scope,
    )
    if not rows:
        return {
            "batch_id": None,
            "letters": 0,
            "notification_ids": [],
            "community_ids": [],
            "by_channel": {},
        }
    batch_id = f"batch-{uuid.uuid4()}"
    letters = [{**r["letter"], "notification_id": r["notification_id"]} for r in rows]
    ids = [r["notification_id"] for r in rows]
    communities = sorted({r["community_id"] for r in rows})
    # Letters go to the post (a tracking number comes back), door notices are posted by hand.
    by_channel: dict[str, list[str]] = {}
    for r in rows:
        by_channel.setdefault(r["channel"], []).append(r["notification_id"])
    await conn.execute(
        "INSERT INTO letter_batches (batch_id, as_of, letters, pdf, company_id, community_ids) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        batch_id,
        as_of,
        len(rows),
        render_pdf(letters),
        company_id,
        communities,
    )
    await conn.execute(
        "UPDATE notifications SET batch_id = $1 WHERE notification_id = ANY($2::text[])",
        batch_id,
        ids,
    )
    return {
        "batch_id": batch_id,
        "letters": len(rows),
        "notification_ids": ids,
        "community_ids": communities,
        "by_channel": by_channel,
    }


async def record_tracking(
    conn: asyncpg.Connection, notification_id: str, tracking_number: str, carrier: str, at: datetime
) -> str | None:
    """Delivered, with the tracking number as proof; None when there is no such letter to
    track (a second call with the same number is accepted and changes nothing)."""
    rows = await conn.fetch(queries.BY_IDS, [notification_id])
    if not rows or rows[0]["channel"] not in {"letter", "door_notice"}:
        return None
    row = rows[0]
    if row["provider_message_id"] == tracking_number:
        return "unchanged"
    proof = {**(row["proof"] or {}), "tracking_number": tracking_number, "carrier": carrier}
    updated = await conn.fetchval(
        "UPDATE notifications SET status = 'delivered', tracking_number = $2, "
        "provider_message_id = $2, proof = $3, delivered_at = $4, delivery_recorded_at = now() "
        "WHERE notification_id = $1 AND status = 'printing' RETURNING true",
        notification_id,
        tracking_number,
        proof,
        at,
    )
    if not updated:
        return None
    await outcomes.delivered(conn, row, row["channel"], carrier, proof, at)
    return "delivered"
