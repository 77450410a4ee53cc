"""Community-wide reads: its units a page at a time, where its money went, and the audited
export of its contact list."""

from __future__ import annotations

from typing import Any

import asyncpg

from billing.service_layer import visibility
from propfee import audit
from propfee.auth import Principal

_UNITS = """
SELECT u.unit_id, u.unit_key, u.building_id, u.entrance, u.room, u.unit_type, u.floor_area_m2,
       u.status, u.handover_date,
       (SELECT up.party_id FROM unit_parties up
         WHERE up.unit_id = u.unit_id AND up.pays AND up.valid_to IS NULL
         ORDER BY up.valid_from DESC LIMIT 1) AS payer_party_id
  FROM units u
 WHERE u.community_id = $1 AND u.unit_id > $2
   AND ($4::text IS NULL OR u.room = $4)
   AND ($5::text IS NULL OR u.building_id = $5)
 ORDER BY u.unit_id
 LIMIT $3
"""


async def units_page(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    after: str,
    fetch: int,
    *,
    room: str | None = None,
    building_id: str | None = None,
) -> list[dict[str, Any]]:
    """Up to ``fetch`` units of the community in id order after ``after`` (keyset), each with
    the party who pays now; only those of ``room`` (the room number, exact) and
    ``building_id`` when given."""
    await visibility.community(pool, principal, community_id)
    rows = await pool.fetch(_UNITS, community_id, after, fetch, room, building_id)
    return [dict(r) for r in rows]


_MONEY = """
SELECT
  (SELECT count(*) FROM payments_received WHERE community_id = $1)::bigint AS payments,
  (SELECT coalesce(sum(amount_fen), 0) FROM payments_received WHERE community_id = $1)
      ::bigint AS payments_fen,
  (SELECT coalesce(sum(r.amount_fen), 0) FROM refunds_received r
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS refunds_fen,
  (SELECT coalesce(sum(a.amount_fen), 0) FROM allocations a
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS allocated_fen,
  (SELECT coalesce(sum(c.credit_fen), 0) FROM account_credits c
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS credit_fen
"""


async def money_report(
    pool: asyncpg.Pool, principal: Principal, community_id: str
) -> dict[str, Any]:
    """Where every fen received went; ``balanced``: payments − refunds = allocated + credit."""
    await visibility.community(pool, principal, community_id)
    row = dict(await pool.fetchrow(_MONEY, community_id) or {})
    row["balanced"] = (
        row["payments_fen"] - row["refunds_fen"] == row["allocated_fen"] + row["credit_fen"]
    )
    row["currency"] = "CNY"
    return row


_CONTACTS = """
SELECT u.unit_key, up.role, up.pays, p.party_id, p.name, p.phone, p.email, p.postal_address,
       p.do_not_contact
  FROM units u
  JOIN unit_parties up ON up.unit_id = u.unit_id AND up.valid_to IS NULL
  JOIN parties p ON p.party_id = up.party_id
 WHERE u.community_id = $1 AND up.role <> 'developer'
   AND ($2::text IS NULL OR (u.unit_key, up.role, p.party_id) > ($2, $3, $4))
 ORDER BY u.unit_key, up.role, p.party_id
 LIMIT $5
"""
CONTACT_COLUMNS = [
    "unit_key", "role", "pays", "party_id", "name", "phone", "email", "postal_address",
    "do_not_contact",
]  # fmt: skip


async def export_contacts(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    reason: str,
    format: str,
    *,
    after: list[Any] | None = None,
    page_size: int | None = None,
) -> list[dict[str, Any]]:
    """The current owners and tenants with their contact data, unmasked, in (unit, role,
    party) order: all of them, or a page of ``page_size`` after the key ``after`` (one row
    more is fetched, to tell whether there is a next page). Every export (each page)
    is recorded in the audit trail (who, when, how many rows, why) in the same transaction."""
    key: list[Any] = after or [None, None, None]
    fetch = page_size + 1 if page_size is not None else None
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, community_id)
        rows = [dict(r) for r in await conn.fetch(_CONTACTS, community_id, *key, fetch)]
        await audit.record(
            conn,
            principal,
            "contacts.exported",
            "community",
            community_id,
            community_id=community_id,
            company_id=company_id,
            after={"rows": len(rows[:page_size]), "format": format},
            reason=reason,
        )
    return rows
