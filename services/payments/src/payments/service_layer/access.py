"""Scoped lookups: what a caller may see of payments' records (404 for anything else, the
same answer whether it is absent or another's). The role sets are in
``entrypoints.security``; the ids a request names are resolved before a route runs
(``adapters.scoping``); these load the records themselves, inside the caller's transaction.

Gateway-level records — statement imports, discrepancies, exceptions whose community is
unknown (money for an order payments never had) — belong to a merchant account (mchid /
app_id / merId) and so to the company owning it (``service_layer.accounts``), not to one
community: only that company's tokens whose communities claim is "*" reach them (and a
deployment-wide service token).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

import asyncpg

from propfee.auth import Principal, ensure_visible_known, not_found, visible_row

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


#: A community whose company payments has not learnt yet is outside company-bound scopes.
ensure_reaches = ensure_visible_known


def reaches_gateway_level(principal: Principal) -> bool:
    """Statements, discrepancies, exceptions without a community: company-wide tokens only
    (of the company owning the merchant account: ``merchant_sql``, ``merchant_record``)."""
    return principal.all_communities


def merchant_sql(owner: str, company: int, communities: int) -> str:
    """A SQL condition keeping gateway-level rows (``owner``: their merchant account's
    company column) for company-wide callers of that company, and the deployment's."""
    return (
        f"(${communities}::text[] IS NULL AND (${company}::text IS NULL OR {owner} = ${company}))"
    )


def scope_sql(
    column: str, company: int, communities: int, *, gateway_level: str | None = None
) -> str:
    """A SQL condition keeping rows whose community the caller may see. ``column`` is
    qualified with its table (it is used inside a subquery over ``communities``); the
    parameters ``$company`` and ``$communities`` are ``principal.sql_scope()``. With
    ``gateway_level`` (the rows' merchant company column), rows without a community are kept
    for company-wide callers of the merchant account's company."""
    scoped = (
        f"((${company}::text IS NULL OR EXISTS (SELECT 1 FROM communities sc "
        f"WHERE sc.community_id = {column} AND sc.company_id = ${company})) "
        f"AND (${communities}::text[] IS NULL OR {column} = ANY(${communities})))"
    )
    if gateway_level:
        merchant = merchant_sql(gateway_level, company, communities)
        return f"({scoped} OR ({column} IS NULL AND {merchant}))"
    return scoped


async def company_of(conn: Conn, community_id: str) -> str | None:
    company: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    return company


async def community(conn: Conn, principal: Principal, community_id: str) -> str | None:
    """The community's company; 404 unless the caller may see the community."""
    company = await company_of(conn, community_id)
    ensure_reaches(principal, community_id, company, f"community {community_id}")
    return company


async def communities(conn: Conn, principal: Principal, ids: Iterable[str]) -> dict[str, str]:
    """Each community's company; 404 naming the first one the caller may not see."""
    wanted = sorted(set(ids))
    rows = await conn.fetch(
        "SELECT community_id, company_id FROM communities WHERE community_id = ANY($1::text[])",
        wanted,
    )
    known = {r["community_id"]: r["company_id"] for r in rows}
    for community_id in wanted:
        ensure_reaches(
            principal, community_id, known.get(community_id), f"community {community_id}"
        )
    return known


async def unit(conn: Conn, principal: Principal, unit_id: str) -> asyncpg.Record:
    """``(community_id, company_id)`` of a unit payments knows (from billing's invoices, or a
    payment or order of it) and the caller may see; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"unit {unit_id}",
        "SELECT u.community_id, c.company_id FROM ("
        " (SELECT community_id FROM invoices WHERE unit_id = $1 LIMIT 1) UNION ALL"
        " (SELECT community_id FROM payments WHERE unit_id = $1 LIMIT 1) UNION ALL"
        " (SELECT community_id FROM payment_orders WHERE unit_id = $1 LIMIT 1)) u "
        "LEFT JOIN communities c USING (community_id) LIMIT 1",
        unit_id,
        check=ensure_reaches,
    )


async def payment(
    conn: Conn, principal: Principal, payment_id: str, *, for_update: bool = False
) -> asyncpg.Record:
    """The payment row (with ``company_id``) when the caller may see it; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"payment {payment_id}",
        "SELECT p.*, c.company_id FROM payments p LEFT JOIN communities c USING (community_id) "
        f"WHERE p.payment_id = $1{' FOR UPDATE OF p' if for_update else ''}",
        payment_id,
        check=ensure_reaches,
    )


async def refund(
    conn: Conn, principal: Principal, refund_id: str, *, for_update: bool = False
) -> asyncpg.Record:
    """A refund (with its payment's ``community_id`` and ``company_id``) the caller may see;
    404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"refund {refund_id}",
        "SELECT r.*, p.community_id, c.company_id FROM refunds r JOIN payments p "
        "USING (payment_id) LEFT JOIN communities c ON c.community_id = p.community_id "
        f"WHERE r.refund_id = $1{' FOR UPDATE OF r' if for_update else ''}",
        refund_id,
        check=ensure_reaches,
    )


async def receipt(conn: Conn, principal: Principal, receipt_no: str) -> str:
    """The payment id of a counter receipt the caller may see; 404 otherwise."""
    row = await visible_row(
        conn,
        principal,
        f"receipt {receipt_no}",
        "SELECT p.payment_id, p.community_id, c.company_id FROM payments p "
        "LEFT JOIN communities c USING (community_id) WHERE p.receipt_no = $1",
        receipt_no,
        check=ensure_reaches,
    )
    payment_id: str = row["payment_id"]
    return payment_id


async def order(conn: Conn, principal: Principal, order_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"order {order_id}",
        "SELECT o.*, c.company_id FROM payment_orders o "
        "LEFT JOIN communities c USING (community_id) WHERE o.order_id = $1",
        order_id,
        check=ensure_reaches,
    )


async def pay_link(
    conn: Conn, principal: Principal, token: str, *, for_update: bool = False
) -> asyncpg.Record:
    """A pay link (with its community's ``company_id``) the caller may see; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        "pay link",
        "SELECT p.token, p.community_id, p.unit_id, p.expires_at, c.company_id FROM pay_links p "
        "LEFT JOIN communities c USING (community_id) "
        f"WHERE p.token = $1{' FOR UPDATE OF p' if for_update else ''}",
        token,
        check=ensure_reaches,
    )


async def exception(conn: Conn, principal: Principal, exception_id: str) -> asyncpg.Record:
    """An exception for finance review; one without a community is gateway-level."""
    row = await conn.fetchrow(
        "SELECT e.*, c.company_id AS community_company_id FROM payment_exceptions e "
        "LEFT JOIN communities c USING (community_id) WHERE e.exception_id = $1",
        exception_id,
    )
    if row is None:
        raise not_found(f"exception {exception_id}")
    if row["community_id"] is None:
        merchant_record(principal, row["company_id"], f"exception {exception_id}")
    else:
        ensure_reaches(
            principal,
            row["community_id"],
            row["community_company_id"],
            f"exception {exception_id}",
        )
    return row


async def discrepancy(conn: Conn, principal: Principal, discrepancy_id: str) -> asyncpg.Record:
    """A reconciliation discrepancy (gateway-level: company-wide tokens of the company owning
    its merchant account only)."""
    row = await conn.fetchrow(
        "SELECT * FROM discrepancies WHERE discrepancy_id = $1", discrepancy_id
    )
    if row is None:
        raise not_found(f"discrepancy {discrepancy_id}")
    merchant_record(principal, row["company_id"], f"discrepancy {discrepancy_id}")
    return row


def gateway_level(principal: Principal, what: str) -> None:
    """404 unless the caller is company-wide (statements, the merchant accounts' records)."""
    if not reaches_gateway_level(principal):
        raise not_found(what)


def merchant_record(principal: Principal, company_id: str | None, what: str) -> None:
    """404 unless the caller is company-wide in the company owning the record's merchant
    account (a record of an account without a company: the deployment's service role only)."""
    gateway_level(principal, what)
    if not principal.all_companies and company_id != principal.company_id:
        raise not_found(what)
