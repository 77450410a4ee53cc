"""Benchmark: signed WeChat Pay notifications over HTTP on loopback (not a test).

Starts a real payments process against the local PostgreSQL and Kafka (fresh database, topics
under a fresh prefix), creates N payment orders, pre-signs and encrypts one notification per
order (the gateway's work, outside the timing), then POSTs them to /webhooks/wechatpay with C
concurrent connections and measures throughput and latency. Afterwards it checks that every
notification became exactly one payment and one published payments.payment-received record.
The ceiling is GET /healthz of the same process (same FastAPI + uvicorn stack), same load.

    uv run python bench/payments/bench_wechatpay.py --orders 20000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "services/payments/tests"))
sys.path.insert(0, str(ROOT))

from payments_testkit.service import wechat_env  # noqa: E402
from payments_testkit.wechat import WechatSide, transaction  # noqa: E402

from propfee.kafka import ensure_topics  # noqa: E402
from propfee.settings import LOCAL_PG  # noqa: E402
from tests.support.kafka import read_topic  # noqa: E402
from tests.support.processes import free_port  # noqa: E402


async def load(
    url: str,
    requests: list[tuple[bytes, dict[str, str]] | None],
    concurrency: int,
    method: str = "POST",
) -> tuple[float, list[float], list[int]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def worker() -> None:
            while queue:
                item = queue.pop()
                t0 = time.perf_counter()
                if item is None:
                    r = await http.get(url)
                else:
                    r = await http.post(url, content=item[0], headers=item[1])
                latencies.append(time.perf_counter() - t0)
                statuses.append(r.status_code)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, statuses


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000


async def main(args: argparse.Namespace) -> None:
    run = f"bench{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{LOCAL_PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{run}"')
    db = f"{LOCAL_PG}/{run}"
    prefix = f"{run}."
    await ensure_topics("127.0.0.1:9092", prefix=prefix)
    side = WechatSide()
    folder = Path(tempfile.mkdtemp())
    port = free_port()
    env = {
        **os.environ,
        "PAYMENTS_DATABASE_URL": db,
        "PAYMENTS_HTTP_PORT": str(port),
        "PROPFEE_TOPIC_PREFIX": prefix,
        "PAYMENTS_LOG_LEVEL": "WARNING",
        "PAYMENTS_DB_POOL_MAX": str(args.pool),
        **{f"PAYMENTS_{k.upper()}": v for k, v in wechat_env(side, folder).items()},
    }
    log = open(folder / "payments.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "payments", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        print(f"creating {args.orders} orders ...", flush=True)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            sem = asyncio.Semaphore(32)

            async def order(i: int) -> str:
                async with sem:
                    r = await http.post(
                        "/orders",
                        json={
                            "unit_id": f"u-{i}",
                            "channel": "wechat_pay",
                            "community_id": "c-1",
                            "payer_party_id": f"p-{i}",
                            "amount_fen": 10000 + i,
                        },
                    )
                    return str(r.json()["out_trade_no"])

            trade_nos = await asyncio.gather(*(order(i) for i in range(args.orders)))
        notes = []
        for i, no in enumerate(trade_nos):
            body = side.body("TRANSACTION.SUCCESS", transaction(no, 10000 + i))
            notes.append((body, side.headers(body, mode="platform" if i % 2 else "public_key")))
        # Ceiling: the bare endpoint of the same stack, same concurrency.
        bare_elapsed, bare_lat, _ = await load(
            f"{base}/healthz", [None] * args.orders, args.concurrency
        )
        elapsed, lat, statuses = await load(f"{base}/webhooks/wechatpay", notes, args.concurrency)
        ok = sum(1 for s in statuses if s in (200, 204))
        conn = await asyncpg.connect(db)
        payments = await conn.fetchval("SELECT count(*) FROM payments")
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        await conn.close()
        records = await read_topic(
            "127.0.0.1:9092",
            prefix + "payments.payment-received",
            at_least=args.orders,
            timeout=120,
            settle=2.0,
        )
        distinct = len({r.ce_id for r in records})
        rate, bare_rate = len(lat) / elapsed, len(bare_lat) / bare_elapsed
        print(
            f"webhook: {len(lat)} notifications in {elapsed:.2f}s = {rate:.0f}/s; "
            f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
            f"max {max(lat) * 1000:.1f} ms; "
            f"{ok} answered 2xx"
        )
        print(
            f"bare /healthz: {bare_rate:.0f}/s; p50 {pct(bare_lat, 0.5):.1f} ms, "
            f"p99 {pct(bare_lat, 0.99):.1f} ms"
        )
        print(f"ratio webhook/bare: {rate / bare_rate:.2f}")
        print(
            f"payments recorded: {payments}; outbox unpublished: {unpublished}; "
            f"records on Kafka: {len(records)} ({distinct} distinct ce_id)"
        )
        assert ok == payments == len(records) == distinct == args.orders, "lost or duplicated"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{run}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
