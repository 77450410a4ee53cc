"""Payments' copy of each community's company (from billing.community-updated): what a token
whose communities claim is "*" (every community of its company) is checked against, and the
company's back-dating window (``backdate_days``) for staff-chosen business times, and its
contract terms: time zone (the local day an order is priced for), late-fee rate and cap (for
invoices billing has published no balance of yet), advance-collection cap and contract end
(the prepayment cap), and its name (shown with a pay link). The newest ``updated_at`` wins,
so events converge in any order."""

from __future__ import annotations

import asyncpg

from propfee.consumer import EventContext
from propfee.events import CommunityUpdated


async def community_updated(
    conn: asyncpg.Connection, event: CommunityUpdated, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO communities (community_id, company_id, updated_at, backdate_days, "
        "time_zone, late_fee_daily_rate, late_fee_annual_cap, advance_cap_months, contract_end, "
        "name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
        "updated_at = EXCLUDED.updated_at, backdate_days = EXCLUDED.backdate_days, "
        "time_zone = EXCLUDED.time_zone, late_fee_daily_rate = EXCLUDED.late_fee_daily_rate, "
        "late_fee_annual_cap = EXCLUDED.late_fee_annual_cap, "
        "advance_cap_months = EXCLUDED.advance_cap_months, "
        "contract_end = EXCLUDED.contract_end, name = EXCLUDED.name "
        "WHERE communities.updated_at <= EXCLUDED.updated_at",
        event.community_id,
        event.company_id,
        event.updated_at,
        event.backdate_days,
        event.time_zone,
        event.late_fee_daily_rate,
        event.late_fee_annual_cap,
        event.advance_cap_months,
        event.contract_end,
        event.name,
    )


async def backdate_days(conn: asyncpg.Connection, community_id: str) -> int | None:
    """The company's back-dating window for the community (None: the default)."""
    days: int | None = await conn.fetchval(
        "SELECT backdate_days FROM communities WHERE community_id = $1", community_id
    )
    return days
