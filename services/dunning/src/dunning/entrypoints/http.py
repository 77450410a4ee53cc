"""Dunning's HTTP API: cases, sweeps and policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from dunning.adapters.policies import (
    community_policy_id,
    company_policy_id,
    load_policy,
    save_policy,
)
from dunning.adapters.sweep_sql import DEFAULT_LATE_FEE_DE_MINIMIS_FEN
from dunning.domain.policy import Policy, PolicyError
from dunning.entrypoints import security
from dunning.service_layer.sweep import run_sweep
from propfee import audit
from propfee.auth import Principal, Role, mask_personal, not_found
from propfee.business_time import as_of_now, utc_now
from propfee.http import Pool
from propfee.masking import mask_data

router = APIRouter()
#: ``/policies/default``: the caller's company's default policy.
DEFAULT = "default"

_CASE_COLUMNS = (
    "c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.status, c.on_hold, "
    "c.hold_payment_id, c.opened_at, c.closed_at, c.stage, c.stage_entered_at, c.tier, "
    "c.oldest_due_date, c.room_label, c.owner_staff_id, c.assigned_to, c.assigned_role, "
    "c.deferred_until, c.deferred_reason, c.legal_since, "
    "(SELECT coalesce(sum(coalesce(r.principal_outstanding_fen, r.total_fen) "
    "  + r.late_fee_outstanding_fen), 0) FROM receivables r "
    "  WHERE r.unit_id = c.unit_id AND r.payer_party_id = c.payer_party_id "
    "  AND r.issued AND NOT r.settled)::bigint AS outstanding_fen, "
    "EXISTS (SELECT 1 FROM pauses p WHERE p.case_id = c.case_id AND p.resolved_at IS NULL "
    "  AND p.scope = 'case' AND p.ends_at > now()) AS paused"
)


def shown(principal: Principal, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` for the caller: contact fields (names, phones, ...) masked by
    ``mask_personal`` for roles outside ``CONTACT_ROLES``, and phone or ID numbers written
    into free text (notes, resolutions, delivery details) masked too. Room labels stay."""
    row = mask_personal(principal, record)
    return row if principal.sees_contacts else mask_data(row)


@router.get("/cases", tags=["cases"])
async def list_cases(
    pool: Pool,
    principal: security.Reader,
    unit_id: str | None = None,
    status: str | None = None,
    community_id: str | None = None,
    tier: str | None = None,
) -> list[dict[str, Any]]:
    """Cases in the caller's communities (filtered in SQL), oldest first; for the legal role,
    the cases on the legal track only."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c "
        "WHERE ($1::text IS NULL OR c.unit_id = $1) AND ($2::text IS NULL OR c.status = $2) "
        "AND ($3::text IS NULL OR c.community_id = $3) AND ($4::text IS NULL OR c.tier = $4) "
        f"AND {security.scope_sql('c.community_id', 5, 6)} AND {security.legal_sql('c', 7)} "
        "ORDER BY c.opened_at LIMIT 1000",
        unit_id,
        status,
        community_id,
        tier,
        company,
        communities,
        security.legal_only(principal),
    )
    return [shown(principal, r) for r in rows]


@router.get("/cases/{case_id}", tags=["cases"])
async def get_case(case_id: str, pool: Pool, principal: security.Reader) -> dict[str, Any]:
    await security.case(pool, principal, case_id)
    row = await pool.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c WHERE case_id = $1", case_id
    )
    if row is None:
        raise not_found(f"case {case_id}")
    return shown(principal, row)


@router.get("/cases/{case_id}/escalations", tags=["cases"])
async def list_case_escalations(
    case_id: str, pool: Pool, principal: security.Reader
) -> list[dict[str, Any]]:
    await security.case(pool, principal, case_id)
    rows = await pool.fetch(
        "SELECT stage, cycle, previous_stage, tier, outstanding_fen, oldest_due_date, "
        "invoice_ids, actions, deadline, staff_id, escalated_at FROM escalations "
        "WHERE case_id = $1 ORDER BY escalated_at, escalation_id",
        case_id,
    )
    return [shown(principal, r) for r in rows]


class SweepRequest(BaseModel):
    as_of: AwareDatetime | None = Field(
        default=None,
        description="Default: now. Only the service role (the simulation clock) may choose it",
    )


@router.post("/sweeps", tags=["sweeps"])
async def run_sweep_now(
    body: SweepRequest, pool: Pool, principal: security.Sweeper
) -> dict[str, object]:
    """Move every due case in the caller's communities to its next stage. Staff sweep their
    company's (or their listed) communities as of now only (403 for a chosen ``as_of``); the
    service role sweeps its scope (the whole deployment for a ``"*"`` token) as of any
    instant (the simulation clock, the demo)."""
    as_of = as_of_now(principal, body.as_of, utc_now(), field="as_of")
    company, communities = principal.sql_scope()
    async with pool.acquire() as conn:
        result = await run_sweep(
            conn, as_of, company_id=company, community_ids=communities, by=principal.subject
        )
    return result.as_dict()


@router.get("/policies/{community_id}", tags=["policies"])
async def get_policy(community_id: str, pool: Pool, principal: security.Reader) -> dict[str, Any]:
    """The policy a community follows (``default``: the caller's company's default, or the
    built-in one when the company has none)."""
    async with pool.acquire() as conn:
        if community_id == DEFAULT:
            company = None if principal.all_companies else principal.company_id
            policy = await load_policy(conn, None, company)
        else:
            await security.community(conn, principal, community_id)
            policy = await load_policy(conn, community_id)
    return policy.model_dump(mode="json")


def policy_refusals(exc: ValidationError) -> list[str]:
    reasons: list[str] = []
    for error in exc.errors():
        original = (error.get("ctx") or {}).get("error")
        if isinstance(original, PolicyError):
            reasons += original.reasons
        else:
            where = ".".join(str(p) for p in error.get("loc", ()))
            reasons.append(f"{where}: {error.get('msg')}")
    return reasons


@router.put("/policies/{community_id}", tags=["policies"])
async def replace_policy(
    community_id: str, body: dict[str, Any], pool: Pool, principal: security.PolicyWriter
) -> dict[str, Any]:
    """Replace a community's policy, or (``default``) the caller's company's default, which
    the company's communities without their own policy follow. Refused (422) with the reasons
    when it names a coercive or public action, or a legal referral without its precondition.
    Audited. The built-in default is the deployment's and read-only: a company's default
    never reaches another company's communities."""
    company_id: str | None
    async with pool.acquire() as conn, conn.transaction():
        if community_id == DEFAULT:
            company = _company_default_writer(principal)
            company_id, policy_id = company, company_policy_id(company)
            before = await load_policy(conn, None, company)
        else:
            company_id = await security.community(conn, principal, community_id)
            policy_id = community_policy_id(community_id)
            before = await load_policy(conn, community_id)
        try:
            policy = Policy.model_validate({**body, "policy_id": policy_id})
        except ValidationError as exc:
            raise HTTPException(422, {"refused": policy_refusals(exc)}) from exc
        await save_policy(conn, policy, company_id)
        if community_id != DEFAULT:
            await conn.execute(
                "INSERT INTO community_policies (community_id, policy_id) VALUES ($1, $2) "
                "ON CONFLICT (community_id) DO UPDATE SET policy_id = EXCLUDED.policy_id",
                community_id,
                policy_id,
            )
        after = policy.model_dump(mode="json")
        await audit.record(
            conn,
            principal,
            "policy.replaced",
            "policy",
            policy_id,
            community_id=None if community_id == DEFAULT else community_id,
            company_id=company_id,
            before=before.model_dump(mode="json"),
            after=after,
        )
    return after


def _company_default_writer(principal: Principal) -> str:
    """The company whose default the caller replaces; 403 for community managers (the
    company's default is not one of their communities) and for a deployment-wide token (the
    built-in default is read-only)."""
    if Role.company_admin not in principal.roles:
        raise HTTPException(403, "only a company admin may replace the company's default policy")
    if principal.all_companies or not principal.company_id:
        raise HTTPException(
            403, "the built-in default policy is read-only: set a company's or a community's"
        )
    return principal.company_id


class CommunitySettings(BaseModel):
    """A community's dunning settings beside its policy (issue 18, rule 6)."""

    model_config = {"extra": "forbid"}

    #: An open late fee below this alone keeps no case on the ladder (fen; 5,000 = 50 yuan).
    late_fee_de_minimis_fen: int = Field(default=DEFAULT_LATE_FEE_DE_MINIMIS_FEN, gt=0)


@router.get("/communities/{community_id}/settings", tags=["settings"])
async def get_community_settings(
    community_id: str, pool: Pool, principal: security.Reader
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        fen = await conn.fetchval(
            "SELECT late_fee_de_minimis_fen FROM community_settings WHERE community_id = $1",
            community_id,
        )
    return CommunitySettings(
        late_fee_de_minimis_fen=fen or DEFAULT_LATE_FEE_DE_MINIMIS_FEN
    ).model_dump()


@router.put("/communities/{community_id}/settings", tags=["settings"])
async def replace_community_settings(
    community_id: str, body: dict[str, Any], pool: Pool, principal: security.PolicyWriter
) -> dict[str, Any]:
    """Replace a community's dunning settings; 422 with the reasons for a bad value. Audited."""
    try:
        settings = CommunitySettings.model_validate(body)
    except ValidationError as exc:
        raise HTTPException(422, {"refused": policy_refusals(exc)}) from exc
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        before = await conn.fetchval(
            "SELECT late_fee_de_minimis_fen FROM community_settings WHERE community_id = $1 "
            "FOR UPDATE",
            community_id,
        )
        await conn.execute(
            "INSERT INTO community_settings (community_id, late_fee_de_minimis_fen) "
            "VALUES ($1, $2) ON CONFLICT (community_id) DO UPDATE SET "
            "late_fee_de_minimis_fen = EXCLUDED.late_fee_de_minimis_fen, updated_at = now()",
            community_id,
            settings.late_fee_de_minimis_fen,
        )
        after = settings.model_dump()
        await audit.record(
            conn,
            principal,
            "community_settings.replaced",
            "community_settings",
            community_id,
            community_id=community_id,
            company_id=company_id,
            before={"late_fee_de_minimis_fen": before},
            after=after,
        )
    return after
