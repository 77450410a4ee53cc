"""The record of what is billed: ``billed_months`` (unit, time-based fee item, month), written
with the invoices that bill them (runs and manual invoices), read set-based before billing
again (``billing.domain.billed``: a unit-month is billed once per fee item)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from billing.domain.billed import Billed, billed_by_month

#: Every time-based line of the invoices chosen by the WHERE clause, month by month. An
#: invoice of a run that skipped a billed month in the middle of its period spans that month
#: without billing it again: the month already has its row, which stays (DO NOTHING).
_RECORD = """
INSERT INTO billed_months (unit_id, fee_item, month, invoice_id)
SELECT DISTINCT i.unit_id, l.fee_item, m.month::date, i.invoice_id
  FROM invoices i
  JOIN invoice_lines l USING (invoice_id)
  CROSS JOIN LATERAL generate_series(date_trunc('month', i.period_start), i.period_end,
                                     interval '1 month') AS m(month)
 WHERE {where} AND l.fee_item = ANY($2::text[])
ON CONFLICT DO NOTHING
"""
_OF_RUN = _RECORD.format(where="i.unit_id = ANY($1::text[]) AND i.run_id = $3")
_OF_INVOICE = _RECORD.format(where="i.unit_id = ANY($1::text[]) AND i.invoice_id = $3")


async def lock_billing(
    conn: asyncpg.Connection, community_id: str, *, shared: bool = False
) -> None:
    """Billing a community is serialised (runs, manual invoices: exclusive); what a run reads
    (readings, one-off charges: ``shared``) is not recorded while a run bills them."""
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {fn}(hashtext('billing-run:' || $1))", community_id)


async def record_run(
    conn: asyncpg.Connection, run_id: str, unit_ids: Sequence[str], codes: Sequence[str]
) -> None:
    """Record the months billed by the run's invoices of these units (one statement)."""
    if unit_ids and codes:
        await conn.execute(_OF_RUN, list(unit_ids), list(codes), run_id)


async def record_invoice(
    conn: asyncpg.Connection, unit_id: str, invoice_id: str, codes: Sequence[str]
) -> None:
    if codes:
        await conn.execute(_OF_INVOICE, [unit_id], list(codes), invoice_id)


async def billed_in(
    conn: asyncpg.Connection, unit_ids: Sequence[str], start: date, end: date
) -> dict[str, Billed]:
    """Per unit, the items already billed in each month between ``start`` and ``end`` (one
    statement for a chunk of units; units with nothing billed are absent)."""
    rows = await conn.fetch(
        "SELECT unit_id, fee_item, month FROM billed_months WHERE unit_id = ANY($1::text[]) "
        "AND month BETWEEN $2 AND $3",
        list(unit_ids),
        start,
        end,
    )
    pairs: dict[str, list[tuple[str, date]]] = {}
    for r in rows:
        pairs.setdefault(r["unit_id"], []).append((r["fee_item"], r["month"]))
    return {unit_id: billed_by_month(p) for unit_id, p in pairs.items()}


async def conflicts(
    conn: asyncpg.Connection, unit_id: str, codes: Sequence[str], start: date, end: date
) -> list[asyncpg.Record]:
    """The months of these items already billed for the unit between the dates."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT fee_item, month, invoice_id FROM billed_months WHERE unit_id = $1 "
        "AND fee_item = ANY($2::text[]) AND month BETWEEN date_trunc('month', $3::date) AND $4 "
        "ORDER BY fee_item, month",
        unit_id,
        list(codes),
        start,
        end,
    )
    return rows


async def release(conn: asyncpg.Connection, unit_id: str, invoice_id: str) -> None:
    """A void frees the months the invoice billed."""
    await conn.execute(
        "DELETE FROM billed_months WHERE unit_id = $1 AND invoice_id = $2", unit_id, invoice_id
    )
