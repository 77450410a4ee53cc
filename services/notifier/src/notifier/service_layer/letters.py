"""Letters and door notices after rendering: print batches, the tracking number (posted: not
delivered) and the delivery recorded later with its proof (the carrier's delivery status or a
signed receipt)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from notifier.adapters.letters_pdf import render_pdf
from notifier.errors import NotALetter
from notifier.service_layer import outcomes, queries


async def create_batch(
    conn: asyncpg.Connection,
    as_of: datetime,
    limit: int = 1000,
    *,
    scope: tuple[str | None, list[str] | None] = (None, None),
    company_id: str | None = None,
    case_ids: list[str] | None = None,
    render: bool = True,
) -> dict[str, object]:
    """Gather the letters rendered so far into one PDF for the print room: those of the
    communities in ``scope`` (``Principal.sql_scope()``, see ``queries.scope_sql``) and, given
    ``case_ids``, of those dunning cases only (a reminder's subject is its case). The batch
    keeps ``company_id`` (who printed it) and the communities of its letters. Without
    ``render``, the batch has no PDF yet: a print job renders it (``print_jobs``)."""
    rows = await conn.fetch(
        "SELECT n.notification_id, n.community_id, n.channel, n.params -> 'letter' AS letter "
        "FROM notifications n LEFT JOIN communities c USING (community_id) "
        "WHERE n.status = 'printing' AND n.batch_id IS NULL AND n.sent_at <= $1 "
        f"AND {queries.scope_sql(3)} AND ($5::text[] IS NULL OR n.subject_id = ANY($5)) "
        "ORDER BY n.unit_id, n.notification_id LIMIT $2 FOR UPDATE OF n SKIP LOCKED",
        as_of,
        limit,
        *scope,
        case_ids,
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
        render_pdf(letters) if render else None,
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
    """Posted, with the tracking number: not delivered (issue 18 rule 3), so nothing is
    published; :func:`record_delivery` makes it delivered. None when there is no such letter
    awaiting its tracking number (a second call with the same number changes nothing)."""
    rows = await conn.fetch(queries.BY_IDS, [notification_id])
    if not rows or rows[0]["channel"] not in {"letter", "door_notice"}:
        return None
    row = rows[0]
    if row["provider_message_id"] == tracking_number:
        return "unchanged"
    proof = {**(row["proof"] or {}), "tracking_number": tracking_number, "carrier": carrier}
    updated = await conn.fetchval(
        "UPDATE notifications SET status = 'posted', tracking_number = $2, "
        "provider_message_id = $2, proof = $3, posted_at = $4, delivery_recorded_at = now() "
        "WHERE notification_id = $1 AND status = 'printing' RETURNING true",
        notification_id,
        tracking_number,
        proof,
        at,
    )
    return "posted" if updated else None


class NotDeliverable(NotALetter):
    """The delivery cannot be recorded (the detail says why)."""


async def record_delivery(
    conn: asyncpg.Connection,
    notification_id: str,
    *,
    at: datetime,
    carrier_status: str | None,
    receipt_reference: str | None,
    signed_by: str | None,
) -> str | None:
    """A letter or door notice delivered, with proof: the carrier's delivery status (EMS
    妥投/signed; the letter must be posted, with its tracking number) or a signed receipt
    (its scan or reference; also for one handed over without the post). Publishes
    NotificationDelivered with that proof. None when there is no such letter; "unchanged" for
    one already delivered; NotDeliverable without proof, for a letter not yet posted (carrier
    status) or a delivery before it was posted."""
    if not (carrier_status or receipt_reference):
        raise NotDeliverable(
            "a delivery needs carrier_status (the carrier's delivery status) or "
            "receipt_reference (the signed receipt's scan or reference)"
        )
    rows = await conn.fetch(queries.BY_IDS, [notification_id])
    if not rows or rows[0]["channel"] not in {"letter", "door_notice"}:
        return None
    row = rows[0]
    state = await conn.fetchrow(
        "SELECT status, posted_at, sent_at FROM notifications WHERE notification_id = $1",
        notification_id,
    )
    if state["status"] == "delivered":
        return "unchanged"
    if state["status"] not in {"posted", "printing"}:
        raise NotDeliverable(f"the letter is {state['status']}, not posted")
    if state["status"] == "printing" and not receipt_reference:
        raise NotDeliverable("a carrier's status needs the letter posted (its tracking number)")
    posted_at = state["posted_at"] or state["sent_at"]
    if posted_at is not None and at < posted_at:
        raise NotDeliverable("delivered_at: a letter is delivered after it is posted")
    extra = {
        "carrier_status": carrier_status, "receipt_reference": receipt_reference,
        "signed_by": signed_by,
    }  # fmt: skip
    proof = {**(row["proof"] or {}), **{k: v for k, v in extra.items() if v}}
    await conn.execute(
        "UPDATE notifications SET status = 'delivered', proof = $2, delivered_at = $3, "
        "delivery_recorded_at = now() WHERE notification_id = $1",
        notification_id,
        proof,
        at,
    )
    carrier = str(proof.get("carrier") or "hand")
    await outcomes.delivered(conn, row, row["channel"], carrier, proof, at)
    return "delivered"
