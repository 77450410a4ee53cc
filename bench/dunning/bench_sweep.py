"""Benchmark (not a test): one dunning sweep over N open cases as of a date.

    uv run python bench/dunning/bench_sweep.py --cases 1000000

Creates a throw-away database on the local PostgreSQL (127.0.0.1:55432), loads N open cases
with one to three unpaid invoices each (due dates spread over 500 days, stages spread over the
ladder, some holds, pauses and promises), then times ``run_sweep`` as of 2026-03-09 10:00
Asia/Shanghai: the same code path as ``POST /sweeps``, events included (COPY into the outbox).
A second sweep as of the same instant shows idempotence (nothing escalated) and its cost.

``--replicas N``: the sweep's work items are shared by N claimers, each on its own
connection, as N dunning replicas' claimers share them (the caller works on items too).
The same-run ceiling: one set-based pass over the same open cases and their open invoices
(what any sweep must read), and the COPY of as many outbox-sized rows as events were made.
The last line is ``BENCH {json}`` (name ``dunning_sweep``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from dunning.service_layer.sweep import ITEM_CASES, run_sweep, work_one
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


#: What any sweep must read: every open case and its open invoices, aggregated once.
CEILING_SCAN = """
SELECT count(*), sum(r.total_fen), min(r.due_date)
FROM arrears_cases c JOIN receivables r ON r.unit_id = c.unit_id
     AND r.payer_party_id = c.payer_party_id
WHERE c.status = 'open' AND r.issued AND NOT r.settled
"""


async def _claimer(pool: asyncpg.Pool, name: str, stop: asyncio.Event) -> int:
    """Another replica's claimer: items of any sweep until told to stop."""
    done = 0
    async with pool.acquire() as conn:
        while not stop.is_set():
            if await work_one(conn, worker=name):
                done += 1
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.05)
    return done


async def _ceiling(pool: asyncpg.Pool, events: int) -> tuple[float, float]:
    """Seconds of the set-based scan, and of COPY of ``events`` outbox-sized rows."""
    async with pool.acquire() as conn:
        t0 = time.perf_counter()
        await conn.fetchrow(CEILING_SCAN, timeout=900)
        scan = time.perf_counter() - t0
        payload = b'{"case_id": "case-1", "stage": "reminder"' + b" " * 600 + b"}"
        records = [(f"k-{n}", payload) for n in range(events)]
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE ceiling_copy (k text, p bytea) ON COMMIT DROP")
            t0 = time.perf_counter()
            await conn.copy_records_to_table("ceiling_copy", records=records)
            copy = time.perf_counter() - t0
    return scan, copy


async def main(
    cases: int, keep: bool, worst: bool, replicas: int, item_cases: int, load_only: bool
) -> None:
    # Steady state of a daily sweep: a case entered its stage 1..7 days ago, so about one in
    # seven is due today. --worst: 3..42 days ago, so nearly every case is due at once.
    spread_from, spread_days = (3, 40) if worst else (1, 7)
    admin = await asyncpg.connect(ADMIN)
    name = f"bench_dunning_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{BASE}/{name}"
    figures: dict[str, float] = {"cases": cases, "replicas": replicas}
    try:
        await migrate_database(url, "dunning")
        pool = await create_pool(url, min_size=1, max_size=replicas + 1)
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
        if load_only:
            print(f"database {name} loaded, kept, not swept (for profiling)")
            await pool.close()
            return
        as_of = datetime(2026, 3, 9, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        for label, key in (("first sweep", "seconds"), ("same sweep again", "again_seconds")):
            stop = asyncio.Event()
            others = [
                asyncio.create_task(_claimer(pool, f"replica-{n}", stop))
                for n in range(2, replicas + 1)
            ]
            async with pool.acquire() as conn:
                t0 = time.perf_counter()
                result = await run_sweep(conn, as_of, item_cases=item_cases)
                elapsed = time.perf_counter() - t0
            stop.set()
            shares = [await task for task in others]
            print(
                f"{label}: {elapsed:.1f} s; cases {result.cases:,}, escalated {result.escalated:,}, "
                f"monthly {result.monthly_reminders:,}, deferred {result.deferred}, refused {result.refused}"
            )
            print(
                f"  items: {result.items} ({result.items_failed} failed); "
                f"done by the other replicas: {shares}"
            )
            print(f"  by stage: {result.by_stage}")
            print(f"  timings (s, summed over items): {result.timings_s}")
            figures[key] = round(elapsed, 3)
            if key == "seconds":
                figures.update(escalated=result.escalated, items=result.items)
        async with pool.acquire() as conn:
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        print(f"outbox rows: {outbox:,}")
        scan, copy = await _ceiling(pool, outbox)
        ceiling = scan + copy
        print(
            f"ceiling (same run): scan of open cases and invoices {scan:.2f} s + COPY of "
            f"{outbox:,} outbox-sized rows {copy:.2f} s = {ceiling:.2f} s; "
            f"sweep/ceiling {figures['seconds'] / ceiling:.1f}x"
        )
        figures.update(
            ceiling_seconds=round(ceiling, 3),
            ratio=round(figures["seconds"] / ceiling, 2),
            cases_per_s=round(cases / figures["seconds"]),
        )
        await pool.close()
    finally:
        if not keep and not load_only:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    with open("/proc/loadavg") as f:
        figures["loadavg_1m"] = float(f.read().split()[0])
    print("BENCH " + json.dumps({"name": "dunning_sweep", "figures": figures}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--worst", action="store_true", help="nearly every case due at once")
    parser.add_argument(
        "--replicas", type=int, default=2, help="claimers sharing the sweep (dunning replicas)"
    )
    parser.add_argument(
        "--item-cases", type=int, default=ITEM_CASES, help="about this many cases per item"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="load and keep the database, no sweep"
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.cases, args.keep, args.worst, args.replicas, args.item_cases, args.load_only)
    )
