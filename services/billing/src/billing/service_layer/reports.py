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

from billing.errors import NotFound
from billing.service_layer import visibility
from billing.service_layer.statements import local_today
from propfee import aging as aging_rule
from propfee.auth import Principal

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


#: How the aging report may be grouped besides its buckets (none: the community's total).
AgingBy = Literal["building", "fee_item", "month"]

#: The outstanding principal of each invoice owed as of ``$2`` (its days past due), the
#: invoices of community ``$1``, collection ``$3`` (or both), unit ``$4`` (or all).
_OWED = """
    SELECT i.invoice_id, i.unit_id, i.building_id, i.period_start, i.collection,
           $2::date - i.due_date AS days,
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
"""

#: Each owed invoice's part per group (``key``): the whole invoice for a building or a month;
#: for a fee item, the invoice's outstanding spread over its lines in proportion to their
#: amounts, rounded on the running total (floor(fen * cum / lines) - floor(fen * prev / lines))
#: so that the parts add up to the invoice's outstanding exactly, to the fen. An invoice
#: without lines (or whose lines add up to nothing) is its last line's (key '' when none).
_PARTS: dict[AgingBy, str] = {
    "building": """
        SELECT coalesce(b.name, o.building_id) AS key, o.invoice_id, o.unit_id, o.collection,
               o.days, o.fen
          FROM owed o LEFT JOIN buildings b USING (building_id) WHERE o.fen > 0
    """,
    "month": """
        SELECT to_char(o.period_start, 'YYYY-MM') AS key, o.invoice_id, o.unit_id,
               o.collection, o.days, o.fen
          FROM owed o WHERE o.fen > 0
    """,
    "fee_item": """
        SELECT coalesce(x.fee_item, '') AS key, x.invoice_id, x.unit_id, x.collection, x.days,
               (CASE WHEN coalesce(x.lines_fen, 0) = 0
                     THEN CASE WHEN x.rn = x.n THEN x.fen ELSE 0 END
                     ELSE floor(x.fen::numeric * x.cum / x.lines_fen)
                          - floor(x.fen::numeric * (x.cum - x.amount_fen) / x.lines_fen)
                END)::bigint AS fen
          FROM (
            SELECT o.*, l.fee_item, l.amount_fen,
                   sum(l.amount_fen) OVER w AS cum,
                   sum(l.amount_fen) OVER (PARTITION BY o.invoice_id) AS lines_fen,
                   row_number() OVER w AS rn,
                   count(*) OVER (PARTITION BY o.invoice_id) AS n
              FROM owed o LEFT JOIN invoice_lines l USING (invoice_id)
             WHERE o.fen > 0
            WINDOW w AS (PARTITION BY o.invoice_id ORDER BY l.line_no)
          ) x
    """,
}

_AGGREGATES = """
    sum(fen)::bigint AS outstanding_fen, count(DISTINCT unit_id) AS households,
    count(DISTINCT invoice_id) AS invoices,
    coalesce(sum(fen) FILTER (WHERE collection = 'property'), 0)::bigint AS property_fen,
    coalesce(sum(fen) FILTER (WHERE collection = 'utilities'), 0)::bigint AS utilities_fen
"""


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
        WITH owed AS ({_OWED})
        SELECT {aging_rule.bucket_sql("days")} AS bucket, {_AGGREGATES}
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


async def household_aging(
    conn: asyncpg.Connection,
    principal: Principal,
    unit_id: str,
    as_of: date | None = None,
    only: Collection | None = None,
    *,
    community_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> tuple[date, list[dict[str, Any]]]:
    """One household's aging (the room page; whoever may read the unit, a housekeeper too):
    the unit resolved through the caller's scope (404 when not theirs, or not of
    ``community_id`` when one is named), as of the date (else today in the community's zone),
    by :func:`aging`'s rule. Returns the date and the five buckets."""
    scope = await visibility.unit(conn, principal, unit_id)
    if community_id is not None and scope["community_id"] != community_id:
        raise NotFound(f"unit {unit_id} not found")
    day = as_of or await local_today(conn, community_id=scope["community_id"])
    rows = await aging(
        conn, scope["community_id"], day, only, unit_id=unit_id, after=after, limit=limit
    )
    return day, rows


async def aging_grouped(
    conn: asyncpg.Connection,
    community_id: str,
    as_of: date,
    by: AgingBy,
    only: Collection | None = None,
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The aging report by building, fee item or month (of the invoice's period): for each
    group that owes anything, its five buckets in age order (the same buckets and the same
    outstanding as :func:`aging`, so the groups' amounts add up to its total, to the fen).
    Rows in (key, bucket age) order, those after ``after`` (a key and a bucket; a bucket
    that is not one is ``ValueError``)."""
    labels: list[str] = list(BUCKET_LABELS)
    after_key, after_pos = (after[0], labels.index(after[1]) + 1) if after else (None, None)
    rows = await conn.fetch(
        f"""
        WITH owed AS ({_OWED}),
        parts AS ({_PARTS[by]}),
        grouped AS (
            SELECT key, {aging_rule.bucket_sql("days")} AS bucket, {_AGGREGATES}
              FROM parts WHERE fen <> 0 GROUP BY 1, 2
        )
        SELECT k.key, b.label AS bucket,
               coalesce(g.outstanding_fen, 0) AS outstanding_fen,
               coalesce(g.households, 0) AS households, coalesce(g.invoices, 0) AS invoices,
               coalesce(g.property_fen, 0) AS property_fen,
               coalesce(g.utilities_fen, 0) AS utilities_fen
          FROM (SELECT DISTINCT key FROM grouped) k
         CROSS JOIN unnest($5::text[]) WITH ORDINALITY AS b(label, pos)
          LEFT JOIN grouped g ON g.key = k.key AND g.bucket = b.label
         WHERE $6::text IS NULL OR (k.key, b.pos) > ($6, $7::bigint)
         ORDER BY k.key, b.pos LIMIT $8
        """,
        community_id,
        as_of,
        only,
        None,
        labels,
        after_key,
        after_pos,
        limit,
    )
    return [dict(r) for r in rows]


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
