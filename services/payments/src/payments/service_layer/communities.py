"""Payments' copy of each community's company (from billing.community-updated): what a token
whose communities claim is "*" (every community of its company) is checked against, and the
company's back-dating window (``backdate_days``) for staff-chosen business times. The newest
``updated_at`` wins, so events converge in any order."""

from __future__ import annotations

import asyncpg

from propfee.consumer import EventContext
from propfee.events import CommunityUpdated


async def community_updated(
    conn: asyncpg.Connection, event: CommunityUpdated, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO communities (community_id, company_id, updated_at, backdate_days) "
        "VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
        "updated_at = EXCLUDED.updated_at, backdate_days = EXCLUDED.backdate_days "
        "WHERE communities.updated_at <= EXCLUDED.updated_at",
        event.community_id,
        event.company_id,
        event.updated_at,
        event.backdate_days,
    )


async def backdate_days(conn: asyncpg.Connection, community_id: str) -> int | None:
    """The company's back-dating window for the community (None: the default)."""
    days: int | None = await conn.fetchval(
        "SELECT backdate_days FROM communities WHERE community_id = $1", community_id
    )
    return days
