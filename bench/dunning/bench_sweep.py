"""Benchmark (not a test): one dunning sweep over N open cases as of a date.

    uv run python bench/dunning/bench_sweep.py --cases 1000000

Creates a throw-away database on the local PostgreSQL (127.0.0.1:55432), loads N open cases
with one to three unpaid invoices each (due dates spread over 500 days, stages spread over the
ladder, some holds, pauses and promises), then times ``run_sweep`` as of 2026-03-09 10:00
Asia/Shanghai: the same code path as ``POST /sweeps``, events included (COPY into the outbox).
A second sweep as of the same instant shows idempotence (nothing escalated) and its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from dunning.service_layer.sweep import run_sweep
from propfee.db import create_pool, migrate_database
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER, migration_url_for

#: Creates (and owns) the database; its services and pools use the runtime role's URL.
ADMIN = os.environ.get("PROPFEE_TEST_DATABASE_URL", f"{LOCAL_PG_OWNER}/postgres")
BASE = ADMIN.rsplit("/", 1)[0] if "PROPFEE_TEST_DATABASE_URL" in os.environ else LOCAL_PG

LOAD = [
    """INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, opened_at,
           stage, stage_index, stage_entered_at, on_hold, hold_since)
       SELECT 'case-' || g, 'u-' || g, 'c-' || (g % 50), 'p-' || g, '2024-01-01',
              CASE WHEN g % 50 = 0 THEN NULL ELSE (ARRAY['reminder','final_reminder','phone_call',
                  'wechat_app','sealed_door_notice','home_visit'])[1 + g % 6] END,
              CASE WHEN g % 50 = 0 THEN -1 ELSE 1 + g % 6 END,
              CASE WHEN g % 50 = 0 THEN NULL
                   ELSE timestamptz '2026-03-09 02:00Z' - make_interval(days => $2::int + g % $3::int) END,
              g % 97 = 0, CASE WHEN g % 97 = 0 THEN timestamptz '2026-03-09 12:00Z' END
       FROM generate_series(1, $1::int) g""",
    """INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date,
           total_fen, issued, room_label, limitation_expires_on)
       SELECT 'inv-' || g || '-' || k, 'u-' || g, 'c-' || (g % 50), 'p-' || g,
              date '2026-02-28' - (g % 500) - 30 * (k - 1), 20000 + (g % 700) * 100, true,
              (g % 30) || '-' || (g % 4) || '-' || (g % 1800), (date '2026-02-28' - (g % 500)) + interval '3 years'
       FROM generate_series(1, $1::int) g, generate_series(1, 1 + g % 3) k""",
    # The state yesterday's sweep left: each case's outstanding, oldest due date and tier.
    """UPDATE arrears_cases c SET outstanding_fen = a.owed, oldest_due_date = a.oldest,
           tier = dunning_tier(dunning_months_overdue(a.oldest, '2026-03-08'), a.owed::bigint,
                               a.owed::bigint, 12, 500000, 6, 1)
       FROM (SELECT unit_id, sum(total_fen) AS owed, min(due_date) AS oldest FROM receivables
             GROUP BY unit_id) a
       WHERE a.unit_id = c.unit_id AND $1::int > 0""",
    """INSERT INTO pauses (pause_id, case_id, scope, reason, owner, starts_at, ends_at)
       SELECT 'pause-' || g, 'case-' || g, 'case', 'service_complaint', 'cs-1',
              '2026-03-01', '2026-04-01' FROM generate_series(1, $1::int, 53) g""",
    # made_at: when the owner promised (the business time); recorded_at: when staff typed it.
    """INSERT INTO promises (promise_id, case_id, amount_fen, promised_date, signed, staff_id,
           made_at, recorded_at)
       SELECT 'promise-' || g, 'case-' || g, 10000, date '2026-03-05' + (g % 10), true, 'hk-1',
              '2026-03-01', '2026-03-01' FROM generate_series(1, $1::int, 61) g""",
]


async def main(cases: int, keep: bool, worst: bool) -> None:
    # Steady state of a daily sweep: a case entered its stage 1..7 days ago, so about one in
    # seven is due today. --worst: 3..42 days ago, so nearly every case is due at once.
    spread_from, spread_days = (3, 40) if worst else (1, 7)
    admin = await asyncpg.connect(ADMIN)
    name = f"bench_dunning_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{BASE}/{name}"
    try:
        await migrate_database(url, "dunning")
        pool = await create_pool(url, min_size=1, max_size=2)
        t0 = time.perf_counter()
        async with pool.acquire() as conn:
            first, *rest = LOAD
            await conn.execute(first, cases, spread_from, spread_days, timeout=900)
            for statement in rest:
                await conn.execute(statement, cases, timeout=900)
            owner = await asyncpg.connect(migration_url_for(url))  # VACUUM is the owner's
            await owner.execute("VACUUM ANALYZE")
            await owner.close()
            open_invoices = await conn.fetchval("SELECT count(*) FROM receivables")
        print(
            f"loaded {cases:,} cases, {open_invoices:,} open invoices in {time.perf_counter() - t0:.1f} s"
        )
        as_of = datetime(2026, 3, 9, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        for label in ("first sweep", "same sweep again"):
            async with pool.acquire() as conn:
                t0 = time.perf_counter()
                result = await run_sweep(conn, as_of)
                elapsed = time.perf_counter() - t0
            print(
                f"{label}: {elapsed:.1f} s; cases {result.cases:,}, escalated {result.escalated:,}, "
                f"monthly {result.monthly_reminders:,}, deferred {result.deferred}, refused {result.refused}"
            )
            print(f"  by stage: {result.by_stage}")
            print(f"  timings (s): {result.timings_s}")
        async with pool.acquire() as conn:
            print(f"outbox rows: {await conn.fetchval('SELECT count(*) FROM outbox'):,}")
        await pool.close()
    finally:
        if not keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--worst", action="store_true", help="nearly every case due at once")
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.keep, args.worst))
