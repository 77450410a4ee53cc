"""Payments' copy of each community's company (from billing.community-updated): what a token
whose communities claim is "*" (every community of its company) is checked against. The
newest ``updated_at`` wins, so events converge in any order."""

from __future__ import annotations

import asyncpg

from propfee.consumer import EventContext
from propfee.events import CommunityUpdated


async def community_updated(
    conn: asyncpg.Connection, event: CommunityUpdated, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO communities (community_id, company_id, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
        "updated_at = EXCLUDED.updated_at WHERE communities.updated_at <= EXCLUDED.updated_at",
        event.community_id,
        event.company_id,
        event.updated_at,
    )
