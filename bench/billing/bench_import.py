"""Benchmark: importing a 5,000-row ledger (台账) through billing's import path.

    uv run python bench/billing/bench_import.py --rows 5000

Builds the file from the sample ledger's rows (renamed buildings so every room is distinct),
imports it into a fresh database, then imports it again (which must change nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import secrets
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from billing.service_layer.ledger_import import import_ledger
from billing.service_layer.registry import CommunityIn, upsert_community
from propfee.db import create_pool, migrate_database
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER

SAMPLE = Path(__file__).resolve().parents[2] / "services/billing/tests/unit/data/sample-ledger.csv"


def ledger(rows: int) -> bytes:
    reader = list(csv.reader(io.StringIO(SAMPLE.read_text("utf-8-sig"))))
    header, body = reader[0], reader[1:]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for n in range(rows):
        row = list(body[n % len(body)])
        row[0] = f"{row[0]}-{n // len(body)}"  # building: a new copy of the estate each round
        if row[12]:
            row[12] = f"{row[12]}-{n // len(body)}"  # parking space
        writer.writerow(row)
    return out.getvalue().encode()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    tag = f"benchimp{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{LOCAL_PG_OWNER}/postgres")
    await admin.execute(f'CREATE DATABASE "{tag}"')
    await migrate_database(f"{LOCAL_PG}/{tag}", "billing")
    pool = await create_pool(f"{LOCAL_PG}/{tag}")
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await upsert_community(
                    conn,
                    "c",
                    CommunityIn(company_id="co", company_name="Co", name="Estate", city="杭州"),
                    datetime.now(UTC),
                )
        data = ledger(args.rows)
        figures: dict[str, float] = {}
        for attempt, key in (("first import", "first"), ("same file again", "again")):
            start = time.perf_counter()
            report = await import_ledger(
                pool, "c", data, "ledger.csv", opening_as_of=date(2025, 1, 1)
            )
            seconds = time.perf_counter() - start
            figures |= {
                f"{key}_s": round(seconds, 3),
                f"{key}_rows": report.total_rows,
                f"{key}_errors": len(report.errors),
                f"{key}_units_created": report.units_created,
                f"{key}_arrears_invoices": report.arrears_invoices,
            }
            print(
                f"{attempt}: {report.total_rows} rows, {len(report.errors)} errors, "
                f"{report.units_created} units created, {report.arrears_invoices} arrears "
                f"invoices, in {seconds:.2f}s"
            )
        figures["rows"] = args.rows
        figures["rows_per_s"] = round(args.rows / figures["first_s"])
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE "{tag}" WITH (FORCE)')
        await admin.close()
    # The result contract of `make bench` (bench/suite.py): the last stdout line.
    print("BENCH " + json.dumps({"name": "billing_import", "figures": figures}))


if __name__ == "__main__":
    asyncio.run(main())
