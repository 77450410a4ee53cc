"""Scoping lookups: what an id names, in which community and company, and whether the caller
may see it (404 for what does not exist and for what the caller may not see: the same answer,
so ids of other companies cannot be probed). Called by the service layer and, through
``entrypoints.security``, by routes that check a path id before their use case runs."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from billing.errors import Forbidden
from propfee.auth import Principal, ensure_visible, not_found, sql_resolver, visible_row

#: The scope registry's resolver of e-invoice requests (``entrypoints.scoping``).
E_INVOICE_REQUEST_RESOLVER = sql_resolver(
    "SELECT r.request_id AS id, u.community_id, c.company_id FROM e_invoice_requests r "
    "JOIN units u USING (unit_id) JOIN communities c ON c.community_id = u.community_id "
    "WHERE r.request_id = ANY($1::text[])"
)

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def community(conn: Conn, principal: Principal, community_id: str) -> str:
    """The community's company; 404 when it does not exist or the caller may not see it."""
    company_id: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    if company_id is None:
        raise not_found(f"community {community_id}")
    ensure_visible(principal, community_id, company_id, f"community {community_id}")
    return company_id


async def backdate_days(conn: Conn, company_id: str) -> int | None:
    """The company's window for back-dated records (``propfee.business_time``)."""
    days: int | None = await conn.fetchval(
        "SELECT backdate_days FROM companies WHERE company_id = $1", company_id
    )
    return days


async def time_zone(conn: Conn, community_id: str) -> str:
    zone: str | None = await conn.fetchval(
        "SELECT time_zone FROM communities WHERE community_id = $1", community_id
    )
    return zone or "Asia/Shanghai"


async def company(conn: Conn, principal: Principal, company_id: str) -> asyncpg.Record:
    """The company's row; 404 when it does not exist or is not the caller's company."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM companies WHERE company_id = $1", company_id
    )
    if row is None or not (principal.all_companies or principal.company_id == company_id):
        raise not_found(f"company {company_id}")
    return row


async def company_level(conn: Conn, principal: Principal, company_id: str) -> asyncpg.Record:
    """``company`` for a change of company data: 403 unless the caller is company-level."""
    row = await company(conn, principal, company_id)
    if not principal.company_level:
        raise Forbidden(
            f"company {company_id}: company data is changed by a company admin for every "
            'community (communities claim "*") or the service role',
        )
    return row


async def unit(conn: Conn, principal: Principal, unit_id: str) -> asyncpg.Record:
    """``(community_id, company_id)`` of a unit the caller may see; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"unit {unit_id}",
        "SELECT u.community_id, c.company_id FROM units u JOIN communities c USING (community_id) "
        "WHERE u.unit_id = $1",
        unit_id,
    )


async def invoice(conn: Conn, principal: Principal, invoice_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"invoice {invoice_id}",
        "SELECT i.unit_id, i.community_id, c.company_id FROM invoices i "
        "JOIN communities c USING (community_id) WHERE i.invoice_id = $1",
        invoice_id,
    )


async def payment(conn: Conn, principal: Principal, payment_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"payment {payment_id}",
        "SELECT p.unit_id, p.community_id, c.company_id FROM payments_received p "
        "JOIN communities c USING (community_id) WHERE p.payment_id = $1",
        payment_id,
    )


async def party(conn: Conn, principal: Principal, party_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"party {party_id}",
        "SELECT p.community_id, p.kind, c.company_id FROM parties p "
        "JOIN communities c USING (community_id) WHERE p.party_id = $1",
        party_id,
    )


async def e_invoice_request(conn: Conn, principal: Principal, request_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"e-invoice request {request_id}",
        "SELECT r.unit_id, u.community_id, c.company_id FROM e_invoice_requests r "
        "JOIN units u USING (unit_id) JOIN communities c ON c.community_id = u.community_id "
        "WHERE r.request_id = $1",
        request_id,
    )


async def visible_waiver_request(
    conn: Conn, principal: Principal, request_id: str
) -> asyncpg.Record:
    """A late-fee waiver request with its community's company, locked for its decision."""
    return await visible_row(
        conn,
        principal,
        f"waiver request {request_id}",
        "SELECT r.*, c.company_id FROM late_fee_waiver_requests r "
        "JOIN communities c USING (community_id) WHERE r.request_id = $1 FOR UPDATE OF r",
        request_id,
    )
