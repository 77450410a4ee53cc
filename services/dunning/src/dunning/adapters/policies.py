"""Policies in the database: the validated document and the stage rows the sweep joins.

Whose policy is it: ``community:<id>`` belongs to the community (and its company),
``company:<id>`` is a company's default for its communities without their own, and
``default`` is the built-in deployment default (no company: read-only over HTTP). A community
follows its own policy, else its company's default, else the built-in one."""

from __future__ import annotations

import asyncpg

from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.policy import Policy

BUILT_IN = "default"


def company_policy_id(company_id: str) -> str:
    return f"company:{company_id}"


def community_policy_id(community_id: str) -> str:
    return f"community:{community_id}"


#: The policy id a community follows ($1: the community, $2: a company when the community is
#: unknown or NULL): its own, its company's default, the built-in default.
EFFECTIVE_POLICY_ID = (
    "coalesce((SELECT policy_id FROM community_policies WHERE community_id = $1), "
    "(SELECT cp.policy_id FROM policies cp WHERE cp.policy_id = 'company:' || coalesce("
    "(SELECT company_id FROM communities WHERE community_id = $1), $2)), 'default')"
)


async def save_policy(
    conn: asyncpg.Connection, policy: Policy, company_id: str | None = None
) -> None:
    """Replace a policy and its stages (in the caller's transaction); ``company_id``: whose it
    is (None only for the built-in default)."""
    t = policy.thresholds
    monthly = [
        {"kind": "message", "channel": c, "template": "monthly_reminder"}
        for c in policy.monthly_reminder_channels
    ]
    await conn.execute(
        "INSERT INTO policies (policy_id, time_zone, reminder_cap, reminder_cap_window_days, "
        "hold_timeout_hours, promise_grace_days, monthly_reminder_day, monthly_reminder_actions, "
        "red_months, red_amount_fen, yellow_months, green_months, red_case_owner, document, "
        "company_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
        "ON CONFLICT (policy_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, "
        "reminder_cap = EXCLUDED.reminder_cap, "
        "reminder_cap_window_days = EXCLUDED.reminder_cap_window_days, "
        "hold_timeout_hours = EXCLUDED.hold_timeout_hours, "
        "promise_grace_days = EXCLUDED.promise_grace_days, "
        "monthly_reminder_day = EXCLUDED.monthly_reminder_day, "
        "monthly_reminder_actions = EXCLUDED.monthly_reminder_actions, "
        "red_months = EXCLUDED.red_months, red_amount_fen = EXCLUDED.red_amount_fen, "
        "yellow_months = EXCLUDED.yellow_months, green_months = EXCLUDED.green_months, "
        "red_case_owner = EXCLUDED.red_case_owner, document = EXCLUDED.document, "
        "company_id = EXCLUDED.company_id, updated_at = now()",
        policy.policy_id,
        policy.time_zone,
        policy.reminder_cap,
        policy.reminder_cap_window_days,
        policy.hold_timeout_hours,
        policy.promise_grace_days,
        policy.monthly_reminder_day,
        monthly,
        t.red_months,
        t.red_amount_fen,
        t.yellow_months,
        t.green_months,
        policy.red_case_owner,
        policy.model_dump(mode="json"),
        company_id,
    )
    await conn.execute("DELETE FROM policy_stages WHERE policy_id = $1", policy.policy_id)
    await conn.executemany(
        "INSERT INTO policy_stages (policy_id, idx, code, anchor, offset_days, min_gap_days, "
        "min_months_overdue, expires_after_days, automatic, sends_messages, requires_demand, "
        "red_only, deadline_days, actions, legal) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        [
            (
                policy.policy_id,
                idx,
                s.code,
                s.anchor,
                s.offset_days,
                s.min_gap_days,
                s.min_months_overdue,
                s.expires_after_days,
                s.automatic,
                s.sends_messages,
                s.requires_demand,
                "red_tier" in s.preconditions,
                s.deadline_days,
                [a.model_dump(exclude={"sealed"}) for a in s.actions],
                policy.is_legal(idx),
            )
            for idx, s in enumerate(policy.stages)
        ],
    )


async def resync_stage_guards(conn: asyncpg.Connection) -> int:
    """Re-derive ``policy_stages.requires_demand`` from the domain (``Stage.requires_demand``)
    for every stored policy: rows saved before issue 18 rule 1 keyed the legal precondition
    on stage codes, so a stage ``court_filing`` with a ``lawsuit`` task was swept without it.
    Only ever adds the requirement. Returns the stages changed (run once after boot)."""
    changed = 0
    for row in await conn.fetch("SELECT policy_id, document FROM policies"):
        policy = Policy.model_validate(row["document"], context={"stored": True})
        needing = [i for i, s in enumerate(policy.stages) if s.requires_demand]
        status = await conn.execute(
            "UPDATE policy_stages SET requires_demand = true WHERE policy_id = $1 "
            "AND idx = ANY($2::int[]) AND NOT requires_demand",
            row["policy_id"],
            needing,
        )
        changed += int(status.split()[-1])
    return changed


async def ensure_default_policy(conn: asyncpg.Connection) -> None:
    exists = await conn.fetchval("SELECT 1 FROM policies WHERE policy_id = 'default'")
    if not exists:
        async with conn.transaction():
            await save_policy(conn, DEFAULT_POLICY)


async def load_policy(
    conn: asyncpg.Connection, community_id: str | None, company_id: str | None = None
) -> Policy:
    """The policy a community follows: its own, else its company's default, else the built-in
    one. ``community_id`` None: the default of ``company_id`` (None: the built-in one)."""
    document = await conn.fetchval(
        f"SELECT p.document FROM policies p WHERE p.policy_id = {EFFECTIVE_POLICY_ID}",
        community_id,
        company_id,
    )
    if not document:
        return DEFAULT_POLICY
    return Policy.model_validate(document, context={"stored": True})
