"""Parties as notifier knows them: contacts, reachable channels, the person's wishes."""

from __future__ import annotations

from fastapi import APIRouter

from notifier.entrypoints.models import Party, Preferences
from notifier.entrypoints.security import ContactWriter, Reader
from notifier.service_layer import staff
from propfee.auth import mask_personal
from propfee.http import Pool

router = APIRouter(tags=["parties"])


@router.put("/parties/{party_id}/preferences")
async def set_party_preferences(
    pool: Pool, party_id: str, body: staff.PreferencesIn, principal: ContactWriter
) -> Preferences:
    """Record what the person asked for; it wins over billing's data for this party (422 for
    an unknown channel). Audited (before and after)."""
    return Preferences(**await staff.set_preferences(pool, principal, party_id, body))


@router.get("/parties/{party_id}")
async def get_party(pool: Pool, party_id: str, principal: Reader) -> Party:
    """What notifier knows of a party: its contacts (masked for roles that do not see contact
    data), reachable channels and effective preferences."""
    view = await staff.party_view(pool, principal, party_id)
    return Party(**mask_personal(principal, view, staff.CONTACT_FIELDS))
