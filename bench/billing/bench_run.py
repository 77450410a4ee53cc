"""Benchmark: a billing run of N units, from the HTTP request until every
billing.invoice-issued event is on Kafka, with the billing process's peak memory; then
allocation throughput of M payments.

    uv run python bench/billing/bench_run.py --units 100000 --payments 20000 [--replicas 2]

A run of more units than a work item holds (BILLING_RUN_ITEM_UNITS, 5,000) answers at once and
its items are billed by every billing process (``--replicas`` of them on the one database);
the script follows the run with GET until it is done. The last line is ``BENCH {json}``.

Needs the local Kafka and PostgreSQL (`make up` or deploy/local/infra.sh up). Creates its own
database and topic prefix, starts `python -m billing` as a real process, and cleans up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from billing.domain.schedule import FeeItem
from billing.service_layer.schedules import VersionIn, import_schedules
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.cloudevents import CloudEvent
from propfee.db import migrate_database
from propfee.events import PaymentReceived
from propfee.kafka import client_kwargs, delete_topics, ensure_topics, make_producer
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER
from propfee.topics import all_topics

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench.ceilings: the one home of the same-run ceilings
from bench.ceilings import copy_rate, produce_rate  # noqa: E402

COMMUNITY = "bench"


async def prepare(dsn: str, units: int) -> None:
    await migrate_database(dsn, "billing")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO companies VALUES ('co', 'Bench Co');
            INSERT INTO communities (community_id, company_id, name, city, late_fee_daily_rate)
                 VALUES ('bench', 'co', 'Bench', '杭州', 0.0001);
            INSERT INTO buildings SELECT 'b' || g, 'bench', g || '栋' FROM generate_series(1, 100) g;
            """
        )
        # The schedule of 2024 predates Propfee: it is recorded the one way history is, an
        # import with its original dates (what POST .../fee-schedules/import runs).
        async with conn.transaction():
            await import_schedules(
                conn,
                COMMUNITY,
                [
                    VersionIn(
                        published_on=date(2024, 1, 1),
                        effective_from=date(2024, 2, 1),
                        approval_ref="ref",
                        pricing_type="政府指导价",
                        items=(
                            FeeItem(
                                "property_fee", "物业服务费", "area", Decimal(250), "residential"
                            ),
                            FeeItem("property_fee", "物业服务费", "area", Decimal(480), "shop"),
                            FeeItem("parking", "车位管理费", "parking", Decimal(30000)),
                        ),
                    )
                ],
                approval_ref="bench-import",
                imported_by="bench",
                today=date(2025, 1, 1),
            )
        await conn.execute(
            """
            INSERT INTO units (unit_id, community_id, building_id, room, unit_key, unit_type,
                               floor_area_m2, status)
            SELECT 'u' || lpad(g::text, 8, '0'), 'bench', 'b' || (g % 100 + 1), g::text,
                   'k' || g, CASE WHEN g % 20 = 0 THEN 'shop' ELSE 'residential' END,
                   60 + (g % 97) + (g % 7) * 0.25, 'occupied'
              FROM generate_series(1, $1) g;
            INSERT INTO parties (party_id, community_id, kind, name)
            SELECT 'p' || g, 'bench', 'owner', 'owner ' || g FROM generate_series(1, $1) g;
            INSERT INTO unit_parties (unit_id, party_id, role, pays, valid_from)
            SELECT 'u' || lpad(g::text, 8, '0'), 'p' || g, 'owner', true, '2000-01-01'
              FROM generate_series(1, $1) g;
            INSERT INTO parking_spaces
            SELECT 'bench', 'P' || g, 'u' || lpad(g::text, 8, '0')
              FROM generate_series(1, $1, 5) g;
            """.replace("$1", str(units))
        )
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(proc: subprocess.Popen[bytes]) -> None:
    """Stop waiting (with an error) when the billing process has died."""
    if proc.poll() is not None:
        raise SystemExit(f"billing exited with {proc.returncode}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def count_topic(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_kwargs())
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(6)]
        ends = await consumer.end_offsets(tps)
        return sum(ends.values())
    finally:
        await consumer.stop()


async def ceilings(bootstrap: str, topic: str, units: int) -> dict[str, float]:
    """The same-run ceilings of bench/ceilings.py (one home for every benchmark), of up to
    100,000 rows each, per 100,000: COPY of the invoices alone (issue 22's definition), COPY
    with the run's two lines per invoice, and raw produce of InvoiceIssued-sized events."""
    n = max(1, min(units, 100_000))
    scale = 100_000 / n
    alone = await copy_rate(n, lines=0)
    with_lines = await copy_rate(n, lines=2)
    produced = await produce_rate(bootstrap, topic, n)
    return {
        "ceiling_copy_s_per_100k": round(alone["copy_s"] * scale, 2),
        "ceiling_copy_lines_s_per_100k": round(with_lines["copy_s"] * scale, 2),
        "ceiling_produce_s_per_100k": round(produced["produce_s"] * scale, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--replicas", type=int, default=1, help="billing processes")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    tag = f"bench{secrets.token_hex(3)}"
    prefix = f"{tag}."
    admin = await asyncpg.connect(f"{LOCAL_PG_OWNER}/postgres")
    await admin.execute(f'CREATE DATABASE "{tag}"')
    dsn = f"{LOCAL_PG}/{tag}"
    await ensure_topics(bootstrap, prefix=prefix)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}"
    )
    t0 = time.perf_counter()
    await prepare(dsn, args.units)
    print(f"prepared {args.units} units in {time.perf_counter() - t0:.1f}s")
    # Billing checks bearer tokens: this run's own development issuer (keys in a temporary
    # directory), trusted by the billing process; the run acts as the service role, the only
    # one that may bill as of a day other than today (the simulation clock).
    issuer = DevIssuer.load_or_create(Path(tempfile.mkdtemp(prefix="bench-auth-")))
    token = issuer.mint("bench", [Role.service], "co", "*", ttl_seconds=24 * 3600)
    ports = [free_port() for _ in range(args.replicas)]
    port = ports[0]
    env = {
        **os.environ,
        "PROPFEE_AUTH_JWKS_FILE": str(issuer.jwks_path),
        "PROPFEE_AUTH_ISSUER": issuer.issuer,
        "PROPFEE_AUTH_AUDIENCE": issuer.audience,
        "PROPFEE_AUTH_JWKS_URL": "",
        "BILLING_DATABASE_URL": dsn,
        "BILLING_ENVIRONMENT": "development",  # the built-in receipt secret is fine here
        "PROPFEE_TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BILLING_LOG_LEVEL": "WARNING",
        "BILLING_RELAY_BATCH_SIZE": os.environ.get("BILLING_RELAY_BATCH_SIZE", "2000"),
    }
    # BENCH_PROFILE=<file>: the first billing process runs under cProfile (written at its
    # graceful stop), for ``python -m pstats <file>``.
    profile = os.environ.get("BENCH_PROFILE")
    command = [sys.executable, "-m", "billing"]
    procs = [
        subprocess.Popen(
            (
                [sys.executable, "-m", "cProfile", "-o", profile, "-m", "billing"]
                if profile and n == 0
                else command
            ),
            env={**env, "BILLING_HTTP_PORT": str(p)},
            cwd=ROOT,
        )
        for n, p in enumerate(ports)
    ]
    proc = procs[0]
    figures: dict[str, float] = {"units": args.units, "replicas": args.replicas}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=600,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            for p, each in zip(ports, procs, strict=True):
                while True:
                    alive(each)
                    try:
                        url = f"http://127.0.0.1:{p}/readyz"
                        if (await http.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
            start = time.perf_counter()
            r = await http.post(
                f"/communities/{COMMUNITY}/billing-runs",
                json={"period_start": "2025-01-01", "as_of": "2025-01-01"},
            )
            r.raise_for_status()
            answered = time.perf_counter() - start
            run = r.json()
            while run["state"] == "running":
                for each in procs:
                    alive(each)
                await asyncio.sleep(0.2)
                got = await http.get(f"/communities/{COMMUNITY}/billing-runs/{run['run_id']}")
                got.raise_for_status()
                run = got.json()
            committed = time.perf_counter() - start
            if run["state"] != "done":
                raise SystemExit(f"the run failed: {run['errors']}")
            invoices = run["invoices"]
            topic = prefix + "billing.invoice-issued"
            while (events := await count_topic(bootstrap, topic)) < invoices:
                for each in procs:
                    alive(each)
                await asyncio.sleep(0.2)
            on_kafka = time.perf_counter() - start
            rss = [peak_rss_mb(each.pid) for each in procs]
            print(f"units billed: {args.units}; invoices: {invoices}; skipped: {run['skipped']}")
            print(
                f"run: answered in {answered:.1f}s, {run['items_total']} work items, "
                f"{args.replicas} billing process(es); {invoices} invoices committed in "
                f"{committed:.1f}s; all {invoices} InvoiceIssued events on Kafka after "
                f"{on_kafka:.1f}s; billing peak RSS {max(rss):.0f} MB"
            )
            figures.update(
                invoices=invoices,
                events=events,
                items=run["items_total"],
                answered_seconds=round(answered, 2),
                committed_seconds=round(committed, 2),
                seconds=round(on_kafka, 2),
                units_per_second=round(args.units / on_kafka, 1),
                peak_rss_mb=round(max(rss), 1),
                peak_rss_mb_total=round(sum(rss), 1),
            )

            # The same-run ceilings (issue 22): COPY of invoice-shaped rows, raw produce of
            # invoice-sized events (acks=all, idempotent), of up to 100,000 each.
            ceiling = await ceilings(bootstrap, prefix + "billing.invoice-issued", args.units)
            figures.update(ceiling)
            # The run's ceiling as issue 22 counts it: the COPY of the invoices and the produce,
            # one after the other (about 2.9 s per 100,000 units on a quiet 2-core machine);
            # and with the invoice lines the run also writes.
            per = args.units / 100_000
            floor = ceiling["ceiling_copy_s_per_100k"] + ceiling["ceiling_produce_s_per_100k"]
            write = ceiling["ceiling_copy_lines_s_per_100k"] + ceiling["ceiling_produce_s_per_100k"]
            figures["ratio_to_ceiling"] = round(on_kafka / (floor * per), 2)
            figures["ratio_to_write_ceiling"] = round(on_kafka / (write * per), 2)
            print(
                f"same-run ceilings per 100,000: COPY {ceiling['ceiling_copy_s_per_100k']:.2f}s "
                f"(with 2 lines each {ceiling['ceiling_copy_lines_s_per_100k']:.2f}s), raw "
                f"produce {ceiling['ceiling_produce_s_per_100k']:.2f}s; the run is "
                f"{figures['ratio_to_ceiling']}x their sum "
                f"({figures['ratio_to_write_ceiling']}x with the lines)"
            )

            # Allocation: payments published to Kafka, consumed and allocated by billing.
            n = min(args.payments, invoices)
            producer: AIOKafkaProducer = make_producer(bootstrap, client_id="bench")
            await producer.start()
            start = time.perf_counter()  # from the first payment published
            now = datetime(2025, 1, 15, tzinfo=UTC)
            for i in range(1, n + 1):
                unit = f"u{i:08d}"
                event = PaymentReceived(
                    payment_id=f"pay{i}",
                    community_id=COMMUNITY,
                    unit_id=unit,
                    payer_party_id=f"p{i}",
                    amount_fen=20000,
                    channel="wechat_pay",
                    paid_at=now,
                    received_at=now,
                )
                envelope = CloudEvent.new(
                    type=event.ce_type(),
                    source=event.ce_source(),
                    subject=unit,
                    data=event.to_json(),
                    time=now,
                )
                await producer.send(
                    prefix + PaymentReceived.topic(),
                    envelope.data,
                    key=unit.encode(),
                    headers=envelope.kafka_headers(),
                )
            await producer.flush()
            await producer.stop()
            conn = await asyncpg.connect(dsn)
            while (done := await conn.fetchval("SELECT count(*) FROM payments_received")) < n:
                alive(proc)
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - start
            await conn.close()
            print(
                f"allocation: {done} payments allocated in {elapsed:.1f}s = "
                f"{done / elapsed:.0f} payments/s"
            )
            figures.update(payments=done, payments_per_second=round(done / elapsed, 1))
    finally:
        for each in procs:
            each.terminate()
        for each in procs:
            each.wait(timeout=60)
        await delete_topics(bootstrap, [prefix + t.name for t in all_topics()])
        await admin.execute(f'DROP DATABASE IF EXISTS "{tag}" WITH (FORCE)')
        await admin.close()

    print(f"load average: {Path('/proc/loadavg').read_text().split()[0]}")
    figures["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
    print("BENCH " + json.dumps({"name": "billing_run", "figures": figures}))


if __name__ == "__main__":
    asyncio.run(main())
