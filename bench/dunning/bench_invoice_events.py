"""Benchmark: dunning's handling of billing's invoice events, as its consumer runs them.

A fresh dunning database; ``--units`` households (a billing run's InvoiceIssued each, then
an InvoiceBalanceChanged each: a part payment for half of them, the rest paid in full) fed
through the real consumer's partition path (``EventConsumer._process_partition``: runs of a
type with a batch handler in one transaction each, other runs grouped by 32), as ``--partitions``
partitions of records. Prints the seconds and events/s of each topic and, beside them, the
same-run ceiling: the inbox insert alone for the same records (what no handler can avoid).
Not a test; from the repository root:

    uv run python bench/dunning/bench_invoice_events.py [--units 2000] [--partitions 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka.structs import ConsumerRecord

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROPFEE_ENVIRONMENT", "development")

from dunning.entrypoints.events import BATCH_HANDLERS, HANDLERS  # noqa: E402
from propfee.cloudevents import CloudEvent  # noqa: E402
from propfee.consumer import EventConsumer, EventContext  # noqa: E402
from propfee.db import create_pool, migrate_database  # noqa: E402
from propfee.events import (  # noqa: E402
    CommunityUpdated,
    Event,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceLine,
)
from propfee.logging import configure_logging  # noqa: E402
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def issued(n: int) -> InvoiceIssued:
    due = date(2026, 1, 31)
    return InvoiceIssued(
        invoice_id=f"inv-{n}", community_id="c-1", building_id="b-1", unit_id=f"u-{n}",
        payer_party_id=f"p-{n}", period_start=date(2026, 1, 1), period_end=due, due_date=due,
        lines=[InvoiceLine(fee_item="property", description="物业费", quantity="1",
                           unit_price_fen=27_580, amount_fen=27_580)],
        total_fen=27_580, issued_at=T0, room_label=f"1-1-{n}", kind="regular",
        liable_party_ids=[f"p-{n}"],
    )  # fmt: skip


def balance(n: int) -> InvoiceBalanceChanged:
    paid = 10_000 if n % 2 else 27_580
    return InvoiceBalanceChanged(
        invoice_id=f"inv-{n}", community_id="c-1", unit_id=f"u-{n}", payer_party_id=f"p-{n}",
        balance_version=2, status="partially_paid" if n % 2 else "paid",
        due_date=date(2026, 1, 31), total_fen=27_580, principal_paid_fen=paid,
        principal_outstanding_fen=27_580 - paid, late_fee_fen=0, reason="payment",
        changed_at=T0 + timedelta(days=40, seconds=n),
    )  # fmt: skip


def records(events: list[Event], partition: int) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for offset, event in enumerate(events):
        envelope = CloudEvent.new(
            type=event.ce_type(), source=event.ce_source(), subject="s", data=event.to_json(),
            time=T0,
        )  # fmt: skip
        key = str(getattr(event, "unit_id", "")).encode()
        out.append(
            ConsumerRecord(
                event.topic(),
                partition,
                offset,
                0,
                0,
                key,
                envelope.data,
                None,
                len(key),
                len(envelope.data),
                envelope.kafka_headers(),
            )
        )
    return out


async def feed(consumer: EventConsumer, parts: list[list[ConsumerRecord[bytes, bytes]]]) -> float:
    """Each partition's records in chunks of 200 (max_poll_records), partitions at once."""

    async def one(recs: list[ConsumerRecord[bytes, bytes]]) -> None:
        for i in range(0, len(recs), 200):
            await consumer._process_partition(recs[i : i + 200])

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in parts))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> int:
    configure_logging("bench-dunning-invoices", level="WARNING")
    db = f"bdinv{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{LOCAL_PG_OWNER}/postgres")
    await admin.execute(f'CREATE DATABASE "{db}"')
    load = os.getloadavg()[0]
    try:
        url = f"{LOCAL_PG}/{db}"
        await migrate_database(url, "dunning")
        pool = await create_pool(url, min_size=2, max_size=args.partitions + 2)
        consumer = EventConsumer(
            group="dunning", bootstrap_servers="unused:9092", pool=pool, handlers=HANDLERS,
            batch_handlers=BATCH_HANDLERS, dlq_producer=None,  # type: ignore[arg-type]
        )  # fmt: skip
        community = CommunityUpdated(
            community_id="c-1", company_id="co-1", company_name="物业", name="小区", city="杭州",
            updated_at=T0,
        )  # fmt: skip
        await feed(consumer, [records([community], 0)])
        p = args.partitions
        units = range(args.units)
        figures: dict[str, float] = {"units": args.units, "partitions": p}
        for name, make in (("issued", issued), ("balance", balance)):
            parts = [records([make(n) for n in units if n % p == k], k) for k in range(p)]
            seconds = await feed(consumer, parts)
            figures[f"{name}_seconds"] = round(seconds, 3)
            figures[f"{name}_per_s"] = round(args.units / seconds, 1)
            print(f"{name}: {args.units} events in {seconds:.2f} s = {args.units / seconds:,.0f}/s")
        # The ceiling: the inbox rows of the same records alone, in runs of 200.
        ceiling = EventConsumer(
            group="ceiling", bootstrap_servers="unused:9092", pool=pool, handlers={},
            dlq_producer=None,  # type: ignore[arg-type]
        )  # fmt: skip
        parts = [records([issued(n) for n in units if n % p == k], k) for k in range(p)]
        started = time.perf_counter()

        async def inbox_only(recs: list[ConsumerRecord[bytes, bytes]]) -> None:
            for i in range(0, len(recs), 200):
                chunk = recs[i : i + 200]
                async with pool.acquire() as conn, conn.transaction():
                    await ceiling._into_inbox(
                        conn,
                        chunk,
                        [(c, c.envelope.type) for c in map(_context, chunk)],
                    )

        await asyncio.gather(*(inbox_only(x) for x in parts))
        seconds = time.perf_counter() - started
        figures["ceiling_inbox_seconds"] = round(seconds, 3)
        print(f"ceiling (inbox rows only): {args.units} in {seconds:.2f} s")
        for name in ("issued", "balance"):
            ratio = figures[f"{name}_seconds"] / seconds
            figures[f"{name}_ratio"] = round(ratio, 1)
            print(f"{name}: {ratio:.1f}x the ceiling")
        cases = await pool.fetchval("SELECT count(*) FROM arrears_cases WHERE status = 'open'")
        ok = cases == len([n for n in units if n % 2])
        print(f"open cases: {cases}; load average (1 min) before/after: {load:.2f} / "
              f"{os.getloadavg()[0]:.2f}")  # fmt: skip
        figures["load_average"] = round(os.getloadavg()[0], 2)
        await pool.close()
        print("OK" if ok else "FAILED")
        print("BENCH " + json.dumps({"name": "dunning_invoice_events", "figures": figures}))
        return 0 if ok else 1
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


def _context(record: ConsumerRecord[bytes, bytes]) -> EventContext:
    """A record's context, as the consumer reads it (for the ceiling, which has no handlers)."""
    envelope = CloudEvent.from_kafka(record.headers, record.value)
    return EventContext(envelope, record.topic, record.partition, record.offset)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=6)
    sys.exit(asyncio.run(main(parser.parse_args())))
