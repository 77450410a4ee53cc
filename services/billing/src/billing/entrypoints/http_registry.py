"""Billing's registry API: communities, units, parties, handovers, sales, ledger imports.

Every change is audited (``propfee.audit``) in its transaction; contact data is served
unmasked only to roles that need it (``CONTACT_ROLES``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, HTTPException, Query, Response

from billing.entrypoints import models, security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.security import (
    BillingWriter,
    PartyWriter,
    Reader,
    RegistryWriter,
    VacancyRuleWriter,
)
from billing.service_layer import registry
from billing.service_layer.ids import stable_id
from billing.service_layer.ledger_import import ImportReport, import_ledger
from propfee import audit, uploads
from propfee.auth import Principal, ensure_visible, mask_personal, new_ids, not_found
from propfee.http import Pool
from propfee.masking import mask_value

router = APIRouter(tags=["registry"])
PARTY_CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "app_user_id", "postal_address")


def _party(body: models.PartyBody, community_id: str, kind: str) -> registry.PartyIn:
    data = body.model_dump()
    data["allowed_channels"] = tuple(data["allowed_channels"])
    data["preferred_channels"] = tuple(data["preferred_channels"])
    return registry.PartyIn(community_id=community_id, kind=kind, **data)


def _masked_contacts(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Contact data as the audit trail keeps it: masked (the registry holds the real values)."""
    if data is None:
        return None
    return {
        k: (mask_value(v) if k in PARTY_CONTACT_FIELDS and isinstance(v, str) and v else v)
        for k, v in data.items()
    }


@router.put("/communities/{community_id}", openapi_extra=new_ids("community_id"))
async def put_community(
    community_id: models.Id, body: models.CommunityIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """Create or change a community and its contract terms; publishes CommunityUpdated.
    A community stays in its company; a token creates communities of its own company only."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM communities WHERE community_id = $1 FOR UPDATE", community_id
            )
            if before is not None:
                ensure_visible(
                    principal, community_id, before["company_id"], f"community {community_id}"
                )
            if not principal.all_companies and body.company_id != principal.company_id:
                raise HTTPException(403, "company_id: not your company")
            if before is not None and before["company_id"] != body.company_id:
                raise HTTPException(409, "company_id: a community cannot change company")
            if before is None and not principal.sees(community_id, body.company_id):
                raise HTTPException(403, f"community {community_id}: not in your token's scope")
            await registry.upsert_community(
                conn,
                registry.CommunityIn(community_id=community_id, **body.model_dump()),
                datetime.now(UTC),
            )
            await audit.record(
                conn,
                principal,
                "community.updated" if before else "community.created",
                "community",
                community_id,
                community_id=community_id,
                company_id=body.company_id,
                before=dict(before) if before else None,
                after=body.model_dump(),
            )
    return await get_community(community_id, pool, principal)


@router.get("/communities/{community_id}")
async def get_community(community_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT c.*, (SELECT count(*) FROM units u WHERE u.community_id = c.community_id) AS units "
        "FROM communities c WHERE community_id = $1",
        community_id,
    )
    if row is None:
        raise not_found(f"community {community_id}")
    ensure_visible(principal, community_id, row["company_id"], f"community {community_id}")
    return dict(row)


@router.put("/vacancy-rules/{city}")
async def put_vacancy_rule(
    city: str, body: models.VacancyRuleIn, pool: Pool, principal: VacancyRuleWriter
) -> dict[str, Any]:
    """A city's rule for registered vacant homes, e.g. pay 70% after 6 months (company-wide
    tokens only: it applies to every community in the city)."""
    if not principal.all_communities:
        raise HTTPException(403, "a city's rule needs a token for all communities")
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            "SELECT after_months, payable_share FROM vacancy_rules WHERE city = $1 FOR UPDATE",
            city,
        )
        await conn.execute(
            "INSERT INTO vacancy_rules (city, after_months, payable_share) VALUES ($1, $2, $3) "
            "ON CONFLICT (city) DO UPDATE SET after_months = $2, payable_share = $3",
            city,
            body.after_months,
            body.payable_share,
        )
        await audit.record(
            conn,
            principal,
            "vacancy_rule.set",
            "vacancy_rule",
            city,
            community_id=None,
            before=dict(before) if before else None,
            after=body.model_dump(),
        )
    return {"city": city, **body.model_dump()}


@router.post("/units", status_code=201, openapi_extra=new_ids("unit_id"))
async def create_unit(
    body: models.UnitIn, pool: Pool, response: Response, principal: RegistryWriter
) -> dict[str, Any]:
    unit = registry.UnitIn(
        community_id=body.community_id,
        building=body.building,
        room=body.room,
        unit_type=body.unit_type,
        floor_area_m2=body.floor_area_m2,
        status=body.status,
        entrance=body.entrance,
        handover_date=body.handover_date,
        owner=_party(body.owner, body.community_id, "owner") if body.owner else None,
        tenant=_party(body.tenant, body.community_id, "tenant") if body.tenant else None,
        payer=body.payer,
        unit_id=body.unit_id,
    )
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, body.community_id)
            if body.unit_id is not None:
                # A caller-chosen id must not reach into another community's unit.
                existing = await conn.fetchval(
                    "SELECT community_id FROM units WHERE unit_id = $1", body.unit_id
                )
                if existing is not None and existing != body.community_id:
                    raise HTTPException(409, f"unit_id: {body.unit_id} is already taken")
            unit_id, created = await registry.register_unit(conn, unit, datetime.now(UTC))
            await conn.executemany(
                "INSERT INTO parking_spaces (community_id, space_id, unit_id) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(body.community_id, s, unit_id) for s in body.parking_spaces],
            )
            if created:
                after = body.model_dump(exclude={"owner", "tenant"})
                for role in ("owner", "tenant"):
                    after[role] = _masked_contacts(body.model_dump()[role])
                await audit.record(
                    conn,
                    principal,
                    "unit.created",
                    "unit",
                    unit_id,
                    community_id=body.community_id,
                    unit_id=unit_id,
                    company_id=company_id,
                    after=after,
                )
    if not created:
        response.status_code = 200
    return await get_unit(unit_id, pool, principal)


@router.get("/units/{unit_id}")
async def get_unit(unit_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """A unit with who is tied to it and its credit on account (names and phone numbers
    masked for roles that do not need them)."""
    await security.unit(pool, principal, unit_id)
    row = await pool.fetchrow(
        "SELECT unit_id, community_id, building_id, entrance, room, unit_key, unit_type, "
        "floor_area_m2, status, handover_date, "
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


async def _unit_change(
    conn: asyncpg.Connection, principal: Principal, unit_id: str, action: str, **after: Any
) -> None:
    scope = await security.unit(conn, principal, unit_id)
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


@router.post("/units/{unit_id}/handover")
async def handover(
    unit_id: str, body: models.HandoverIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """An unsold unit handed to its buyer: the developer pays through the handover month."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            owner_id = await registry.record_handover(
                conn,
                unit_id,
                body.handover_date,
                _party(body.owner, scope["community_id"], "owner"),
                datetime.now(UTC),
            )
            await _unit_change(
                conn,
                principal,
                unit_id,
                "unit.handover",
                handover_date=body.handover_date,
                owner_party_id=owner_id,
            )
    return {"unit_id": unit_id, "owner_party_id": owner_id}


@router.post("/units/{unit_id}/sale")
async def sale(
    unit_id: str, body: models.SaleIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """A change of owner; answers with the arrears to settle at the sale."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            buyer_id, arrears = await registry.record_sale(
                conn,
                unit_id,
                body.sold_on,
                _party(body.buyer, scope["community_id"], "owner"),
                datetime.now(UTC),
            )
            await _unit_change(
                conn, principal, unit_id, "unit.sale", sold_on=body.sold_on, buyer_party_id=buyer_id
            )
    return {
        "unit_id": unit_id,
        "buyer_party_id": buyer_id,
        "arrears_to_settle_fen": sum(a["outstanding_fen"] for a in arrears),
        "arrears": [dict(a) for a in arrears],
    }


@router.post("/units/{unit_id}/vacancies", status_code=201)
async def vacancy(
    unit_id: str, body: models.VacancyIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            await security.unit(conn, principal, unit_id)
            await registry.register_vacancy(conn, unit_id, body.registered_on, body.ended_on)
            await _unit_change(conn, principal, unit_id, "unit.vacancy", **body.model_dump())
    return {"unit_id": unit_id, **body.model_dump()}


@router.post("/parties", status_code=201)
async def create_party(body: models.PartyIn, pool: Pool, principal: PartyWriter) -> dict[str, Any]:
    party = _party(
        models.PartyBody(**body.model_dump(exclude={"community_id", "kind"})),
        body.community_id,
        body.kind,
    )
    party_id = stable_id("pty", body.community_id, body.kind, body.name, body.phone)
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, body.community_id)
        if await registry.upsert_party(conn, party, party_id, datetime.now(UTC)):
            await audit.record(
                conn,
                principal,
                "party.upserted",
                "party",
                party_id,
                community_id=body.community_id,
                company_id=company_id,
                after=_masked_contacts(body.model_dump()),
            )
    return await get_party(party_id, pool, principal)


@router.patch("/parties/{party_id}")
async def update_party(
    party_id: str, body: models.PartyBody, pool: Pool, principal: PartyWriter
) -> dict[str, Any]:
    """Contact data and channel preferences; publishes PartyContactsUpdated when they change.
    A partial update: the fields the body names change (``null`` clears one), the others
    keep their values, so recording a mailing address does not erase the phone number."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.party(conn, principal, party_id)
        before = await conn.fetchrow(
            "SELECT * FROM parties WHERE party_id = $1 FOR UPDATE", party_id
        )
        current = {k: before[k] for k in models.PartyBody.model_fields} if before else {}
        # The body was validated; the stored values are the registry's own (an import may
        # have accepted what this body's limits would not), so they are not validated again.
        merged = models.PartyBody.model_construct(
            **{**current, **body.model_dump(exclude_unset=True)}
        )
        changed = await registry.upsert_party(
            conn,
            _party(merged, scope["community_id"], scope["kind"]),
            party_id,
            datetime.now(UTC),
        )
        if changed:
            await audit.record(
                conn,
                principal,
                "party.updated",
                "party",
                party_id,
                community_id=scope["community_id"],
                company_id=scope["company_id"],
                before=_masked_contacts(dict(before) if before else None),
                after=_masked_contacts(merged.model_dump()),
            )
    return await get_party(party_id, pool, principal)


@router.get("/parties/{party_id}")
async def get_party(party_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """A party; contact data masked for roles that do not need it."""
    await security.party(pool, principal, party_id)
    row = await pool.fetchrow("SELECT * FROM parties WHERE party_id = $1", party_id)
    if row is None:
        raise not_found(f"party {party_id}")
    return mask_personal(principal, dict(row), PARTY_CONTACT_FIELDS)


@router.post("/communities/{community_id}/ledger-imports")
async def ledger_import(
    community_id: str,
    pool: Pool,
    response: Response,
    principal: BillingWriter,
    data: Annotated[bytes, Body(media_type="application/octet-stream")],
    filename: Annotated[
        str, Query(min_length=1, max_length=255, description="original file name: .csv or .xlsx")
    ],
    opening_as_of: Annotated[date, Query(description="first day of the month the arrears run to")],
    limits: uploads.Limits,
    accept_good_rows: bool = False,
) -> dict[str, Any]:
    """Import a ledger (台账). A file with errors imports nothing (422 with every bad row)
    unless ``accept_good_rows``; importing the same file again changes nothing. A file past
    the upload limits (``BILLING_MAX_UPLOAD_*``, ``BILLING_MAX_XLSX_*``) is refused: 413 for
    its size, rows or inflation, 422 naming the row and column of a cell too long."""
    company_id = await security.community(pool, principal, community_id)

    async def audited(conn: asyncpg.Connection, report: ImportReport) -> None:
        summary = asdict(report)
        summary.pop("errors")
        summary["rows_rejected"] = len({e.row for e in report.errors})
        await audit.record(
            conn,
            principal,
            "ledger.imported",
            "ledger_import",
            filename,
            community_id=community_id,
            company_id=company_id,
            after=summary,
        )

    with domain_errors():
        report = await import_ledger(
            pool,
            community_id,
            data,
            filename,
            opening_as_of=opening_as_of,
            accept_good_rows=accept_good_rows,
            on_imported=audited,
            limits=limits,
        )
    result = asdict(report)
    if not report.imported:
        response.status_code = 422
    return result
