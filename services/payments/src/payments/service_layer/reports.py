"""Totals of what payments holds: received, refunded, held for review. Integer fen.

One statement grouped by channel; the overall figures are the sums of the channels'.
Refunds count once confirmed (``succeeded``); exceptions are open or resolved. With a
community, exceptions whose order (and so community) is unknown are left out.
"""

from __future__ import annotations

from typing import Any

import asyncpg

_TOTALS = """
SELECT 'payments' AS figure, channel, count(*) AS count, sum(amount_fen)::bigint AS amount_fen
  FROM payments WHERE $1::text IS NULL OR community_id = $1 GROUP BY channel
UNION ALL
SELECT 'refunds', p.channel, count(*), sum(r.amount_fen)::bigint
  FROM refunds r JOIN payments p USING (payment_id)
 WHERE r.status = 'succeeded' AND ($1::text IS NULL OR p.community_id = $1) GROUP BY p.channel
UNION ALL
SELECT 'exceptions_' || status, channel, count(*), sum(amount_fen)::bigint
  FROM payment_exceptions WHERE $1::text IS NULL OR community_id = $1 GROUP BY status, channel
"""

FIGURES = ("payments", "refunds", "exceptions_open", "exceptions_resolved")


def _zero() -> dict[str, Any]:
    return {figure: {"count": 0, "amount_fen": 0} for figure in FIGURES}


async def totals(conn: asyncpg.Connection, community_id: str | None) -> dict[str, Any]:
    """Payments received, refunds confirmed, exceptions open and resolved (count and fen),
    net received (payments − refunds), overall and by channel."""
    overall = _zero()
    by_channel: dict[str, dict[str, Any]] = {}
    for row in await conn.fetch(_TOTALS, community_id):
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
