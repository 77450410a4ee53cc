"""Totals of what payments holds: received, refunded, held for review. Integer fen.

One statement grouped by channel; the overall figures are the sums of the channels'.
Refunds count once confirmed (``succeeded``); exceptions are open or resolved. With a
community, exceptions whose order (and so community) is unknown are left out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from payments.service_layer import access
from payments.service_layer.reconciliation import daily_close
from propfee.auth import Principal, Role
from propfee.problems import Forbidden

#: ``$2``/``$3``: the caller's scope (``principal.sql_scope()``), communities as payments knows
#: their company; exceptions without a community only for company-wide callers of the company
#: owning their merchant account.
_IN_SCOPE = (
    "(($2::text IS NULL OR EXISTS (SELECT 1 FROM communities sc "
    "WHERE sc.community_id = {c} AND sc.company_id = $2)) "
    "AND ($3::text[] IS NULL OR {c} = ANY($3)))"
)

_TOTALS = f"""
SELECT 'payments' AS figure, channel, count(*) AS count, sum(amount_fen)::bigint AS amount_fen
  FROM payments p WHERE ($1::text IS NULL OR community_id = $1)
   AND {_IN_SCOPE.format(c="p.community_id")} GROUP BY channel
UNION ALL
SELECT 'refunds', p.channel, count(*), sum(r.amount_fen)::bigint
  FROM refunds r JOIN payments p USING (payment_id)
 WHERE r.status = 'succeeded' AND ($1::text IS NULL OR p.community_id = $1)
   AND {_IN_SCOPE.format(c="p.community_id")} GROUP BY p.channel
UNION ALL
SELECT 'exceptions_' || status, channel, count(*), sum(amount_fen)::bigint
  FROM payment_exceptions e WHERE ($1::text IS NULL OR community_id = $1)
   AND ({_IN_SCOPE.format(c="e.community_id")}
        OR (e.community_id IS NULL AND $1::text IS NULL AND $3::text[] IS NULL
            AND ($2::text IS NULL OR e.company_id = $2)))
 GROUP BY status, channel
"""

FIGURES = ("payments", "refunds", "exceptions_open", "exceptions_resolved")


def _zero() -> dict[str, Any]:
    return {figure: {"count": 0, "amount_fen": 0} for figure in FIGURES}


async def totals(
    conn: asyncpg.Connection,
    community_id: str | None,
    scope: tuple[str | None, list[str] | None] = (None, None),
) -> dict[str, Any]:
    """Payments received, refunds confirmed, exceptions open and resolved (count and fen),
    net received (payments − refunds), overall and by channel; within ``scope`` (the caller's
    ``principal.sql_scope()``; ``(None, None)``: everything)."""
    overall = _zero()
    by_channel: dict[str, dict[str, Any]] = {}
    for row in await conn.fetch(_TOTALS, community_id, *scope):
        channel = by_channel.setdefault(row["channel"], _zero())
        for target in (channel, overall):
            target[row["figure"]]["count"] += row["count"]
            target[row["figure"]]["amount_fen"] += row["amount_fen"]
    for figures in (overall, *by_channel.values()):
        figures["net_fen"] = figures["payments"]["amount_fen"] - figures["refunds"]["amount_fen"]
    return {
        "community_id": community_id,
        "currency": "CNY",
        **overall,
        "by_channel": dict(sorted(by_channel.items())),
    }


async def totals_report(
    pool: asyncpg.Pool, principal: Principal, community_id: str | None
) -> dict[str, Any]:
    """``totals`` of every community the caller sees, or of one of them (404 for another)."""
    async with pool.acquire() as conn:
        if community_id is not None:
            await access.community(conn, principal, community_id)
        return await totals(conn, community_id, principal.sql_scope())


async def daily_close_report(pool: asyncpg.Pool, principal: Principal, day: date) -> dict[str, Any]:
    """日清日结 of the caller's communities (``reconciliation.daily_close``) and the open review
    cases; the statements imported and the open discrepancies (gateway-level: of the
    company's merchant accounts) only for company-wide callers (``None`` otherwise)."""
    company_wide = access.reaches_gateway_level(principal)
    scope = principal.sql_scope()
    async with pool.acquire() as conn:
        lines = await daily_close(conn, day, scope)
        open_exceptions = await conn.fetchval(
            "SELECT count(*) FROM payment_exceptions e WHERE status = 'open' AND "
            + access.scope_sql("e.community_id", 1, 2, gateway_level="e.company_id"),
            *scope,
        )
        open_discrepancies = None
        imports = None
        if company_wide:
            open_discrepancies = await conn.fetchval(
                "SELECT count(*) FROM discrepancies d WHERE status = 'open' AND bill_date <= $1 "
                "AND " + access.merchant_sql("d.company_id", 2, 3),
                day,
                *scope,
            )
            imports = [
                dict(r)
                for r in await conn.fetch(
                    "SELECT * FROM statement_imports s WHERE bill_date = $1 AND "
                    + access.merchant_sql("s.company_id", 2, 3)
                    + " ORDER BY gateway, merchant_id",
                    day,
                    *scope,
                )
            ]
    return {
        "day": day,
        "by_community_and_channel": lines,
        "statements": imports,
        "open_exceptions": open_exceptions,
        "open_discrepancies": open_discrepancies,
    }


#: Who may read another cashier's day (a fee clerk reads their own).
CASHIER_OVERSEERS = frozenset(
    {Role.finance, Role.community_manager, Role.company_admin, Role.auditor}
)


async def cashier_day_report(
    pool: asyncpg.Pool, principal: Principal, day: date, cashier: str | None
) -> dict[str, Any]:
    """日清日结 per cashier: the counter payments ``cashier`` (default: the caller) recorded on
    ``day`` (Shanghai time) in the caller's communities, each with its receipt, and their sums
    per channel: what the cashier's drawer and card terminal hold at the end of the day. A
    fee clerk reads their own day only (403 for another's)."""
    who = cashier or principal.subject
    if who != principal.subject and not principal.has_any(CASHIER_OVERSEERS):
        raise Forbidden("a fee clerk reads their own day only")
    rows = await pool.fetch(
        "SELECT p.payment_id, p.receipt_no, p.community_id, p.unit_id, p.channel, p.amount_fen, "
        "p.invoice_ids, p.paid_at FROM payments p WHERE p.recorded_by = $1 "
        "AND (p.paid_at AT TIME ZONE 'Asia/Shanghai')::date = $2 AND "
        + access.scope_sql("p.community_id", 3, 4)
        + " ORDER BY p.paid_at, p.payment_id",
        who,
        day,
        *principal.sql_scope(),
    )
    by_channel: dict[str, dict[str, Any]] = {}
    for r in rows:
        line = by_channel.setdefault(
            r["channel"], {"channel": r["channel"], "payments": 0, "received_fen": 0}
        )
        line["payments"] += 1
        line["received_fen"] += r["amount_fen"]
    return {
        "day": day,
        "cashier": who,
        "payments": [dict(r) for r in rows],
        "by_channel": sorted(by_channel.values(), key=lambda x: x["channel"]),
        "total_payments": len(rows),
        "total_received_fen": sum(r["amount_fen"] for r in rows),
    }
