"""A unit-month billed once per fee item, against PostgreSQL: migration 0006 derives from the
invoices it finds exactly what runs record, and a quarterly run after monthly runs (with the
sample ledger's 1,236 units) bills only the months left."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from billing.service_layer.ledger_import import import_ledger
from billing.service_layer.runs import RunRequest, run_billing

from .conftest import COMMUNITY, setup_community

SAMPLE = Path(__file__).resolve().parents[1] / "unit" / "data" / "sample-ledger.csv"
MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "src/billing/migrations/0006_notice_advance_billed_months_plans.sql"
).read_text()


def _statement(starts: str) -> str:
    """The migration's statement that starts with ``starts`` (up to its semicolon)."""
    match = re.search(re.escape(starts) + r".*?;", MIGRATION, re.S)
    assert match, starts
    return match.group(0)


async def test_the_migration_backfills_what_runs_record(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    await import_ledger(
        billing_pool, COMMUNITY, SAMPLE.read_bytes(), "l.csv", opening_as_of=date(2025, 1, 1)
    )
    jan = RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
    await run_billing(billing_pool, jan)
    q1 = await run_billing(
        billing_pool, RunRequest(COMMUNITY, date(2025, 1, 1), "quarterly", date(2025, 1, 1))
    )
    # Every unit's January was billed by the monthly run: the quarterly run bills February and
    # March, skipping January's property fee (1,236 units) and parking (those with spaces).
    spaces = await billing_pool.fetchval("SELECT count(DISTINCT unit_id) FROM parking_spaces")
    assert q1.skipped == 1236 + spaces
    months = await billing_pool.fetch(
        "SELECT month, count(*) AS n FROM billed_months WHERE fee_item = 'property_fee' "
        "GROUP BY month ORDER BY month"
    )
    assert [(r["month"], r["n"]) for r in months] == [
        (date(2025, 1, 1), 1236),
        (date(2025, 2, 1), 1236),
        (date(2025, 3, 1), 1236),
    ]
    recorded = await billing_pool.fetch("SELECT * FROM billed_months ORDER BY 1, 2, 3")
    async with billing_pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM billed_months")
        await conn.execute(_statement("INSERT INTO billed_months"))
        derived = await conn.fetch("SELECT * FROM billed_months ORDER BY 1, 2, 3")
    assert [dict(r) for r in derived] == [dict(r) for r in recorded]
