"""Use cases of parties (owners, tenants, the developer): register one, change its contacts,
read it. Contact data is personal: the audit trail keeps it masked, answers mask it for roles
that do not need it, and an identity card number is answered masked to every role."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from billing.errors import InvalidInput
from billing.service_layer import registry, visibility
from billing.service_layer.ids import stable_id
from billing.service_layer.registry import PartyIn
from propfee import audit
from propfee.auth import Principal, mask_personal, not_found
from propfee.masking import mask_value
from propfee.validation import check_sms_reachable

#: Contact data: masked for roles that do not need it, and always in the audit trail.
CONTACT_FIELDS = (
    "name",
    "phone",
    "email",
    "wechat_openid",
    "app_user_id",
    "postal_address",
    "id_number",
)
#: Masked for every role: needed for court filings, read there from the database.
ALWAYS_MASKED = ("id_number",)
#: What PATCH /parties/{id} may change.
CHANGEABLE = (
    "name",
    "phone",
    "email",
    "wechat_openid",
    "app_user_id",
    "postal_address",
    "allowed_channels",
    "preferred_channels",
    "do_not_contact",
    "id_number",
)


def masked_contacts(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Contact data as the audit trail keeps it: masked (the registry holds the real values)."""
    if data is None:
        return None
    return {
        k: (mask_value(v) if k in CONTACT_FIELDS and isinstance(v, str) and v else v)
        for k, v in data.items()
    }


def _shown(principal: Principal, row: Mapping[str, Any]) -> dict[str, Any]:
    """A party row as answered: without its person key (the normalised phone), contacts
    masked for roles that do not need them, the identity card number masked for all."""
    data = {k: v for k, v in row.items() if k != "person_key"}
    data = mask_personal(principal, data, CONTACT_FIELDS)
    return {
        k: (mask_value(v) if k in ALWAYS_MASKED and isinstance(v, str) and v else v)
        for k, v in data.items()
    }


async def register_party(pool: asyncpg.Pool, principal: Principal, party: PartyIn) -> str:
    """A party registered; a person already registered in the community with the same
    verified phone is that party (issue 18 rule 12), answered as it is (PATCH changes it)."""
    proposed = stable_id("pty", party.community_id, party.kind, party.name, party.phone)
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, party.community_id)
        party_id, changed = await registry.person_party(conn, party, proposed, datetime.now(UTC))
        if changed:
            await audit.record(
                conn,
                principal,
                "party.upserted",
                "party",
                party_id,
                community_id=party.community_id,
                company_id=company_id,
                after=masked_contacts(_contacts_of(party)),
            )
    return party_id


def _contacts_of(party: PartyIn) -> dict[str, Any]:
    data = {k: getattr(party, k) for k in CHANGEABLE}
    data["allowed_channels"] = list(party.allowed_channels)
    data["preferred_channels"] = list(party.preferred_channels)
    return {"community_id": party.community_id, "kind": party.kind, **data}


async def change_party(
    pool: asyncpg.Pool, principal: Principal, party_id: str, changes: Mapping[str, Any]
) -> None:
    """A partial update: the fields in ``changes`` change (None clears one), the others keep
    their values. Publishes PartyContactsUpdated when anything changed; audited. The stored
    values are the registry's own (an import may have accepted what the API's limits would
    not): they are not validated again, but SMS still needs a mobile after the change."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await visibility.party(conn, principal, party_id)
        before = await conn.fetchrow(
            "SELECT * FROM parties WHERE party_id = $1 FOR UPDATE", party_id
        )
        if before is None:
            raise not_found(f"party {party_id}")
        merged = {**{k: before[k] for k in CHANGEABLE}, **changes}
        if {"phone", "allowed_channels", "preferred_channels"} & changes.keys():
            try:
                check_sms_reachable(
                    merged["phone"],
                    [*(merged["allowed_channels"] or ()), *(merged["preferred_channels"] or ())],
                )
            except ValueError as exc:
                raise InvalidInput(f"phone: {exc}") from exc
        party = PartyIn(
            community_id=scope["community_id"],
            kind=scope["kind"],
            **{
                **merged,
                "allowed_channels": tuple(merged["allowed_channels"] or ()),
                "preferred_channels": tuple(merged["preferred_channels"] or ()),
            },
        )
        changed = await registry.upsert_party(conn, party, party_id, datetime.now(UTC))
        if changed:
            await audit.record(
                conn,
                principal,
                "party.updated",
                "party",
                party_id,
                community_id=scope["community_id"],
                company_id=scope["company_id"],
                before=masked_contacts(
                    {k: v for k, v in dict(before).items() if k != "person_key"}
                ),
                after=masked_contacts(
                    {k: v for k, v in _contacts_of(party).items() if k in CHANGEABLE}
                ),
            )


async def party_view(pool: asyncpg.Pool, principal: Principal, party_id: str) -> dict[str, Any]:
    """A party as answered (``_shown``)."""
    await visibility.party(pool, principal, party_id)
    row = await pool.fetchrow("SELECT * FROM parties WHERE party_id = $1", party_id)
    if row is None:
        raise not_found(f"party {party_id}")
    return _shown(principal, dict(row))
