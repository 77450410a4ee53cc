"""Notifier's own copies of billing's communities, parties and invoice periods (last write
wins by ``updated_at``, so events converge in any order), and staff-set preferences."""

from __future__ import annotations

from datetime import date

import asyncpg

from propfee.events import CommunityUpdated, InvoiceIssued, PartyContactsUpdated


async def upsert_community(conn: asyncpg.Connection, e: CommunityUpdated) -> None:
    await conn.execute(
        "INSERT INTO communities (community_id, company_id, company_name, name, city, time_zone, "
        "service_phone, complaint_line, address, backdate_days, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10) "
        "ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
        "company_name = EXCLUDED.company_name, name = EXCLUDED.name, city = EXCLUDED.city, "
        "time_zone = EXCLUDED.time_zone, service_phone = EXCLUDED.service_phone, "
        "complaint_line = EXCLUDED.complaint_line, address = EXCLUDED.address, "
        "backdate_days = EXCLUDED.backdate_days, "
        "updated_at = EXCLUDED.updated_at WHERE communities.updated_at <= EXCLUDED.updated_at",
        e.community_id,
        e.company_id,
        e.company_name,
        e.name,
        e.city,
        e.time_zone,
        e.service_phone,
        e.complaint_line,
        e.address,
        e.updated_at,
        e.backdate_days,
    )


async def upsert_party(conn: asyncpg.Connection, e: PartyContactsUpdated) -> None:
    """Store the party and release what waited for its contact data."""
    await conn.execute(
        "INSERT INTO parties (party_id, community_id, kind, name, phone, email, wechat_openid, "
        "app_user_id, postal_address, allowed_channels, preferred_channels, do_not_contact, "
        "locale, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
        "ON CONFLICT (party_id) DO UPDATE SET community_id = EXCLUDED.community_id, "
        "kind = EXCLUDED.kind, name = EXCLUDED.name, phone = EXCLUDED.phone, "
        "email = EXCLUDED.email, wechat_openid = EXCLUDED.wechat_openid, "
        "app_user_id = EXCLUDED.app_user_id, postal_address = EXCLUDED.postal_address, "
        "allowed_channels = EXCLUDED.allowed_channels, "
        "preferred_channels = EXCLUDED.preferred_channels, "
        "do_not_contact = EXCLUDED.do_not_contact, locale = EXCLUDED.locale, "
        "updated_at = EXCLUDED.updated_at WHERE parties.updated_at <= EXCLUDED.updated_at",
        e.party_id,
        e.community_id,
        e.kind,
        e.name,
        e.phone,
        e.email,
        e.wechat_openid,
        e.app_user_id,
        e.postal_address,
        e.allowed_channels,
        e.preferred_channels,
        e.do_not_contact,
        e.locale,
        e.updated_at,
    )
    await conn.execute(
        "UPDATE notifications SET status = 'queued', status_reason = NULL "
        "WHERE party_id = $1 AND status = 'awaiting_contacts'",
        e.party_id,
    )


async def set_preferences(
    conn: asyncpg.Connection,
    party_id: str,
    *,
    allowed: list[str] | None,
    preferred: list[str] | None,
    do_not_contact: bool | None,
    note: str | None,
    set_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO party_preferences (party_id, allowed_channels, preferred_channels, "
        "do_not_contact, note, set_by) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (party_id) DO UPDATE SET allowed_channels = EXCLUDED.allowed_channels, "
        "preferred_channels = EXCLUDED.preferred_channels, "
        "do_not_contact = EXCLUDED.do_not_contact, note = EXCLUDED.note, "
        "set_by = EXCLUDED.set_by, updated_at = now()",
        party_id,
        allowed,
        preferred,
        do_not_contact,
        note,
        set_by,
    )


async def record_invoice_period(conn: asyncpg.Connection, e: InvoiceIssued) -> None:
    """The invoice's period and due date (issue 19): a receipt names the months it paid, a
    reminder the months it chases."""
    await conn.execute(
        "INSERT INTO invoice_periods (invoice_id, community_id, unit_id, period_start, "
        "period_end, due_date, room_label) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (invoice_id) DO UPDATE SET period_start = EXCLUDED.period_start, "
        "period_end = EXCLUDED.period_end, due_date = EXCLUDED.due_date, "
        "room_label = coalesce(EXCLUDED.room_label, invoice_periods.room_label)",
        e.invoice_id,
        e.community_id,
        e.unit_id,
        e.period_start,
        e.period_end,
        e.due_date,
        e.room_label,
    )


async def periods_of(
    conn: asyncpg.Connection, invoice_ids: list[str]
) -> dict[str, tuple[date, date]]:
    """The known periods of these invoices (those issued before this projection are not)."""
    rows = await conn.fetch(
        "SELECT invoice_id, period_start, period_end FROM invoice_periods "
        "WHERE invoice_id = ANY($1::text[])",
        invoice_ids,
    )
    return {r["invoice_id"]: (r["period_start"], r["period_end"]) for r in rows}
