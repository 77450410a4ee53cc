"""Benchmark: allocation of PaymentReceived events from Kafka by a real billing process.

N units get ``--months`` monthly invoices each (billing runs through the HTTP API, every
InvoiceIssued on Kafka before the clock starts), then M PaymentReceived events are produced
to Kafka (round robin over the units, so M > N gives accounts a history of payments too) and
timed from the first one sent until billing has allocated every one of them. Beside it, the
same-run ceiling: a raw aiokafka consumer reading the same M records from the topic.

    uv run python bench/billing/bench_allocate.py --units 20000 --payments 20000
    uv run python bench/billing/bench_allocate.py --units 5000 --payments 20000 --months 6

Needs the local Kafka and PostgreSQL (`make up` or deploy/local/infra.sh up). Creates its own
database and topic prefix, starts `python -m billing` as a real process, and cleans up. At the
end the money invariant is checked in the database: for every unit, payments = allocations +
credit, and no invoice is paid beyond what it owes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
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
from aiokafka import AIOKafkaConsumer, TopicPartition

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
COMMUNITY = "bench"
PARTITIONS = 6


async def prepare(dsn: str, units: int) -> None:
    """The community, its 2024 schedule (imported, as history is) and ``units`` occupied units
    with an owner each (5% shops, a parking space per 5 units), as bench_run.py prepares."""
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


async def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_kwargs())
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (load-independent, unlike wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_cpu_seconds(conn: asyncpg.Connection) -> float:
    """CPU time so far of the PostgreSQL backends serving this database (billing's pool),
    read from /proc: PostgreSQL's share of the work, the load average notwithstanding."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    total = 0.0
    for row in pids:
        try:
            total += cpu_seconds(row["pid"])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


async def handler_calls(port: int, topic: str) -> float:
    """How many handler transactions billing ran for ``topic`` (propfee_handler_seconds)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        text = (await http.get("/metrics")).text
    needle = f'propfee_handler_seconds_count{{group="billing",topic="{topic}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(needle))


def payment_records(n: int, units: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """The M payments as Kafka records (key, value, headers), built before the clock starts:
    payment i pays 200 yuan for unit ((i - 1) mod N) + 1, a second later than payment i - 1."""
    records = []
    for i in range(1, n + 1):
        g = (i - 1) % units + 1
        unit = f"u{g:08d}"
        paid = datetime.fromtimestamp(
            datetime(2025, 3, 15, tzinfo=UTC).timestamp() + i, tz=UTC
        )  # after every month billed here, so each payment finds its invoices
        event = PaymentReceived(
            payment_id=f"pay{i}",
            community_id=COMMUNITY,
            unit_id=unit,
            payer_party_id=f"p{g}",
            amount_fen=20000,
            channel="wechat_pay",
            paid_at=paid,
            received_at=paid,
        )
        envelope = CloudEvent.new(
            type=event.ce_type(),
            source=event.ce_source(),
            subject=unit,
            data=event.to_json(),
            time=paid,
        )
        records.append((unit.encode(), envelope.data, envelope.kafka_headers()))
    return records


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    """The ceiling: seconds for a bare aiokafka consumer (no group, no commits, no parsing)
    to read the topic's ``n`` records from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=1000,
        **client_kwargs(),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        start = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - start
    finally:
        await consumer.stop()


async def check_money(conn: asyncpg.Connection) -> tuple[int, int, int, int]:
    """(units whose payments != allocations + credit, invoices paid beyond their total and
    late fee, fen paid, fen allocated + credit)."""
    row = await conn.fetchrow(
        """
        WITH paid AS (SELECT unit_id, sum(amount_fen) AS fen FROM payments_received
                       GROUP BY unit_id),
             alloc AS (SELECT unit_id, sum(amount_fen) AS fen FROM allocations GROUP BY unit_id),
             credit AS (SELECT unit_id, sum(credit_fen) AS fen FROM account_credits
                         GROUP BY unit_id)
        SELECT count(*) FILTER (
                   WHERE p.fen <> coalesce(a.fen, 0) + coalesce(c.fen, 0)) AS wrong_units,
               coalesce(sum(p.fen), 0)::bigint AS paid,
               coalesce(sum(coalesce(a.fen, 0) + coalesce(c.fen, 0)), 0)::bigint AS placed
          FROM paid p LEFT JOIN alloc a USING (unit_id) LEFT JOIN credit c USING (unit_id)
        """
    )
    over = await conn.fetchval(
        "SELECT count(*) FROM invoices WHERE principal_paid_fen > total_fen + discount_lapsed_fen"
    )
    return row["wrong_units"], over, row["paid"], row["placed"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=1, help="invoices per unit (1-12)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="billing processes in the consumer group (the 6 partitions shared among them)",
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", help="profile billing while it allocates (py-spy, raw format)"
    )
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
    issuer = DevIssuer.load_or_create(Path(tempfile.mkdtemp(prefix="bench-auth-")))
    token = issuer.mint("bench", [Role.service], "co", "*", ttl_seconds=24 * 3600)
    port = free_port()
    env = {
        **os.environ,
        "PROPFEE_AUTH_JWKS_FILE": str(issuer.jwks_path),
        "PROPFEE_AUTH_ISSUER": issuer.issuer,
        "PROPFEE_AUTH_AUDIENCE": issuer.audience,
        "PROPFEE_AUTH_JWKS_URL": "",
        "BILLING_DATABASE_URL": dsn,
        "BILLING_HTTP_PORT": str(port),
        "BILLING_ENVIRONMENT": "development",  # the built-in receipt secret is fine here
        "PROPFEE_TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BILLING_LOG_LEVEL": "WARNING",
        "BILLING_RELAY_BATCH_SIZE": os.environ.get("BILLING_RELAY_BATCH_SIZE", "2000"),
    }
    proc = subprocess.Popen([sys.executable, "-m", "billing"], env=env, cwd=ROOT)
    procs = [proc]
    ports = [port]
    conn = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=600,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            while True:
                alive(proc)
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            invoices = 0
            for month in range(1, args.months + 1):
                period = date(2025, month, 1).isoformat()
                r = await http.post(
                    f"/communities/{COMMUNITY}/billing-runs",
                    json={"period_start": period, "as_of": period},
                )
                r.raise_for_status()
                invoices += r.json()["invoices"]
            topic = prefix + "billing.invoice-issued"
            while await end_offsets(bootstrap, topic) < invoices:
                alive(proc)
                await asyncio.sleep(0.2)
            open_fen = await conn.fetchval("SELECT sum(total_fen) FROM invoices")
            print(
                f"billed {args.months} month(s): {invoices} open invoices "
                f"({open_fen / 100:,.2f} yuan), all on Kafka, in {time.perf_counter() - t0:.1f}s"
            )
            # More replicas join the group once the invoices are out; the group rebalances
            # before the clock starts.
            for _ in range(args.replicas - 1):
                ports.append(free_port())
                more = {**env, "BILLING_HTTP_PORT": str(ports[-1])}
                procs.append(
                    subprocess.Popen([sys.executable, "-m", "billing"], env=more, cwd=ROOT)
                )
            for other, other_port in zip(procs[1:], ports[1:], strict=True):
                while True:
                    alive(other)
                    try:
                        ready = await http.get(f"http://127.0.0.1:{other_port}/readyz")
                        if ready.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
            if args.replicas > 1:
                await asyncio.sleep(8)  # the group's rebalance (join, sync, assignment)

        n = args.payments
        records = payment_records(n, args.units)
        topic = prefix + PaymentReceived.topic()
        producer = make_producer(bootstrap, client_id="bench")
        await producer.start()
        spy = None
        if args.py_spy:
            spy = subprocess.Popen(
                ["py-spy", "record", "--format", "raw", "-o", args.py_spy, "-p", str(proc.pid)]
            )
            await asyncio.sleep(1)
        load_before = Path("/proc/loadavg").read_text().split()[0]
        cpu_before = sum(cpu_seconds(p.pid) for p in procs)
        pg_before = await backend_cpu_seconds(conn)
        start = time.perf_counter()  # from the first payment sent
        for key, value, headers in records:
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
        produced = time.perf_counter() - start
        await producer.stop()
        while (done := await conn.fetchval("SELECT count(*) FROM payments_received")) < n:
            for p in procs:
                alive(p)
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - start
        load_after = Path("/proc/loadavg").read_text().split()[0]
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        pg_cpu = await backend_cpu_seconds(conn) - pg_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        rate = done / elapsed
        print(f"produced {n} payments in {produced:.2f}s")
        print(
            f"allocation: {done} payments allocated in {elapsed:.2f}s = {rate:.0f} payments/s "
            f"(load average {load_before} -> {load_after}; {args.replicas} billing process(es))"
        )
        print(f"billing CPU: {cpu:.2f} s = {cpu * 1000 / done:.3f} ms per payment")
        print(f"PostgreSQL CPU: {pg_cpu:.2f} s = {pg_cpu * 1000 / done:.3f} ms per payment")
        batches = sum([await handler_calls(p, PaymentReceived.topic()) for p in ports])
        print(f"transactions: {batches:.0f} (mean {done / max(batches, 1):.0f} payments each)")
        wrong, over, paid, placed = await check_money(conn)
        receipts = await conn.fetchval("SELECT count(*) FROM receipts")
        print(
            f"money: {paid} fen paid, {placed} fen allocated or credit; units off: {wrong}; "
            f"invoices overpaid: {over}; receipts: {receipts}"
        )
        if wrong or over or paid != placed or receipts != n:
            raise SystemExit("money invariant broken")
        raw = await raw_consume(bootstrap, topic, n)
        ceiling = n / raw
        print(
            f"ceiling: raw aiokafka consume of the same {n} records in {raw:.2f}s = "
            f"{ceiling:.0f} records/s; ratio allocation/ceiling: {rate / ceiling:.3f}"
        )
        figures = {
            "payments": done,
            "units": args.units,
            "months": args.months,
            "replicas": args.replicas,
            "seconds": round(elapsed, 3),
            "per_second": round(rate, 1),
            "ceiling_per_second": round(ceiling, 1),
            "billing_cpu_ms_per_payment": round(cpu * 1000 / done, 4),
            "postgres_cpu_ms_per_payment": round(pg_cpu * 1000 / done, 4),
            "ratio": round(rate / ceiling, 4),
        }
        print("BENCH " + json.dumps({"name": "allocation", "figures": figures}))
    finally:
        await conn.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        await delete_topics(bootstrap, [prefix + t.name for t in all_topics()])
        await admin.execute(f'DROP DATABASE IF EXISTS "{tag}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
