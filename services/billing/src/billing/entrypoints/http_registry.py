"""Billing's registry API: communities, units, parties, handovers, sales, ledger imports."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response

from billing.entrypoints import models
from billing.entrypoints.errors import domain_errors
from billing.service_layer import registry
from billing.service_layer.ids import stable_id
from billing.service_layer.ledger_import import import_ledger
from propfee.http import Pool
from propfee.masking import mask_value

router = APIRouter(tags=["registry"])


def _party(body: models.PartyBody, community_id: str, kind: str) -> registry.PartyIn:
    data = body.model_dump()
    data["allowed_channels"] = tuple(data["allowed_channels"])
    data["preferred_channels"] = tuple(data["preferred_channels"])
    return registry.PartyIn(community_id=community_id, kind=kind, **data)


@router.put("/communities/{community_id}")
async def put_community(
    community_id: models.Id, body: models.CommunityIn, pool: Pool
) -> dict[str, Any]:
    """Create or change a community and its contract terms; publishes CommunityUpdated."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            await registry.upsert_community(
                conn,
                registry.CommunityIn(community_id=community_id, **body.model_dump()),
                datetime.now(UTC),
            )
    return await get_community(community_id, pool)


@router.get("/communities/{community_id}")
async def get_community(community_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT c.*, (SELECT count(*) FROM units u WHERE u.community_id = c.community_id) AS units "
        "FROM communities c WHERE community_id = $1",
        community_id,
    )
    if row is None:
        raise HTTPException(404, f"community {community_id} not found")
    return dict(row)


@router.put("/vacancy-rules/{city}")
async def put_vacancy_rule(city: str, body: models.VacancyRuleIn, pool: Pool) -> dict[str, Any]:
    """A city's rule for registered vacant homes, e.g. pay 70% after 6 months."""
    await pool.execute(
        "INSERT INTO vacancy_rules (city, after_months, payable_share) VALUES ($1, $2, $3) "
        "ON CONFLICT (city) DO UPDATE SET after_months = $2, payable_share = $3",
        city,
        body.after_months,
        body.payable_share,
    )
    return {"city": city, **body.model_dump()}


@router.post("/units", status_code=201)
async def create_unit(body: models.UnitIn, pool: Pool, response: Response) -> dict[str, Any]:
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
            unit_id, created = await registry.register_unit(conn, unit, datetime.now(UTC))
            await conn.executemany(
                "INSERT INTO parking_spaces (community_id, space_id, unit_id) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(body.community_id, s, unit_id) for s in body.parking_spaces],
            )
    if not created:
        response.status_code = 200
    return await get_unit(unit_id, pool)


@router.get("/units/{unit_id}")
async def get_unit(unit_id: str, pool: Pool) -> dict[str, Any]:
    """A unit with who is tied to it (contact data masked) and its credit on account."""
    row = await pool.fetchrow(
        "SELECT unit_id, community_id, building_id, entrance, room, unit_key, unit_type, "
        "floor_area_m2, status, handover_date, "
        "(SELECT coalesce(sum(credit_fen), 0) FROM account_credits a WHERE a.unit_id = u.unit_id) "
        "AS credit_fen FROM units u WHERE unit_id = $1",
        unit_id,
    )
    if row is None:
        raise HTTPException(404, f"unit {unit_id} not found")
    parties = await pool.fetch(
        "SELECT up.party_id, up.role, up.pays, up.valid_from, up.valid_to, p.name, p.phone "
        "FROM unit_parties up JOIN parties p USING (party_id) WHERE up.unit_id = $1 "
        "ORDER BY up.valid_from, up.role",
        unit_id,
    )
    return {
        **dict(row),
        "parties": [
            {
                **{k: r[k] for k in ("party_id", "role", "pays", "valid_from", "valid_to")},
                "name": mask_value(r["name"]) if r["name"] else None,
                "phone": mask_value(r["phone"]) if r["phone"] else None,
            }
            for r in parties
        ],
    }


@router.post("/units/{unit_id}/handover")
async def handover(unit_id: str, body: models.HandoverIn, pool: Pool) -> dict[str, Any]:
    """An unsold unit handed to its buyer: the developer pays through the handover month."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            community_id = await conn.fetchval(
                "SELECT community_id FROM units WHERE unit_id = $1", unit_id
            )
            if community_id is None:
                raise registry.NotFound(f"unit {unit_id} not found")
            owner_id = await registry.record_handover(
                conn,
                unit_id,
                body.handover_date,
                _party(body.owner, community_id, "owner"),
                datetime.now(UTC),
            )
    return {"unit_id": unit_id, "owner_party_id": owner_id}


@router.post("/units/{unit_id}/sale")
async def sale(unit_id: str, body: models.SaleIn, pool: Pool) -> dict[str, Any]:
    """A change of owner; answers with the arrears to settle at the sale."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            community_id = await conn.fetchval(
                "SELECT community_id FROM units WHERE unit_id = $1", unit_id
            )
            if community_id is None:
                raise registry.NotFound(f"unit {unit_id} not found")
            buyer_id, arrears = await registry.record_sale(
                conn,
                unit_id,
                body.sold_on,
                _party(body.buyer, community_id, "owner"),
                datetime.now(UTC),
            )
    return {
        "unit_id": unit_id,
        "buyer_party_id": buyer_id,
        "arrears_to_settle_fen": sum(a["outstanding_fen"] for a in arrears),
        "arrears": [dict(a) for a in arrears],
    }


@router.post("/units/{unit_id}/vacancies", status_code=201)
async def vacancy(unit_id: str, body: models.VacancyIn, pool: Pool) -> dict[str, Any]:
    with domain_errors():
        async with pool.acquire() as conn:
            await registry.register_vacancy(conn, unit_id, body.registered_on, body.ended_on)
    return {"unit_id": unit_id, **body.model_dump()}


@router.post("/parties", status_code=201)
async def create_party(body: models.PartyIn, pool: Pool) -> dict[str, Any]:
    party = _party(
        models.PartyBody(**body.model_dump(exclude={"community_id", "kind"})),
        body.community_id,
        body.kind,
    )
    party_id = stable_id("pty", body.community_id, body.kind, body.name, body.phone)
    async with pool.acquire() as conn, conn.transaction():
        await registry.upsert_party(conn, party, party_id, datetime.now(UTC))
    return await get_party(party_id, pool)


@router.patch("/parties/{party_id}")
async def update_party(party_id: str, body: models.PartyBody, pool: Pool) -> dict[str, Any]:
    """Contact data and channel preferences; publishes PartyContactsUpdated when they change."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT community_id, kind FROM parties WHERE party_id = $1", party_id
        )
        if row is None:
            raise HTTPException(404, f"party {party_id} not found")
        await registry.upsert_party(
            conn, _party(body, row["community_id"], row["kind"]), party_id, datetime.now(UTC)
        )
    return await get_party(party_id, pool)


@router.get("/parties/{party_id}")
async def get_party(party_id: str, pool: Pool) -> dict[str, Any]:
    """A party with contact data masked (staff tools with the right role see more)."""
    row = await pool.fetchrow("SELECT * FROM parties WHERE party_id = $1", party_id)
    if row is None:
        raise HTTPException(404, f"party {party_id} not found")
    masked = {
        k: (mask_value(v) if isinstance(v, str) and v else v)
        for k, v in dict(row).items()
        if k in ("name", "phone", "email", "wechat_openid", "app_user_id", "postal_address")
    }
    return {**dict(row), **masked}


@router.post("/communities/{community_id}/ledger-imports")
async def ledger_import(
    community_id: str,
    pool: Pool,
    response: Response,
    data: Annotated[bytes, Body(media_type="application/octet-stream")],
    filename: Annotated[str, Query(description="original file name: .csv or .xlsx")],
    opening_as_of: Annotated[date, Query(description="first day of the month the arrears run to")],
    accept_good_rows: bool = False,
) -> dict[str, Any]:
    """Import a ledger (台账). A file with errors imports nothing (422 with every bad row)
    unless ``accept_good_rows``; importing the same file again changes nothing."""
    with domain_errors():
        report = await import_ledger(
            pool,
            community_id,
            data,
            filename,
            opening_as_of=opening_as_of,
            accept_good_rows=accept_good_rows,
        )
    result = asdict(report)
    if not report.imported:
        response.status_code = 422
    return result
