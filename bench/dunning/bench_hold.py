"""Benchmark (not a test): PaymentReceived on Kafka -> hold in force in dunning's database.

    uv run python bench/dunning/bench_hold.py --rate 500 --seconds 20

Starts a real dunning process (``python -m dunning serve``) on a throw-away database with N
open cases, produces PaymentReceived events at ``--rate`` per second for ``--seconds`` on
this run's own topics, and measures for every payment the time from the moment the bench
handed it to the Kafka producer to the moment dunning's transaction set the hold (a trigger
in the bench database stamps ``clock_timestamp()``; the commit follows within the same
handler). The webhook leg (gateway -> payments -> outbox -> Kafka) is not included: see
bench/payments for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import asyncpg
import httpx

from propfee.cloudevents import CloudEvent
from propfee.db import migrate_database
from propfee.events import PaymentReceived
from propfee.kafka import delete_topics, ensure_topics, make_producer
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER, migration_url_for
from propfee.topics import all_topics

#: Creates (and owns) the database; its services and pools use the runtime role's URL.
ADMIN = os.environ.get("PROPFEE_TEST_DATABASE_URL", f"{LOCAL_PG_OWNER}/postgres")
BASE = ADMIN.rsplit("/", 1)[0] if "PROPFEE_TEST_DATABASE_URL" in os.environ else LOCAL_PG
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

SETUP = [
    """INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, opened_at)
       SELECT 'case-' || g, 'u-' || g, 'c-1', 'p-' || g, '2025-01-01'
       FROM generate_series(1, $1::int) g""",
    """CREATE TABLE bench_holds (payment_id text PRIMARY KEY, at timestamptz NOT NULL)""",
    """CREATE FUNCTION bench_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO bench_holds VALUES (NEW.hold_payment_id, clock_timestamp())
             ON CONFLICT DO NOTHING; RETURN NEW; END $$""",
    """CREATE TRIGGER bench_stamp AFTER UPDATE OF on_hold, hold_payment_id ON arrears_cases
       FOR EACH ROW WHEN (NEW.on_hold) EXECUTE FUNCTION bench_stamp()""",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(rate: int, seconds: int, cases: int) -> None:
    admin = await asyncpg.connect(ADMIN)
    name, prefix = f"bench_hold_{os.getpid()}", f"bench{secrets.token_hex(3)}."
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{BASE}/{name}"
    proc = None
    try:
        await migrate_database(url, "dunning")
        conn = await asyncpg.connect(migration_url_for(url))  # a table and a trigger: the owner
        for statement in SETUP:
            await (conn.execute(statement, cases) if "$1" in statement else conn.execute(statement))
        await ensure_topics(KAFKA, prefix=prefix)
        port = free_port()
        env = {**os.environ, "DUNNING_DATABASE_URL": url, "DUNNING_HTTP_PORT": str(port),
               "DUNNING_SWEEP_INTERVAL_S": "0", "PROPFEE_TOPIC_PREFIX": prefix,
               "KAFKA_BOOTSTRAP_SERVERS": KAFKA, "DUNNING_LOG_LEVEL": "WARNING"}  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "dunning", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # let the consumer group settle its partitions
        producer = make_producer(KAFKA, client_id="bench-hold")
        await producer.start()
        sent: dict[str, float] = {}
        topic = prefix + PaymentReceived.topic()
        start = time.time()
        total = rate * seconds
        for n in range(total):
            due = start + n / rate
            if (wait := due - time.time()) > 0:
                await asyncio.sleep(wait)
            unit = f"u-{1 + n % cases}"
            now = datetime.now(UTC)
            event = PaymentReceived(
                payment_id=f"pay-{n}", community_id="c-1", unit_id=unit, payer_party_id="p",
                amount_fen=100, channel="wechat_pay", paid_at=now, received_at=now,
            )  # fmt: skip
            envelope = CloudEvent.new(type=event.ce_type(), source=event.ce_source(),
                                      subject=unit, data=event.to_json(), time=now)  # fmt: skip
            sent[event.payment_id] = time.time()
            await producer.send(topic, envelope.data, key=unit.encode(),
                                headers=envelope.kafka_headers())  # fmt: skip
        await producer.flush()
        achieved = total / (time.time() - start)
        deadline = time.time() + 120
        while time.time() < deadline:
            done = await conn.fetchval("SELECT count(*) FROM bench_holds")
            if done >= total:
                break
            await asyncio.sleep(0.5)
        rows = await conn.fetch("SELECT payment_id, extract(epoch FROM at) AS at FROM bench_holds")
        latencies = [
            float(r["at"]) - sent[r["payment_id"]] for r in rows if r["payment_id"] in sent
        ]
        await producer.stop()
        await conn.close()
        print(
            f"payments produced: {total:,} at {achieved:.0f}/s; holds recorded: {len(latencies):,}"
        )
        if latencies:
            print("latency produce -> hold (s): " + ", ".join(
                f"p{p}={pct(latencies, p):.3f}" for p in (50, 95, 99)
            ) + f", max={max(latencies):.3f}")  # fmt: skip
        if len(latencies) < total:
            raise SystemExit(f"FAILED: {total - len(latencies)} payments set no hold in 120 s")
        figures = {"payments": total, "holds": len(latencies), "produced_per_s": round(achieved)}
        figures |= {f"p{p}_s": round(pct(latencies, p), 4) for p in (50, 95, 99)}
        figures["max_s"] = round(max(latencies), 4)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        await delete_topics(KAFKA, [prefix + t.name for t in all_topics()])
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    # The result contract of `make bench` (bench/suite.py): the last stdout line.
    print("BENCH " + json.dumps({"name": "dunning_hold", "figures": figures}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--cases", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds, args.cases))
