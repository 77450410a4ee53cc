"""Messages as staff read them, their documents, and the delivery receipts that arrive over
HTTP (providers' callbacks, WeChat's pushes, staff's manual receipts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field

from notifier.service_layer import access, receipts
from notifier.service_layer.queries import scope_sql
from notifier.service_layer.receipts import Receipt
from notifier.settings import NotifierSettings
from propfee import audit, business_time
from propfee.auth import Principal, not_found

COLUMNS = (
    "notification_id, community_id, unit_id, party_id, channel, requested_channel, message_type, "
    "subject_id, stage, body, subject_line, status, status_reason, attempts, tried_channels, "
    "fallback_of, template_id, template_version, provider, provider_message_id, proof, "
    "requested_at, next_attempt_at, sent_at, delivered_at, failed_at, batch_id, "
    "tracking_number, created_at"
)
N_COLUMNS = ", ".join(f"n.{c.strip()}" for c in COLUMNS.split(","))


@dataclass(frozen=True)
class MessageFilter:
    unit_id: str | None = None
    subject_id: str | None = None
    party_id: str | None = None
    status: str | None = None
    community_id: str | None = None


async def list_messages(
    pool: asyncpg.Pool,
    principal: Principal,
    where: MessageFilter,
    *,
    after: Sequence[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Messages of the caller's communities in (created_at, notification_id) order, after the
    key ``after`` (a page's cursor), at most ``limit``."""
    after_at, after_id = after if after is not None else (None, None)
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {N_COLUMNS} FROM notifications n LEFT JOIN communities c USING (community_id) "
        "WHERE ($1::text IS NULL OR n.unit_id = $1) AND ($2::text IS NULL OR n.subject_id = $2) "
        "AND ($3::text IS NULL OR n.party_id = $3) AND ($4::text IS NULL OR n.status = $4) "
        "AND ($5::text IS NULL OR n.community_id = $5) "
        "AND ($6::timestamptz IS NULL OR (n.created_at, n.notification_id) > ($6, $7)) "
        f"AND {scope_sql(9)} "
        "ORDER BY n.created_at, n.notification_id LIMIT $8",
        where.unit_id,
        where.subject_id,
        where.party_id,
        where.status,
        where.community_id,
        after_at,
        after_id,
        limit,
        *principal.sql_scope(),
    )
    return rows


async def document(pool: asyncpg.Pool, principal: Principal, notification_id: str) -> bytes:
    """A letter's print-ready PDF; 404 when the caller may not see it or it has none."""
    await access.notification(pool, principal, notification_id)
    pdf: bytes | None = await pool.fetchval(
        "SELECT document FROM notifications WHERE notification_id = $1", notification_id
    )
    if pdf is None:
        raise not_found(f"document of notification {notification_id}")
    return pdf


async def store_and_apply(
    pool: asyncpg.Pool, items: list[Receipt], settings: NotifierSettings
) -> int:
    """Keep the receipts and apply them: how many messages they changed."""
    async with pool.acquire() as conn, conn.transaction():
        await receipts.store(conn, items)
        return await receipts.apply(conn, datetime.now(UTC), settings)


async def wechat_push(
    pool: asyncpg.Pool,
    found: list[Receipt],
    settings: NotifierSettings,
    *,
    seen: str,
    timestamp: int,
    nonce: str,
) -> bool:
    """A verified WeChat push: applied once (a push seen within twice the freshness window
    changes nothing). True when it was the first time."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM wechat_push_seen WHERE received_at < now() - make_interval(secs => $1)",
            2 * settings.wechat_push_max_age_s,
        )
        first = bool(
            await conn.fetchval(
                "INSERT INTO wechat_push_seen (signature, timestamp, nonce) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING RETURNING true",
                seen,
                timestamp,
                nonce[:128],
            )
        )
        if first and found:
            await receipts.store(conn, found)
            await receipts.apply(conn, datetime.now(UTC), settings)
    return first


class ManualReceipt(BaseModel):
    """A delivery receipt recorded by staff (the provider and its message id)."""

    provider: str = Field(max_length=64)
    provider_message_id: str = Field(max_length=200)
    success: bool
    status: str = Field(max_length=200)
    reported_at: AwareDatetime | None = Field(
        default=None,
        description="When it was delivered (default: now); staff may back-date it within the "
        "company's window, never forward-date it (403)",
    )

    def to_receipt(self) -> Receipt:
        return Receipt(
            self.provider,
            self.provider_message_id,
            self.success,
            self.status,
            self.reported_at,
            self.model_dump(mode="json"),
        )


async def record_manual_receipt(
    pool: asyncpg.Pool, principal: Principal, m: ManualReceipt, settings: NotifierSettings
) -> dict[str, Any]:
    """A receipt recorded by staff for a message of theirs: 404 for one they may not see;
    ``reported_at`` a business time (back-dated within the company's window, never
    forward-dated). Audited."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await access.sent_message(conn, principal, m.provider, m.provider_message_id)
        m = m.model_copy(
            update={
                "reported_at": business_time.business_instant(
                    principal,
                    m.reported_at,
                    now,
                    field="reported_at",
                    backdate_days=row["backdate_days"],
                )
            }
        )
        await receipts.store(conn, [m.to_receipt()])
        applied = await receipts.apply(conn, now, settings)
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
            after={**m.model_dump(mode="json"), "status": status},
        )
    return {"applied": applied, "notification_id": row["notification_id"], "status": status}
