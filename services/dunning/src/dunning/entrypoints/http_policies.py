"""Policies (the ladder as data) and a community's dunning settings: read by every reader,
replaced (validated, audited) by the managers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dunning.entrypoints import security
from dunning.entrypoints.models import CommunitySettings, PolicyDocument
from dunning.errors import PolicyRefused
from dunning.service_layer import policy_admin, reads
from propfee.http import Pool

router = APIRouter()
#: ``/policies/default``: the caller's company's default policy.
DEFAULT = policy_admin.DEFAULT
policy_refusals = policy_admin.policy_refusals
__all__ = ["CommunitySettings", "policy_refusals", "router"]


@router.get("/policies/{community_id}", tags=["policies"], response_model=PolicyDocument)
async def get_policy(community_id: str, pool: Pool, principal: security.Reader) -> JSONResponse:
    """The policy a community follows (``default``: the caller's company's default, or the
    built-in one when the company has none)."""
    policy = await policy_admin.get_policy(pool, principal, community_id)
    # As stored: a policy saved under older bounds still reads (not validated again).
    return JSONResponse(policy.model_dump(mode="json"))


@router.put("/policies/{community_id}", tags=["policies"], response_model=PolicyDocument)
async def replace_policy(
    community_id: str, body: dict[str, Any], pool: Pool, principal: security.PolicyWriter
) -> JSONResponse:
    """Replace a community's policy, or (``default``) the caller's company's default, which
    the company's communities without their own policy follow. Refused (422) with the reasons
    when it names a coercive or public action, or a legal referral without its precondition.
    Audited. The built-in default is the deployment's and read-only (403): a company's
    default never reaches another company's communities."""
    policy = await policy_admin.replace_policy(pool, principal, community_id, body)
    return JSONResponse(policy.model_dump(mode="json"))


@router.get("/communities/{community_id}/settings", tags=["settings"])
async def get_community_settings(
    community_id: str, pool: Pool, principal: security.Reader
) -> CommunitySettings:
    fen = await reads.community_settings(pool, principal, community_id)
    return CommunitySettings(late_fee_de_minimis_fen=fen)


@router.put("/communities/{community_id}/settings", tags=["settings"])
async def replace_community_settings(
    community_id: str, body: dict[str, Any], pool: Pool, principal: security.PolicyWriter
) -> CommunitySettings:
    """Replace a community's dunning settings; 422 with the reasons for a bad value. Audited."""
    try:
        settings = CommunitySettings.model_validate(body)
    except ValidationError as exc:
        raise PolicyRefused(policy_refusals(exc)) from exc
    await policy_admin.replace_community_settings(
        pool, principal, community_id, settings.late_fee_de_minimis_fen
    )
    return settings
