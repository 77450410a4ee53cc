"""Reading and replacing a community's (or a company's default) policy, and a community's
dunning settings. Every replacement is validated (refused, 422, with the reasons) and audited
in its transaction."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dunning.adapters.policies import (
    community_policy_id,
    company_policy_id,
    load_policy,
    save_policy,
)
from dunning.domain.policy import Policy, PolicyError
from dunning.errors import Forbidden, PolicyRefused
from dunning.service_layer import scope
from propfee import audit
from propfee.auth import Principal, Role

#: ``/policies/default``: the caller's company's default policy.
DEFAULT = "default"


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


async def get_policy(pool: Any, principal: Principal, community_id: str) -> Policy:
    """The policy a community follows (``default``: the caller's company's default, or the
    built-in one when the company has none)."""
    async with pool.acquire() as conn:
        if community_id == DEFAULT:
            company = None if principal.all_companies else principal.company_id
            return await load_policy(conn, None, company)
        await scope.community(conn, principal, community_id)
        return await load_policy(conn, community_id)


def _company_default_writer(principal: Principal) -> str:
    """The company whose default the caller replaces; 403 for community managers (the
    company's default is not one of their communities) and for a deployment-wide token (the
    built-in default is read-only)."""
    if Role.company_admin not in principal.roles:
        raise Forbidden("only a company admin may replace the company's default policy")
    if principal.all_companies or not principal.company_id:
        raise Forbidden(
            "the built-in default policy is read-only: set a company's or a community's"
        )
    return principal.company_id


async def replace_policy(
    pool: Any, principal: Principal, community_id: str, document: dict[str, Any]
) -> Policy:
    """Replace a community's policy, or (``default``) the caller's company's default. Audited."""
    company_id: str | None
    async with pool.acquire() as conn, conn.transaction():
        if community_id == DEFAULT:
            company = _company_default_writer(principal)
            company_id, policy_id = company, company_policy_id(company)
            before = await load_policy(conn, None, company)
        else:
            company_id = await scope.community(conn, principal, community_id)
            policy_id = community_policy_id(community_id)
            before = await load_policy(conn, community_id)
        try:
            policy = Policy.model_validate({**document, "policy_id": policy_id})
        except ValidationError as exc:
            raise PolicyRefused(policy_refusals(exc)) from exc
        await save_policy(conn, policy, company_id)
        if community_id != DEFAULT:
            await conn.execute(
                "INSERT INTO community_policies (community_id, policy_id) VALUES ($1, $2) "
                "ON CONFLICT (community_id) DO UPDATE SET policy_id = EXCLUDED.policy_id",
                community_id,
                policy_id,
            )
        await audit.record(
            conn,
            principal,
            "policy.replaced",
            "policy",
            policy_id,
            community_id=None if community_id == DEFAULT else community_id,
            company_id=company_id,
            before=before.model_dump(mode="json"),
            after=policy.model_dump(mode="json"),
        )
    return policy


async def replace_community_settings(
    pool: Any, principal: Principal, community_id: str, late_fee_de_minimis_fen: int
) -> None:
    """Replace a community's dunning settings. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await scope.community(conn, principal, community_id)
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
            late_fee_de_minimis_fen,
        )
        await audit.record(
            conn,
            principal,
            "community_settings.replaced",
            "community_settings",
            community_id,
            community_id=community_id,
            company_id=company_id,
            before={"late_fee_de_minimis_fen": before},
            after={"late_fee_de_minimis_fen": late_fee_de_minimis_fen},
        )
