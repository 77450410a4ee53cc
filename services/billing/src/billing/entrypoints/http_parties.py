"""Parties (owners, tenants, the developer): contacts and channel preferences. Parse, call the
use case (``service_layer.parties``), answer."""

from __future__ import annotations

from fastapi import APIRouter

from billing.entrypoints import models
from billing.entrypoints.security import PartyWriter, Reader
from billing.service_layer import parties, registry
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["parties"])


def party_in(body: models.PartyBody, community_id: str, kind: str) -> registry.PartyIn:
    """A validated party body as the registry takes it."""
    data = body.model_dump()
    data["allowed_channels"] = tuple(data["allowed_channels"])
    data["preferred_channels"] = tuple(data["preferred_channels"])
    return registry.PartyIn(community_id=community_id, kind=kind, **data)


@router.post("/parties", status_code=201, responses=problem_responses(404))
async def create_party(body: models.PartyIn, pool: Pool, principal: PartyWriter) -> models.PartyOut:
    """Register a party. ``phone`` is a mainland mobile or landline (422 naming ``phone``
    otherwise; a party reached by ``sms`` needs a mobile); ``id_number`` a 居民身份证号码.
    A person already registered in the community with the same mobile is that party: it is
    answered as it is (PATCH changes its contacts)."""
    party = party_in(
        models.PartyBody(**body.model_dump(exclude={"community_id", "kind"})),
        body.community_id,
        body.kind,
    )
    party_id = await parties.register_party(pool, principal, party)
    return await get_party(party_id, pool, principal)


@router.patch("/parties/{party_id}")
async def update_party(
    party_id: models.Id, body: models.PartyBody, pool: Pool, principal: PartyWriter
) -> models.PartyOut:
    """Contact data and channel preferences; publishes PartyContactsUpdated when they change.
    A partial update: the fields the body names change (``null`` clears one), the others
    keep their values, so recording a mailing address does not erase the phone number.
    ``sms`` among the channels needs a mobile, the stored one or the body's (422)."""
    changes = body.model_dump(exclude_unset=True)
    await parties.change_party(pool, principal, party_id, changes)
    return await get_party(party_id, pool, principal)


@router.get("/parties/{party_id}")
async def get_party(party_id: models.Id, pool: Pool, principal: Reader) -> models.PartyOut:
    """A party; contact data masked for roles that do not need it, the identity card number
    masked for every role."""
    return models.PartyOut(**await parties.party_view(pool, principal, party_id))
