"""Units: register one, read one, hand it over, sell it, register a vacancy. Parse, call the
use case (``service_layer.units``), answer."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response

from billing.entrypoints import models
from billing.entrypoints.http_parties import party_in
from billing.entrypoints.security import Reader, RegistryWriter
from billing.service_layer import registry, units
from billing.service_layer.parties import masked_contacts
from propfee.auth import refused_ids
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["units"])


@router.post(
    "/units",
    status_code=201,
    openapi_extra=refused_ids("unit_id"),
    responses={
        **problem_responses(404, 409),
        200: {"model": models.UnitOut, "description": "The same room, found again"},
    },
)
async def create_unit(
    body: models.UnitIn, pool: Pool, response: Response, principal: RegistryWriter
) -> models.UnitOut:
    """Register a unit (201), or find the same room of the community again (200). Its id is
    random; ``reference``, the client's own identifier, is unique within the community (409
    when another room has it)."""
    unit = registry.UnitIn(
        community_id=body.community_id,
        building=body.building,
        room=body.room,
        unit_type=body.unit_type,
        floor_area_m2=body.floor_area_m2,
        status=body.status,
        entrance=body.entrance,
        handover_date=body.handover_date,
        owner=party_in(body.owner, body.community_id, "owner") if body.owner else None,
        tenant=party_in(body.tenant, body.community_id, "tenant") if body.tenant else None,
        payer=body.payer,
        reference=body.reference,
    )
    audited = body.model_dump(exclude={"owner", "tenant"})
    for role in ("owner", "tenant"):
        audited[role] = masked_contacts(body.model_dump()[role])
    unit_id, created = await units.register_unit(
        pool, principal, unit, body.parking_spaces, audited
    )
    if not created:
        response.status_code = 200
    return await get_unit(unit_id, pool, principal)


@router.get("/units/{unit_id}")
async def get_unit(unit_id: models.Id, pool: Pool, principal: Reader) -> models.UnitOut:
    """A unit with who is tied to it and its credit on account (names and phone numbers
    masked for roles that do not need them)."""
    return models.UnitOut(**await units.unit_view(pool, principal, unit_id))


@router.post("/units/{unit_id}/handover")
async def hand_over_unit(
    unit_id: models.Id, body: models.HandoverIn, pool: Pool, principal: RegistryWriter
) -> models.HandoverOut:
    """An unsold unit handed to its buyer: the developer pays through the handover month,
    the owner from the next. ``handover_date``: staff back-date it within the company's
    window only (403)."""
    owner = party_in(body.owner, "", "owner")  # the unit's community, set by the use case
    owner_id = await units.hand_over(pool, principal, unit_id, body.handover_date, owner)
    return models.HandoverOut(unit_id=unit_id, owner_party_id=owner_id)


@router.post("/units/{unit_id}/sale", responses=problem_responses(409))
async def sell_unit(
    unit_id: models.Id, body: models.SaleIn, pool: Pool, principal: RegistryWriter
) -> models.SaleOut:
    """A change of owner. Answers the seller's arrears, each invoice with its principal and
    late fee as of the sale date, and the seller's credit, refunded or transferred to the
    buyer as ``seller_credit`` says (required; the same sale again with another choice is
    409). The seller pays through the month of the sale, the buyer from the next; the
    buyer's account starts clean. ``sold_on``: staff back-date it within the company's
    window only (403). Audited."""
    buyer = party_in(body.buyer, "", "owner")  # the unit's community, set by the use case
    settled = await units.sell(pool, principal, unit_id, body.sold_on, buyer, body.seller_credit)
    return models.SaleOut(
        unit_id=unit_id,
        sale_id=settled.sale_id,
        sold_on=settled.sold_on,
        sold_at=settled.sold_at,
        buyer_party_id=settled.buyer_party_id,
        seller_party_ids=list(settled.seller_party_ids),
        arrears_to_settle_fen=settled.arrears_to_settle_fen,
        arrears=[models.SaleArrearOut(**asdict(a), owed_fen=a.owed_fen) for a in settled.arrears],
        seller_credit=settled.seller_credit,
        seller_credit_fen=settled.seller_credit_fen,
    )


@router.post("/units/{unit_id}/vacancies", status_code=201)
async def register_vacancy(
    unit_id: models.Id, body: models.VacancyIn, pool: Pool, principal: RegistryWriter
) -> models.VacancyOut:
    """A registered vacancy (空置登记); ``registered_on``: staff back-date it within the
    company's window only (403)."""
    await units.register_vacancy(pool, principal, unit_id, body.registered_on, body.ended_on)
    return models.VacancyOut(unit_id=unit_id, **body.model_dump())
