"""KPIs of seed 004 over a period, by community, stage, channel or staff member:
dunning success rate (households that paid after being chased / chased), average cost per
chase (configurable cost per channel), complaint rate, historical-arrears recovery, and tier
counts over time (from the sweeps' snapshots)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from dunning.adapters.scope import scope_sql
from dunning.errors import Forbidden
from propfee.auth import REPORTS, Role

#: Figures per staff member: not for the owners' committee.
STAFF_REPORT = (REPORTS - {Role.owners_committee}) | {Role.service}

#: ``principal.sql_scope()``: (company id or None, community ids or None).
Scope = tuple[str | None, list[str] | None]
EVERYWHERE: Scope = (None, None)

DIMENSIONS = {
    "community": "e.community_id",
    "stage": "e.stage",
    "channel": "a.value ->> 'channel'",
    "staff": "coalesce(e.staff_id, 'unassigned')",
}

_CHASE = """
WITH chased AS (
    SELECT {dim} AS key, e.case_id, count(*) AS actions,
           sum(coalesce(($3::jsonb ->> (a.value ->> 'channel'))::bigint, 0)) AS cost_fen,
           min(e.escalated_at) AS first_at
    FROM escalations e CROSS JOIN LATERAL jsonb_array_elements(e.actions) a
    WHERE e.escalated_at >= $1 AND e.escalated_at < $2 AND {scope}
    GROUP BY 1, 2
)
SELECT ch.key, count(*) AS chased,
       count(*) FILTER (WHERE c.status = 'closed' AND c.close_reason = 'paid'
                        AND c.closed_at >= ch.first_at) AS paid_after_chase,
       sum(ch.cost_fen)::bigint AS cost_fen,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM contact_outcomes o WHERE o.case_id = ch.case_id
             AND o.reason_code IN ('unhappy_with_service', 'property_quality')
             AND o.at >= $1 AND o.at < $2)
           OR EXISTS (SELECT 1 FROM pauses p WHERE p.case_id = ch.case_id
             AND p.reason IN ('service_complaint', 'property_quality')
             AND p.starts_at >= $1 AND p.starts_at < $2)) AS complaints
FROM chased ch JOIN arrears_cases c USING (case_id)
GROUP BY ch.key ORDER BY ch.key
"""

_RECOVERY = """
SELECT community_id, sum(total_fen)::bigint AS historical_fen,
       sum(total_fen - CASE WHEN settled THEN 0
                            ELSE coalesce(principal_outstanding_fen, total_fen) END)::bigint
           AS recovered_fen
FROM receivables
WHERE issued AND due_date < $1 AND (settled_at IS NULL OR settled_at >= $1::timestamptz)
  AND {scope}
GROUP BY community_id ORDER BY community_id
"""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def chase_kpis(
    conn: asyncpg.Connection,
    by: str,
    start: date,
    end: date,
    costs: dict[str, int],
    scope: Scope = EVERYWHERE,
) -> list[dict[str, Any]]:
    """Chases in [start, end) of the communities in ``scope``."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    sql = _CHASE.format(dim=DIMENSIONS[by], scope=scope_sql("e.community_id", 4, 5))
    rows = await conn.fetch(sql, start, end, costs, *scope)
    return [
        {
            by: r["key"],
            "chased": r["chased"],
            "paid_after_chase": r["paid_after_chase"],
            "success_rate": _rate(r["paid_after_chase"], r["chased"]),
            "cost_fen": r["cost_fen"],
            "cost_per_chase_fen": round(r["cost_fen"] / r["chased"]) if r["chased"] else None,
            "complaints": r["complaints"],
            "complaint_rate": _rate(r["complaints"], r["chased"]),
        }
        for r in rows
    ]


async def recovery(
    conn: asyncpg.Connection, historical_before: date, scope: Scope = EVERYWHERE
) -> list[dict[str, Any]]:
    """Arrears due before ``historical_before`` and unpaid then, and how much of them is paid."""
    sql = _RECOVERY.format(scope=scope_sql("receivables.community_id", 2, 3))
    rows = await conn.fetch(sql, historical_before, *scope)
    return [
        {**dict(r), "recovery_rate": _rate(r["recovered_fen"], r["historical_fen"])} for r in rows
    ]


async def tier_counts(
    conn: asyncpg.Connection,
    start: date,
    end: date,
    community_id: str | None,
    scope: Scope = EVERYWHERE,
    *,
    after: list[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    day, community, tier = after if after is not None else (None, None, None)
    rows = await conn.fetch(
        "SELECT as_of_date, community_id, tier, cases, outstanding_fen FROM tier_snapshots "
        "WHERE as_of_date >= $1 AND as_of_date < $2 AND ($3::text IS NULL OR community_id = $3) "
        f"AND {scope_sql('tier_snapshots.community_id', 4, 5)} "
        "AND ($6::date IS NULL OR (as_of_date, community_id, tier) > ($6, $7::text, $8::text)) "
        "ORDER BY as_of_date, community_id, tier LIMIT $9",
        start,
        end,
        community_id,
        *scope,
        day,
        community,
        tier,
        limit,
    )
    return [dict(r) for r in rows]


async def report(
    pool: Any, principal: Any, by: str, start: date, end: date, costs: dict[str, int]
) -> dict[str, Any]:
    """The KPI report of the caller's scope: chases by ``by`` in [start, end), historical
    recovery of arrears due before ``start``, tier counts in [start, end). Figures per staff
    member only for ``STAFF_REPORT`` roles (403 for the owners' committee)."""
    if by == "staff" and not principal.has_any(STAFF_REPORT):
        raise Forbidden("figures per staff member are not for your role")
    scope = principal.sql_scope()
    async with pool.acquire() as conn:
        rows = await chase_kpis(conn, by, start, end, costs, scope)
        recovered = await recovery(conn, start, scope)
        tiers = await tier_counts(conn, start, end, None, scope)
    return {"by": by, "rows": rows, "historical_recovery": recovered, "tier_counts": tiers}


async def tier_report(
    pool: Any, principal: Any, start: date, end: date, community_id: str | None,
    after: list[Any] | None, limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Cases and amounts per tier per community, one snapshot per sweep day (key: as_of_date,
    community_id, tier)."""
    async with pool.acquire() as conn:
        return await tier_counts(
            conn, start, end, community_id, principal.sql_scope(), after=after, limit=limit
        )
