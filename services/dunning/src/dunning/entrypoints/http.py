"""Dunning's HTTP API: cases, sweeps and policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ValidationError

from dunning.adapters.policies import load_policy, save_policy
from dunning.domain.policy import Policy, PolicyError
from dunning.service_layer.sweep import run_sweep
from propfee.http import Pool

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


@router.get("/cases")
async def list_cases(
    pool: Pool,
    unit_id: str | None = None,
    status: str | None = None,
    community_id: str | None = None,
    tier: str | None = None,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c "
        "WHERE ($1::text IS NULL OR c.unit_id = $1) AND ($2::text IS NULL OR c.status = $2) "
        "AND ($3::text IS NULL OR c.community_id = $3) AND ($4::text IS NULL OR c.tier = $4) "
        "ORDER BY c.opened_at LIMIT 1000",
        unit_id,
        status,
        community_id,
        tier,
    )
    return [dict(r) for r in rows]


@router.get("/cases/{case_id}")
async def get_case(case_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM arrears_cases c WHERE case_id = $1", case_id
    )
    if row is None:
        raise HTTPException(404, f"case {case_id} not found")
    return dict(row)


@router.get("/cases/{case_id}/escalations")
async def case_escalations(case_id: str, pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT stage, cycle, previous_stage, tier, outstanding_fen, oldest_due_date, "
        "invoice_ids, actions, deadline, staff_id, escalated_at FROM escalations "
        "WHERE case_id = $1 ORDER BY escalated_at, escalation_id",
        case_id,
    )
    return [dict(r) for r in rows]


class SweepRequest(BaseModel):
    as_of: AwareDatetime | None = None


@router.post("/sweeps")
async def sweep(body: SweepRequest, pool: Pool) -> dict[str, object]:
    """Move every due case to its next stage as of ``as_of`` (default: now)."""
    as_of = body.as_of or datetime.now(UTC)
    async with pool.acquire() as conn:
        result = await run_sweep(conn, as_of)
    return result.as_dict()


@router.get("/policies/{community_id}")
async def get_policy(community_id: str, pool: Pool) -> dict[str, Any]:
    """The policy a community follows (``default``: the company default)."""
    async with pool.acquire() as conn:
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
async def put_policy(community_id: str, body: dict[str, Any], pool: Pool) -> dict[str, Any]:
    """Replace a community's policy (or ``default``). Refused (422) with the reasons when it
    names a coercive or public action, or a legal referral without its precondition."""
    policy_id = "default" if community_id == "default" else f"community:{community_id}"
    try:
        policy = Policy.model_validate({**body, "policy_id": policy_id})
    except ValidationError as exc:
        raise HTTPException(422, {"refused": policy_refusals(exc)}) from exc
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, policy)
        if community_id != "default":
            await conn.execute(
                "INSERT INTO community_policies (community_id, policy_id) VALUES ($1, $2) "
                "ON CONFLICT (community_id) DO UPDATE SET policy_id = EXCLUDED.policy_id",
                community_id,
                policy_id,
            )
    return policy.model_dump(mode="json")
