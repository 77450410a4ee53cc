"""Dunning's HTTP API: cases, sweeps, policies and community settings. Routes parse, call
the service layer and shape the answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from dunning.entrypoints import security
from dunning.entrypoints.models import (
    Case,
    CommunitySettings,
    Escalation,
    PolicyDocument,
    SweepResult,
)
from dunning.errors import PolicyRefused
from dunning.service_layer import policy_admin, reads
from dunning.service_layer import sweep as sweeps
from propfee.auth import Principal, mask_personal
from propfee.business_time import as_of_now, utc_now
from propfee.http import Pool
from propfee.masking import mask_data
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter()
#: ``/policies/default``: the caller's company's default policy.
DEFAULT = policy_admin.DEFAULT
policy_refusals = policy_admin.policy_refusals
__all__ = ["CommunitySettings", "policy_refusals", "router", "shown"]


def shown(principal: Principal, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` for the caller: contact fields (names, phones, ...) masked by
    ``mask_personal`` for roles outside ``CONTACT_ROLES``, and phone or ID numbers written
    into free text (notes, resolutions, delivery details) masked too. Room labels stay."""
    row = mask_personal(principal, record)
    return row if principal.sees_contacts else mask_data(row)


@router.get("/cases", tags=["cases"], responses=problem_responses(404))
async def list_cases(
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    unit_id: str | None = None,
    status: str | None = None,
    community_id: str | None = None,
    tier: str | None = None,
) -> Page[Case]:
    """Cases in the caller's communities (filtered in SQL), oldest first; for the legal role,
    the cases on the legal track only. 404 for a community or unit outside the caller's
    scope."""
    rows = await reads.list_cases(
        pool, principal, unit_id=unit_id, status=status, community_id=community_id, tier=tier,
        after=page.after_as(datetime.fromisoformat, str), limit=page.fetch,
    )  # fmt: skip
    items = [Case.model_validate(shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda c: [c.opened_at.isoformat(), c.case_id], request=request,
        response=response,
    )  # fmt: skip


@router.get("/cases/{case_id}", tags=["cases"])
async def get_case(case_id: str, pool: Pool, principal: security.Reader) -> Case:
    return Case.model_validate(shown(principal, await reads.get_case(pool, principal, case_id)))


@router.get("/cases/{case_id}/escalations", tags=["cases"])
async def list_case_escalations(
    case_id: str,
    pool: Pool,
    principal: security.Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[Escalation]:
    """The case's escalations, oldest first."""
    rows = await reads.list_escalations(
        pool, principal, case_id, after=page.after_as(datetime.fromisoformat, int),
        limit=page.fetch,
    )  # fmt: skip
    items = [Escalation.model_validate(shown(principal, r)) for r in rows]
    return page.build(
        items, key=lambda e: [e.escalated_at.isoformat(), e.escalation_id], request=request,
        response=response,
    )  # fmt: skip


class SweepRequest(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"as_of": "2026-03-10T09:30:00+08:00"}]}}

    as_of: AwareDatetime | None = Field(
        default=None,
        description="Default: now. Only the service role (the simulation clock) may choose it",
    )


@router.post("/sweeps", tags=["sweeps"])
async def run_sweep(body: SweepRequest, pool: Pool, principal: security.Sweeper) -> SweepResult:
    """Move every due case in the caller's communities to its next stage. Staff sweep their
    company's (or their listed) communities as of now only (403 for a chosen ``as_of``); the
    service role sweeps its scope (the whole deployment for a ``"*"`` token) as of any
    instant (the simulation clock, the demo)."""
    as_of = as_of_now(principal, body.as_of, utc_now(), field="as_of")
    result = await sweeps.sweep_for(pool, principal, as_of)
    return SweepResult.model_validate(result.as_dict())


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
