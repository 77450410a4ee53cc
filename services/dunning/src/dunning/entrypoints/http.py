"""Dunning's HTTP API: cases, sweeps and policies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ValidationError

from dunning.adapters.policies import load_policy, save_policy
from dunning.domain.policy import Policy, PolicyError
from dunning.entrypoints import security
from dunning.service_layer.sweep import run_sweep
from propfee import audit
from propfee.auth import Principal, Role, mask_personal, not_found
from propfee.http import Pool
from propfee.masking import mask_data

router = APIRouter(tags=["dunning"])

_CASE_COLUMNS = (
    "c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.status, c.on_hold, "
    "c.hold_payment_id, c.opened_at, c.closed_at, c.stage, c.stage_entered_at, c.tier, "
    "c.oldest_due_date, c.room_label, c.owner_staff_id, c.assigned_to, c.assigned_role, "
    "c.deferred_until, c.deferred_reason, "
    "(SELECT coalesce(sum(coalesce(r.principal_outstanding_fen, r.total_fen) "
    "  + r.late_fee_outstanding_fen), 0) FROM receivables r "
    "  WHERE r.unit_id = c.unit_id AND r.issued AND NOT r.settled)::bigint AS outstanding_fen, "
    "EXISTS (SELECT 1 FROM pauses p WHERE p.case_id = c.case_id AND p.resolved_at IS NULL "
    "  AND p.scope = 'case' AND p.ends_at > now()) AS paused"
)


def shown(principal: Principal, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` for the caller: contact fields (names, phones, ...) masked by
    ``mask_personal`` for roles outside ``CONTACT_ROLES``, and phone or ID numbers written
    into free text (notes, resolutions, delivery details) masked too. Room labels stay."""
    row = mask_personal(principal, record)
    return row if principal.sees_contacts else mask_data(row)


@router.get("/cases")
async def list_cases(
    pool: Pool,
    principal: security.Reader,
    unit_id: str | None = None,
    status: str | None = None,
    community_id: str | None = None,
    tier: str | None = None,
) -> list[dict[str, Any]]:
    """Cases in the caller's communities (filtered in SQL), oldest first."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c "
        "WHERE ($1::text IS NULL OR c.unit_id = $1) AND ($2::text IS NULL OR c.status = $2) "
        "AND ($3::text IS NULL OR c.community_id = $3) AND ($4::text IS NULL OR c.tier = $4) "
        f"AND {security.scope_sql('c.community_id', 5, 6)} "
        "ORDER BY c.opened_at LIMIT 1000",
        unit_id,
        status,
        community_id,
        tier,
        company,
        communities,
    )
    return [shown(principal, r) for r in rows]


@router.get("/cases/{case_id}")
async def get_case(case_id: str, pool: Pool, principal: security.Reader) -> dict[str, Any]:
    await security.case(pool, principal, case_id)
    row = await pool.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c WHERE case_id = $1", case_id
    )
    if row is None:
        raise not_found(f"case {case_id}")
    return shown(principal, row)


@router.get("/cases/{case_id}/escalations")
async def case_escalations(
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
    as_of: AwareDatetime | None = None


#: How far ahead of the clock a sweep by staff may be dated (clock skew between machines).
STAFF_SWEEP_AHEAD = timedelta(minutes=5)


@router.post("/sweeps")
async def sweep(body: SweepRequest, pool: Pool, principal: security.Sweeper) -> dict[str, object]:
    """Move every due case to its next stage as of ``as_of`` (default: now). The sweep covers
    the whole deployment, as the scheduled one does: staff may sweep as of now (or an earlier
    instant), only the service role as of a later one (simulations, the demo)."""
    now = datetime.now(UTC)
    as_of = body.as_of or now
    if Role.service not in principal.roles and as_of > now + STAFF_SWEEP_AHEAD:
        raise HTTPException(422, "a sweep by staff cannot be dated in the future")
    async with pool.acquire() as conn:
        result = await run_sweep(conn, as_of)
    return result.as_dict()


@router.get("/policies/{community_id}")
async def get_policy(community_id: str, pool: Pool, principal: security.Reader) -> dict[str, Any]:
    """The policy a community follows (``default``: the deployment's default)."""
    async with pool.acquire() as conn:
        if community_id != "default":
            await security.community(conn, principal, community_id)
        policy = await load_policy(conn, None if community_id == "default" else community_id)
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


@router.put("/policies/{community_id}")
async def put_policy(
    community_id: str, body: dict[str, Any], pool: Pool, principal: security.PolicyWriter
) -> dict[str, Any]:
    """Replace a community's policy (or ``default``). Refused (422) with the reasons when it
    names a coercive or public action, or a legal referral without its precondition. Audited.

    The default is shared by every community of the deployment: a company admin may replace
    it only while dunning knows no community of another company (409 otherwise)."""
    policy_id = "default" if community_id == "default" else f"community:{community_id}"
    try:
        policy = Policy.model_validate({**body, "policy_id": policy_id})
    except ValidationError as exc:
        raise HTTPException(422, {"refused": policy_refusals(exc)}) from exc
    async with pool.acquire() as conn, conn.transaction():
        if community_id == "default":
            company_id = await _default_policy_writer(conn, principal)
            scope: str | None = None
        else:
            company_id = await security.community(conn, principal, community_id)
            scope = community_id
        before = await load_policy(conn, scope)
        await save_policy(conn, policy)
        if community_id != "default":
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
            community_id=scope,
            company_id=company_id,
            before=before.model_dump(mode="json"),
            after=after,
        )
    return after


async def _default_policy_writer(conn: asyncpg.Connection, principal: Principal) -> str | None:
    """The company to audit a change of the default under; 403 for community managers (the
    default is not one of their communities), 409 when other companies share it."""
    if Role.company_admin not in principal.roles:
        raise HTTPException(403, "only a company admin may replace the default policy")
    if principal.all_companies:
        return None
    shared = await conn.fetchval(
        "SELECT 1 FROM communities WHERE company_id <> $1 LIMIT 1", principal.company_id
    )
    if shared:
        raise HTTPException(
            409,
            "the default policy is shared with another company's communities: "
            "set your communities' policies instead",
        )
    return principal.company_id
