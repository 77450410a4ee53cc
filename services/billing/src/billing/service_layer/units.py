"""Use cases of units: register one, read one, hand it over, sell it, register a vacancy.

Each is one transaction that checks the caller's scope (``visibility``), applies the registry
(``registry``) and audits the change. What staff send as the day of a fact (handover, sale,
vacancy) is a business date (``propfee.business_time``): back-dated within the company's
window only, never forward-dated; the service role chooses any."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from billing.service_layer import registry, visibility
from billing.service_layer.registry import PartyIn, SaleSettlement, SellerCredit, UnitIn
from propfee import audit
from propfee.auth import Principal, mask_personal, not_found
from propfee.business_time import business_date, utc_now


async def register_unit(
    pool: asyncpg.Pool,
    principal: Principal,
    unit: UnitIn,
    parking_spaces: list[str],
    audited: dict[str, Any],
) -> tuple[str, bool]:
    """A unit registered (True) or the same room found again (False). ``audited`` is what
    the audit trail records of the request (contacts masked by the caller)."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, unit.community_id)
        # The unit's id is the server's (random); the client's own identifier is a
        # reference within the community, so nothing here depends on other companies.
        unit_id, created = await registry.register_unit(conn, unit, datetime.now(UTC))
        await conn.executemany(
            "INSERT INTO parking_spaces (community_id, space_id, unit_id) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            [(unit.community_id, s, unit_id) for s in parking_spaces],
        )
        if created:
            await audit.record(
                conn,
                principal,
                "unit.created",
                "unit",
                unit_id,
                community_id=unit.community_id,
                unit_id=unit_id,
                company_id=company_id,
                after=audited,
            )
    return unit_id, created


async def unit_view(pool: asyncpg.Pool, principal: Principal, unit_id: str) -> dict[str, Any]:
    """A unit with who is tied to it and its credit on account (names and phones masked for
    roles that do not need them)."""
    await visibility.unit(pool, principal, unit_id)
    row = await pool.fetchrow(
        "SELECT unit_id, community_id, building_id, entrance, room, unit_key, reference, "
        "unit_type, floor_area_m2, status, handover_date, "
        "(SELECT coalesce(sum(credit_fen), 0) FROM account_credits a WHERE a.unit_id = u.unit_id) "
        "AS credit_fen FROM units u WHERE unit_id = $1",
        unit_id,
    )
    if row is None:
        raise not_found(f"unit {unit_id}")
    parties = await pool.fetch(
        "SELECT up.party_id, up.role, up.pays, up.valid_from, up.valid_to, p.name, p.phone "
        "FROM unit_parties up JOIN parties p USING (party_id) WHERE up.unit_id = $1 "
        "ORDER BY up.valid_from, up.role",
        unit_id,
    )
    return {**dict(row), "parties": [mask_personal(principal, dict(r)) for r in parties]}


async def _business_date(
    conn: asyncpg.Connection, principal: Principal, scope: asyncpg.Record, day: date, field: str
) -> date:
    return business_date(
        principal,
        day,
        utc_now(),
        field=field,
        time_zone=await visibility.time_zone(conn, scope["community_id"]),
        backdate_days=await visibility.backdate_days(conn, scope["company_id"]),
    )


async def _audit_unit(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: asyncpg.Record,
    unit_id: str,
    action: str,
    **after: Any,
) -> None:
    await audit.record(
        conn,
        principal,
        action,
        "unit",
        unit_id,
        community_id=scope["community_id"],
        unit_id=unit_id,
        company_id=scope["company_id"],
        after=after,
    )


async def hand_over(
    pool: asyncpg.Pool,
    principal: Principal,
    unit_id: str,
    handover_date: date,
    owner: PartyIn,
) -> str:
    """An unsold unit handed to its buyer (``billing.domain.handover``: the developer pays
    through the handover month); the owner's party id."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await visibility.unit(conn, principal, unit_id)
        day = await _business_date(conn, principal, scope, handover_date, "handover_date")
        owner = replace(owner, community_id=scope["community_id"])
        owner_id = await registry.record_handover(conn, unit_id, day, owner, datetime.now(UTC))
        await _audit_unit(
            conn,
            principal,
            scope,
            unit_id,
            "unit.handover",
            handover_date=day,
            owner_party_id=owner_id,
        )
    return owner_id


async def sell(
    pool: asyncpg.Pool,
    principal: Principal,
    unit_id: str,
    sold_on: date,
    buyer: PartyIn,
    seller_credit: SellerCredit,
) -> SaleSettlement:
    """A change of owner (``registry.record_sale``), audited once (the same sale again is
    found as recorded)."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await visibility.unit(conn, principal, unit_id)
        day = await _business_date(conn, principal, scope, sold_on, "sold_on")
        buyer = replace(buyer, community_id=scope["community_id"])
        settled = await registry.record_sale(
            conn,
            unit_id,
            day,
            buyer,
            seller_credit,
            datetime.now(UTC),
            recorded_by=principal.subject,
        )
        if settled.created:
            await _audit_unit(
                conn,
                principal,
                scope,
                unit_id,
                "unit.sale",
                sale_id=settled.sale_id,
                sold_on=day,
                buyer_party_id=settled.buyer_party_id,
                seller_party_ids=list(settled.seller_party_ids),
                seller_credit=settled.seller_credit,
                seller_credit_fen=settled.seller_credit_fen,
                arrears_to_settle_fen=settled.arrears_to_settle_fen,
            )
    return settled


async def register_vacancy(
    pool: asyncpg.Pool,
    principal: Principal,
    unit_id: str,
    registered_on: date,
    ended_on: date | None,
) -> None:
    """A registered vacancy (空置登记); back-dated further than the window it would buy a
    vacancy discount, so staff may not."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await visibility.unit(conn, principal, unit_id)
        await _business_date(conn, principal, scope, registered_on, "registered_on")
        await registry.register_vacancy(conn, unit_id, registered_on, ended_on)
        await _audit_unit(
            conn,
            principal,
            scope,
            unit_id,
            "unit.vacancy",
            registered_on=registered_on,
            ended_on=ended_on,
        )
