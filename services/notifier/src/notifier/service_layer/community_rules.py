"""Contact rules per community: quiet hours and the reminder cap the dispatcher applies to
that community's messages instead of the service's settings (read by staff, set by customer
service, community managers and company admins; audited)."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from notifier.domain import contact_rules
from notifier.errors import ContactRulesRefused
from notifier.service_layer import access
from notifier.settings import NotifierSettings
from propfee import audit
from propfee.auth import Principal

RULE_COLUMNS = "quiet_start, quiet_end, reminder_cap, cap_window_days, set_by"


class ContactRulesIn(BaseModel):
    quiet_start: str = Field(
        max_length=64, description="Local time HH:MM (24-hour) when quiet hours begin"
    )
    quiet_end: str = Field(
        max_length=64, description="Local time HH:MM when they end (may wrap midnight)"
    )
    reminder_cap: int | None = Field(
        default=None,
        le=1000,
        description="Reminder occasions per person per window (default: setting)",
    )
    cap_window_days: int | None = Field(default=None, le=3660, description="Rolling window in days")
    set_by: str = Field(
        min_length=1, max_length=200, description="The staff member who set the rules"
    )


def _out(community_id: str, row: Any, s: NotifierSettings) -> dict[str, Any]:
    if row is None:
        return {
            "community_id": community_id,
            "quiet_start": s.quiet_start.strftime("%H:%M"),
            "quiet_end": s.quiet_end.strftime("%H:%M"),
            "reminder_cap": s.reminder_cap,
            "cap_window_days": s.reminder_cap_window_days,
            "source": "settings",
        }
    return {
        "community_id": community_id,
        "quiet_start": row["quiet_start"].strftime("%H:%M"),
        "quiet_end": row["quiet_end"].strftime("%H:%M"),
        "reminder_cap": row["reminder_cap"],
        "cap_window_days": row["cap_window_days"],
        "source": "community",
        "set_by": row["set_by"],
        "updated_at": row["updated_at"],
    }


async def rules_in_force(
    pool: asyncpg.Pool, principal: Principal, community_id: str, s: NotifierSettings
) -> dict[str, Any]:
    """The rules in force for the community (its own, or the service's defaults)."""
    await access.community(pool, principal, community_id)
    row = await pool.fetchrow(
        "SELECT * FROM community_contact_rules WHERE community_id = $1", community_id
    )
    return _out(community_id, row, s)


async def set_rules(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    body: ContactRulesIn,
    s: NotifierSettings,
) -> dict[str, Any]:
    """Set the community's quiet hours and reminder cap; refused (422) with every reason.
    Audited."""
    await access.community(pool, principal, community_id)  # 404 before anything else
    cap = body.reminder_cap if body.reminder_cap is not None else s.reminder_cap
    window = (
        body.cap_window_days if body.cap_window_days is not None else s.reminder_cap_window_days
    )
    problems = contact_rules.problems(body.quiet_start, body.quiet_end, cap, window)
    if problems:
        raise ContactRulesRefused(problems)
    start = contact_rules.parse_clock(body.quiet_start)
    end = contact_rules.parse_clock(body.quiet_end)
    async with pool.acquire() as conn, conn.transaction():
        company_id = await access.community(conn, principal, community_id)
        before = await conn.fetchrow(
            f"SELECT {RULE_COLUMNS} FROM community_contact_rules WHERE community_id = $1 "
            "FOR UPDATE",
            community_id,
        )
        row = await conn.fetchrow(
            "INSERT INTO community_contact_rules (community_id, quiet_start, quiet_end, "
            "reminder_cap, cap_window_days, set_by) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (community_id) DO UPDATE SET quiet_start = EXCLUDED.quiet_start, "
            "quiet_end = EXCLUDED.quiet_end, reminder_cap = EXCLUDED.reminder_cap, "
            "cap_window_days = EXCLUDED.cap_window_days, set_by = EXCLUDED.set_by, "
            "updated_at = now() RETURNING *",
            community_id,
            start,
            end,
            cap,
            window,
            body.set_by,
        )
        await audit.record(
            conn,
            principal,
            "contact_rules.set",
            "community",
            community_id,
            community_id=community_id,
            company_id=company_id,
            before=dict(before) if before is not None else None,
            after={k: row[k] for k in RULE_COLUMNS.split(", ")},
        )
    return _out(community_id, row, s)
