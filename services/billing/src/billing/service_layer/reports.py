"""Receivable reports as of a date, set-based SQL over invoices, lines and the journal.

Collected money is taken from the allocation journal up to the as-of date (principal only)
and spread over an invoice's lines in proportion to their amounts.

Utilities collected on behalf of suppliers (水电暖代收, ``invoices.collection = 'utilities'``)
are the supplier's money, not the company's revenue: every figure is kept apart by
collection, never summed with the property fee (the collection rate rows carry their
``collection``; aging splits each bucket; ``collection=`` keeps one of them).

A report's rows come a page at a time, keyset on the grouping key (``after``: the key of the
last row served, ``limit``: how many to fetch); without ``limit`` every row (a download).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import asyncpg

from propfee import aging as aging_rule

GroupBy = Literal["community", "building", "fee_item", "month"]
Collection = Literal["property", "utilities"]
_KEYS: dict[GroupBy, str] = {
    "community": "i.community_id",
    "building": "b.name",
    "fee_item": "l.fee_item",
    "month": "to_char(i.period_start, 'YYYY-MM')",
}


async def collection(
    conn: asyncpg.Connection,
    community_id: str,
    start: date,
    end: date,
    as_of: date,
    by: GroupBy,
    only: Collection | None = None,
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Collection rate (收缴率) = collected / billed, for invoices of periods in [start, end];
    one row per key and collection (the property fee and utilities apart), in (key,
    collection) order, the rows after ``after`` (a page's last key and collection)."""
    key = _KEYS[by]
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
        WITH paid AS (
            SELECT a.invoice_id, sum(a.amount_fen) AS fen FROM allocations a
              JOIN invoices i USING (invoice_id)
             WHERE i.community_id = $1 AND a.component = 'principal' AND a.at::date <= $4
             GROUP BY a.invoice_id
        )
        SELECT {key} AS key, i.collection,
               sum(l.amount_fen)::bigint AS billed_fen,
               sum(CASE WHEN i.total_fen = 0 THEN 0
                        ELSE l.amount_fen * coalesce(p.fen, 0) / i.total_fen END)::bigint
                   AS collected_fen,
               count(DISTINCT i.unit_id) AS households
          FROM invoices i
          JOIN invoice_lines l USING (invoice_id)
          JOIN buildings b USING (building_id)
          LEFT JOIN paid p USING (invoice_id)
         WHERE i.community_id = $1 AND i.period_start BETWEEN $2 AND $3
           AND i.kind <> 'opening_arrears'
           AND i.status <> 'void' AND i.issued_at::date <= $4
           AND ($5::text IS NULL OR i.collection = $5)
         GROUP BY 1, 2
        ) r
         WHERE $6::text IS NULL OR (r.key, r.collection) > ($6, $7)
         ORDER BY r.key, r.collection LIMIT $8
        """,
        community_id,
        start,
        end,
        as_of,
        only,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_rate(dict(r), "collected_fen", "billed_fen", "collection_rate") for r in rows]


async def on_time(
    conn: asyncpg.Connection,
    community_id: str,
    start: date,
    end: date,
    by: GroupBy = "month",
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """On-time rate (按时缴费率) = households with every invoice of the month paid by its due
    date / households billed that month; by month, building or community, in key order, the
    rows after the key ``after``."""
    if by == "fee_item":
        raise ValueError("by: the on-time rate counts households, not fee items")
    key = _KEYS[by]
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
        SELECT {key} AS key,
               count(DISTINCT i.unit_id) AS households,
               count(DISTINCT i.unit_id) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM invoices j WHERE j.unit_id = i.unit_id
                      AND date_trunc('month', j.period_start) = date_trunc('month', i.period_start)
                      AND j.kind = 'regular' AND j.status <> 'void'
                      AND (j.settled_at IS NULL
                           OR (j.settled_at AT TIME ZONE c.time_zone)::date > j.due_date))
               ) AS on_time
          FROM invoices i JOIN communities c USING (community_id)
          JOIN buildings b USING (building_id)
         WHERE i.community_id = $1 AND i.kind = 'regular' AND i.status <> 'void'
           AND i.period_start BETWEEN $2 AND $3
         GROUP BY 1
        ) r
         WHERE $4::text IS NULL OR r.key > $4
         ORDER BY r.key LIMIT $5
        """,
        community_id,
        start,
        end,
        after,
        limit,
    )
    return [_rate(dict(r), "on_time", "households", "on_time_rate") for r in rows]


#: The aging buckets in their order (the report's key; a page resumes after one of them):
#: ``propfee.aging``, the one home of the buckets (dunning's arrears list uses them too).
BUCKET_LABELS = aging_rule.BUCKET_LABELS


async def aging(
    conn: asyncpg.Connection,
    community_id: str,
    as_of: date,
    only: Collection | None = None,
    *,
    unit_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Outstanding principal as of the date by days past due (0-30 ... 365+), each bucket
    split into the property fee and utilities collected on behalf of suppliers: always the
    five buckets in age order, those after the bucket ``after`` (``ValueError`` when it is
    not one). ``unit_id``: one household's aging (the room page), by the same rule."""
    labels: list[str] = list(BUCKET_LABELS)
    if after is not None:
        labels = labels[labels.index(after) + 1 :]
    labels = labels[:limit]
    if not labels:
        return []
    rows = await conn.fetch(
        f"""
        WITH owed AS (
            SELECT i.invoice_id, i.unit_id, i.collection, $2::date - i.due_date AS days,
                   -- An unearned prepayment discount lapsed the day after the due date.
                   i.total_fen + CASE WHEN $2 > i.due_date THEN i.discount_lapsed_fen ELSE 0 END
                   - coalesce((SELECT sum(a.amount_fen) FROM allocations a
                       WHERE a.invoice_id = i.invoice_id AND a.component = 'principal'
                         AND a.at::date <= $2), 0) AS fen
              FROM invoices i
             WHERE i.community_id = $1 AND i.due_date <= $2 AND i.issued_at::date <= $2
               AND (i.voided_at IS NULL OR i.voided_at::date > $2)
               AND (i.written_off_at IS NULL OR i.written_off_at::date > $2)
               AND ($3::text IS NULL OR i.collection = $3)
               AND ($4::text IS NULL OR i.unit_id = $4)
        )
        SELECT {aging_rule.bucket_sql("days")} AS bucket,
               sum(fen)::bigint AS outstanding_fen, count(DISTINCT unit_id) AS households,
               count(*) AS invoices,
               coalesce(sum(fen) FILTER (WHERE collection = 'property'), 0)::bigint
                   AS property_fen,
               coalesce(sum(fen) FILTER (WHERE collection = 'utilities'), 0)::bigint
                   AS utilities_fen
          FROM owed WHERE fen > 0 GROUP BY 1
        """,
        community_id,
        as_of,
        only,
        unit_id,
    )
    found = {r["bucket"]: dict(r) for r in rows}
    empty = {"outstanding_fen": 0, "households": 0, "invoices": 0}
    return [
        found.get(b, {"bucket": b, **empty, "property_fen": 0, "utilities_fen": 0}) for b in labels
    ]


async def recovery(conn: asyncpg.Connection, community_id: str, as_of: date) -> dict[str, Any]:
    """Historical-arrears recovery (历史欠费化解率): opening arrears collected / opening."""
    row = await conn.fetchrow(
        """
        SELECT coalesce(sum(i.total_fen), 0)::bigint AS opening_fen,
               coalesce(sum((SELECT sum(a.amount_fen) FROM allocations a
                   WHERE a.invoice_id = i.invoice_id AND a.component = 'principal'
                     AND a.at::date <= $2)), 0)::bigint AS recovered_fen,
               count(DISTINCT i.unit_id) AS households
          FROM invoices i WHERE i.community_id = $1 AND i.kind = 'opening_arrears'
        """,
        community_id,
        as_of,
    )
    assert row is not None
    return _rate(dict(row), "recovered_fen", "opening_fen", "recovery_rate")


def _rate(row: dict[str, Any], part: str, whole: str, name: str) -> dict[str, Any]:
    row[name] = round(row[part] / row[whole], 4) if row[whole] else None
    return row
