"""Benchmark: 10,000 reminders from one dunning sweep delivered to a fake Alibaba SMS provider.

The fake answers every request after 20 ms, verifies each signature and throttles above its
limit of 500 requests per rolling second. Notifier's dispatcher sends under its token bucket
(500/s) from a fresh database. Not a test; run from the repository root:

    uv run python bench/notifier/bench_sms.py [--count 10000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from notifier.adapters.base import Outbound  # noqa: E402
from notifier.adapters.registry import Channels  # noqa: E402
from notifier.domain.messages import reminder_requests  # noqa: E402
from notifier.service_layer.dispatcher import Dispatcher  # noqa: E402
from notifier.service_layer.handlers import queue_requests  # noqa: E402
from notifier.settings import NotifierSettings  # noqa: E402
from propfee.db import create_pool, migrate_database  # noqa: E402
from propfee.events import ArrearsEscalated, EscalationAction  # noqa: E402
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER  # noqa: E402
from sandbox.server import free_port  # noqa: E402

FAKE = """
import uvicorn
from sandbox.sms import SmsProvider, alibaba_app
state = SmsProvider(delay_s=0.020, rate_limit={rate})
uvicorn.run(alibaba_app(state, "bench-secret"), host="127.0.0.1", port={port},
            log_level="warning", lifespan="off")
"""


def sweep(count: int) -> list[ArrearsEscalated]:
    at = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    return [
        ArrearsEscalated(
            case_id=f"case-{n:05d}",
            community_id="c-bench",
            unit_id=f"u-{n:05d}",
            payer_party_id=f"p-{n:05d}",
            stage="reminder_7d",
            previous_stage="due_notice",
            tier="green",
            outstanding_fen=27580,
            oldest_due_date=date(2026, 2, 28),
            days_overdue=9,
            invoice_ids=[f"inv-{n}"],
            escalated_at=at,
            room_label=f"{n % 30}-2-{n % 2800}",
            deadline=date(2026, 3, 20),
            actions=[EscalationAction(kind="message", channel="sms")],
        )
        for n in range(count)
    ]


def start_fake(rate: float, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", FAKE.format(rate=int(rate), port=port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def ceiling(settings: NotifierSettings, count: int) -> float:
    """The same-run ceiling: ``count`` SMS sent straight through the adapter under the same
    token bucket and send concurrency (no database, no claim, no recording): what the HTTP
    path and the bucket allow on this machine right now. Seconds."""
    channels = Channels.from_settings(settings)
    route = channels.route("sms")
    assert route is not None and route.bucket is not None
    adapter = route.adapter
    gate = asyncio.Semaphore(settings.send_concurrency)

    async def one(n: int) -> None:
        message = Outbound(
            notification_id=f"ceiling-{n:06d}",
            channel="sms",
            address=f"139{n:08d}",
            body="【物业】提醒",
            message_type="reminder",
            sms_params={"room": f"{n % 30}-2-{n % 2800}", "amount": "275.80"},
            template_codes={adapter.provider: "SMS_CEILING"},
        )
        async with gate:
            result = await route.send(message)
        assert result is not None and result.outcome == "sent", result

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        await channels.close()
    return time.perf_counter() - started


async def main(
    count: int,
    rate: float,
    port: int,
    fake: subprocess.Popen[bytes],
    profile: str | None,
    with_ceiling: bool,
) -> int:
    db = f"bench_notifier_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(f"{LOCAL_PG_OWNER}/postgres")
    await admin.execute(f'CREATE DATABASE "{db}"')
    try:
        settings = NotifierSettings(
            database_url=f"{LOCAL_PG}/{db}",
            alibaba_endpoint=f"http://127.0.0.1:{port}/",
            alibaba_access_key_id="bench",
            alibaba_access_key_secret="bench-secret",
            alibaba_rate_per_s=rate,
            db_pool_max=10,
        )
        await migrate_database(settings.database_url, "notifier")
        pool = await create_pool(settings.database_url, max_size=10)
        async with pool.acquire() as conn:
            events = sweep(count)
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO parties (party_id, community_id, kind, phone, updated_at) "
                    "SELECT 'p-' || lpad(n::text, 5, '0'), 'c-bench', 'owner', "
                    "'138' || lpad(n::text, 8, '0'), now() FROM generate_series(0, $1 - 1) n",
                    count,
                )
                for event in events:
                    await queue_requests(conn, reminder_requests(event), str(uuid.uuid4()))
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(f"http://127.0.0.1:{port}/stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        channels = Channels.from_settings(settings)
        dispatcher = Dispatcher(pool, channels, settings)
        as_of = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
        spy = None
        if profile:  # a dev tool (uv tool install py-spy), never a dependency
            spy = subprocess.Popen(
                [
                    *("py-spy", "record", "-p", str(os.getpid()), "--subprocesses"),
                    *("-r", "200", "-f", "raw", "-o", profile),
                ],
                stdout=subprocess.DEVNULL,
            )
            await asyncio.sleep(2)
        load_before = os.getloadavg()
        started = time.perf_counter()
        report = await dispatcher.dispatch(as_of, workers=settings.dispatch_workers)
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
        await channels.close()
        sent_rows = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'")
        distinct_ids = await pool.fetchval(
            "SELECT count(DISTINCT provider_message_id) FROM notifications WHERE status = 'sent'"
        )
        await pool.close()
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"http://127.0.0.1:{port}/stats")).json()
        ceiling_s = await ceiling(settings, count) if with_ceiling else 0.0
        async with httpx.AsyncClient() as http:
            after = (await http.get(f"http://127.0.0.1:{port}/stats")).json()
        print(f"reminders: {count}, provider limit {rate:.0f}/s, provider latency 20 ms")
        print(f"dispatch report: {dict(report.counts)}")
        print(f"elapsed: {elapsed:.2f} s ({count / elapsed:.0f} SMS/s)")
        print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
        print(
            f"provider: {stats}; database: sent={sent_rows}, distinct provider ids={distinct_ids}"
        )
        floor = count / rate
        print(f"provider cap floor: {floor:.2f} s; fraction of the cap: {floor / elapsed:.3f}")
        if with_ceiling:
            print(
                f"same-run ceiling (adapter + bucket, no database): {ceiling_s:.2f} s "
                f"({count / ceiling_s:.0f} SMS/s), throttled "
                f"{after['throttled'] - stats['throttled']}; "
                f"ratio dispatcher/ceiling: {elapsed / ceiling_s:.3f}"
            )
        ok = (
            stats["sent"] == count
            and stats["distinct"] == count
            and stats["bad_signatures"] == 0
            and sent_rows == count
            and elapsed < 30
        )
        print("OK" if ok else "FAILED")
        figures = {
            "count": count,
            "seconds": round(elapsed, 3),
            "per_second": round(count / elapsed, 1),
            "cap": rate,
            "fraction_of_cap": round(floor / elapsed, 4),
            "duplicates": stats["sent"] - stats["distinct"],
            "throttled": stats["throttled"],
            "load_average": round(load_after[0], 2),
        }
        if with_ceiling:
            figures |= {
                "ceiling_seconds": round(ceiling_s, 3),
                "ratio_to_ceiling": round(elapsed / ceiling_s, 4),
            }
        print("BENCH " + json.dumps({"name": "sms_dispatch", "figures": figures}))
        return 0 if ok else 1
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--profile", help="py-spy the dispatcher and the fake into this file")
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the same-run ceiling (the same sends through the adapter alone)",
    )
    args = parser.parse_args()
    port = free_port()
    fake = start_fake(args.rate, port)
    sys.exit(
        asyncio.run(main(args.count, args.rate, port, fake, args.profile, not args.no_ceiling))
    )
