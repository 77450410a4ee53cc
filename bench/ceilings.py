"""Same-run ceilings: what the machine does with no Propfee code in the way.

    uv run python -m bench.ceilings              # full sizes (what `make bench` measures)
    uv run python -m bench.ceilings --smoke      # seconds
    uv run python -m bench.ceilings --only copy,produce

Each benchmark's figure is compared with one of these, measured on the same machine in the
same run (issue 22), so that a figure taken on a busy machine still says how far the code is
from what PostgreSQL, Kafka or the HTTP stack allow:

- ``copy``: asyncpg ``COPY`` of invoice-shaped rows (billing's ``invoices`` columns and
  indexes), in chunks of 5,000 as a billing run writes them, each chunk its own transaction:
  invoices/s (``copy_invoices_per_s``, issue 22's definition: the invoices alone), and again
  with ``--lines`` ``invoice_lines`` rows per invoice (``copy_with_lines_invoices_per_s``).
  Then one set-based ``UPDATE`` of every copied invoice (a sweep's kind of write): rows/s.
  ``bench/billing/bench_run.py`` measures its own ceilings with the same ``copy_rate``.
- ``produce``: raw aiokafka producer, ``acks=all`` and idempotent (the settings of
  ``propfee.kafka.make_producer``), events the size of a real ``InvoiceIssued`` CloudEvent
  (payload and ``ce_*`` headers; the size is recorded), to a topic with the partitions of
  ``billing.invoice-issued``: events/s.
- ``consume``: a raw aiokafka consumer in a fresh group reading those events back: events/s.
- ``bare``: a bare endpoint of the same stack (FastAPI + uvicorn, 2 workers, ``GET`` returning
  a constant), loaded by the client the webhook benchmark uses (``wrk`` when on the PATH, else
  its pure-Python client), same connections and duration: requests/s and p99.

Everything runs in its own database and under its own topic prefix, removed afterwards (also
on SIGINT). The last stdout line is ``BENCH {json}`` (name ``ceilings``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from propfee.cloudevents import CloudEvent
from propfee.events import InvoiceIssued
from propfee.kafka import client_kwargs, delete_topics, ensure_topics
from propfee.settings import LOCAL_PG_OWNER
from propfee.topics import all_topics

ROOT = Path(__file__).resolve().parents[1]
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
ADMIN = os.environ.get("PROPFEE_TEST_DATABASE_URL", f"{LOCAL_PG_OWNER}/postgres")
CHUNK = 5000  # billing.service_layer.runs.CHUNK

#: Sizes: full (``make bench``) and smoke (CI).
FULL = {"copy_rows": 200_000, "events": 200_000, "bare_seconds": 10}
SMOKE = {"copy_rows": 10_000, "events": 10_000, "bare_seconds": 1}

TABLES = """
CREATE TABLE invoices (
    invoice_id text PRIMARY KEY, community_id text NOT NULL, building_id text NOT NULL,
    unit_id text NOT NULL, payer_party_id text NOT NULL, liable_party_id text, run_id text,
    kind text NOT NULL DEFAULT 'regular', period_start date NOT NULL, period_end date NOT NULL,
    due_date date NOT NULL, schedule_version integer, total_fen bigint NOT NULL,
    principal_paid_fen bigint NOT NULL DEFAULT 0, status text NOT NULL DEFAULT 'issued',
    issued_at timestamptz NOT NULL, collection text NOT NULL DEFAULT 'property',
    version integer NOT NULL DEFAULT 1);
CREATE INDEX invoices_by_unit ON invoices (unit_id, due_date);
CREATE INDEX invoices_by_community_period ON invoices (community_id, period_start);
CREATE TABLE invoice_lines (
    invoice_id text NOT NULL, line_no integer NOT NULL, fee_item text NOT NULL,
    description text NOT NULL, quantity numeric(16, 4) NOT NULL,
    unit_price_fen numeric(14, 4) NOT NULL, amount_fen bigint NOT NULL,
    PRIMARY KEY (invoice_id, line_no));
"""
INVOICE_COLUMNS = (
    "invoice_id", "community_id", "building_id", "unit_id", "payer_party_id", "liable_party_id",
    "run_id", "period_start", "period_end", "due_date", "schedule_version", "total_fen",
    "issued_at", "collection",
)  # fmt: skip
LINE_COLUMNS = (
    "invoice_id", "line_no", "fee_item", "description", "quantity", "unit_price_fen",
    "amount_fen",
)  # fmt: skip
FEE_ITEMS = ("property_fee", "parking_fee", "shared_utilities", "garbage")


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop measuring, clean up, exit non-zero."""


def invoice_payload(n: int, lines: int = 2) -> bytes:
    """The JSON data of a regular ``InvoiceIssued`` as a billing run writes it (validated by
    the model, so the size follows the contract)."""
    start = date(2026, 1, 1)
    event_lines = [
        {
            "fee_item": FEE_ITEMS[k % len(FEE_ITEMS)],
            "description": f"{FEE_ITEMS[k % len(FEE_ITEMS)]} 2026-01",
            "quantity": "89.5300",
            "unit_price_fen": 250,
            "amount_fen": 22383,
            "unit_price_exact": "250.0000",
        }
        for k in range(lines)
    ]
    payload = {
        "invoice_id": f"inv-{secrets.token_hex(8)}-{n}",
        "community_id": "c-ceiling-0001",
        "building_id": f"b-{n // 500:05d}",
        "unit_id": f"u-{n:09d}",
        "payer_party_id": f"p-{n:09d}",
        "period_start": start.isoformat(),
        "period_end": date(2026, 1, 31).isoformat(),
        "due_date": date(2026, 1, 31).isoformat(),
        "lines": event_lines,
        "total_fen": 22383 * lines,
        "currency": "CNY",
        "issued_at": "2026-01-01T00:00:00+08:00",
        "schedule_version": "3",
        "room_label": f"{n // 500 + 1}幢{n % 500 // 20 + 1}单元{n % 20 + 1:02d}01室",
        "kind": "regular",
        "collection": "property",
        "liable_party_ids": [f"p-{n:09d}"],
        "interest_from": date(2026, 2, 1).isoformat(),
    }
    raw = orjson.dumps(payload)
    InvoiceIssued.model_validate_json(raw)
    return raw


def invoice_event(n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one InvoiceIssued record as the outbox relay publishes it."""
    raw = invoice_payload(n)
    unit = f"u-{n:09d}"
    envelope = CloudEvent.new(
        type=InvoiceIssued.ce_type(), source=InvoiceIssued.ce_source(), subject=unit,
        data=raw, time=datetime.now(UTC),
    )  # fmt: skip
    return unit.encode(), envelope.data, envelope.kafka_headers()


def record_bytes(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    return len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)


# -- COPY -------------------------------------------------------------------------------------


async def copy_rate(rows: int, lines: int = 2) -> dict[str, float]:
    """COPY ``rows`` invoices (and ``lines`` lines each; 0: the invoices alone, issue 22's
    definition of the billing run's ceiling) into a fresh database, chunks of 5,000 each in its
    own transaction; then one set-based UPDATE of them all. The one COPY ceiling of every
    benchmark (``bench_run.py`` measures both definitions with it)."""
    admin = await asyncpg.connect(ADMIN)
    name = f"bench_ceiling_{os.getpid()}_{secrets.token_hex(2)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(f"{ADMIN.rsplit('/', 1)[0]}/{name}")
        try:
            await conn.execute(TABLES)
            issued = datetime(2026, 1, 1, tzinfo=UTC)
            start, end, due = date(2026, 1, 1), date(2026, 1, 31), date(2026, 1, 31)
            invoices = [
                (f"inv-{n:010d}", "c-ceiling-0001", f"b-{n // 500:05d}", f"u-{n:09d}",
                 f"p-{n:09d}", None, "run-ceiling", start, end, due, 3, 22383 * max(lines, 1), issued,
                 "property")
                for n in range(rows)
            ]  # fmt: skip
            invoice_lines = [
                (f"inv-{n:010d}", k + 1, FEE_ITEMS[k % len(FEE_ITEMS)], "2026-01", 89.53, 250,
                 22383)
                for n in range(rows)
                for k in range(lines)
            ]  # fmt: skip
            t0 = time.perf_counter()
            for at in range(0, rows, CHUNK):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "invoices", records=invoices[at : at + CHUNK], columns=INVOICE_COLUMNS
                    )
                    if lines:
                        await conn.copy_records_to_table(
                            "invoice_lines",
                            records=invoice_lines[at * lines : (at + CHUNK) * lines],
                            columns=LINE_COLUMNS,
                        )
            copy_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            await conn.execute(
                "UPDATE invoices SET status = 'partially_paid', version = version + 1"
            )
            update_s = time.perf_counter() - t0
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "copy_invoices": rows,
        "copy_lines_per_invoice": lines,
        "copy_s": round(copy_s, 3),
        "copy_invoices_per_s": round(rows / copy_s),
        "update_s": round(update_s, 3),
        "update_rows_per_s": round(rows / update_s),
    }


# -- Kafka ------------------------------------------------------------------------------------


def invoice_topic_partitions() -> int:
    return next(t.partitions for t in all_topics() if t.name == InvoiceIssued.topic())


async def produce_rate(bootstrap: str, topic: str, events: int) -> dict[str, float]:
    """Send ``events`` InvoiceIssued-sized records with a raw idempotent acks=all producer,
    every send handed over before waiting (as the relay hands over a batch): events/s until
    the last is acknowledged. The records are built before the clock starts."""
    records = [invoice_event(n) for n in range(min(events, 1000))]
    size = sum(record_bytes(*r) for r in records) / len(records)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id="bench-ceiling", **client_kwargs(),
        enable_idempotence=True, acks="all", linger_ms=0, max_batch_size=512 * 1024,
        request_timeout_ms=30000,
    )  # fmt: skip
    await producer.start()
    try:
        t0 = time.perf_counter()
        pending = []
        for n in range(events):
            key, value, headers = records[n % len(records)]
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - t0
    finally:
        await producer.stop()
    return {
        "produce_events": events,
        "produce_s": round(seconds, 3),
        "produce_events_per_s": round(events / seconds),
        "event_bytes": round(size),
    }


async def consume_rate(bootstrap: str, topic: str, events: int) -> dict[str, float]:
    """Read ``events`` records of ``topic`` from the start with a raw consumer in a fresh
    group: events/s from the first record to the last (the group join is not counted)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-ceiling-{secrets.token_hex(3)}",
        auto_offset_reset="earliest", enable_auto_commit=False, **client_kwargs(),
    )  # fmt: skip
    await consumer.start()
    try:
        got = 0
        t0 = None
        deadline = time.monotonic() + 120
        while got < events and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batch.values():
                if records and t0 is None:
                    t0 = time.perf_counter()
                got += len(records)
        seconds = time.perf_counter() - (t0 or time.perf_counter())
        await consumer.commit()
    finally:
        await consumer.stop()
    if got < events:
        raise RuntimeError(f"consumed {got} of {events} records in 120 s")
    return {
        "consume_events": got,
        "consume_s": round(seconds, 3),
        "consume_events_per_s": round(got / seconds) if seconds else 0,
    }


async def kafka_rates(events: int, bootstrap: str = KAFKA) -> dict[str, float]:
    """``produce_rate`` then ``consume_rate`` on a topic of this run's own prefix."""
    prefix = f"benchceil{secrets.token_hex(3)}."
    spec = next(t for t in all_topics() if t.name == InvoiceIssued.topic())
    await ensure_topics(bootstrap, prefix=prefix, specs=[spec])
    topic = prefix + spec.name
    try:
        produced = await produce_rate(bootstrap, topic, events)
        consumed = await consume_rate(bootstrap, topic, events)
    finally:
        await delete_topics(bootstrap, [topic])
    return {**produced, **consumed, "topic_partitions": spec.partitions}


# -- the bare endpoint ------------------------------------------------------------------------


def load_client() -> ModuleType:
    """The webhook benchmark's module: its load generators are the ceiling's."""
    path = ROOT / "bench" / "payments" / "bench_wechatpay.py"
    spec = importlib.util.spec_from_file_location("bench_wechatpay", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bare_endpoint(
    seconds: float, connections: int = 32, workers: int = 2, client: str = "auto"
) -> dict[str, float]:
    """GET of a constant from FastAPI + uvicorn (``bench.bare_app``, ``workers`` processes),
    under the webhook benchmark's load generator: requests/s and latency percentiles."""
    wechat = load_client()
    chosen = wechat.choose_client(client)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--app-dir", str(ROOT),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/bare"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(150):
                try:
                    if (await http.get(url)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError("the bare endpoint did not start")
        args = SimpleNamespace(connections=connections, duration=int(seconds), threads=1)
        if chosen == "wrk":
            result = wechat.wrk(url, ROOT / "bench" / "payments" / "bare.lua", args, {})
        else:
            result = await wechat.python_load(url, args)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    elapsed = result["duration_us"] / 1e6
    return {
        "bare_requests": result["requests"],
        "bare_per_s": round(result["requests"] / elapsed),
        "bare_p50_ms": round(result["p50_us"] / 1000, 2),
        "bare_p99_ms": round(result["p99_us"] / 1000, 2),
        "bare_workers": workers,
        "bare_connections": connections,
        "bare_non_2xx": result["status_errors"],
        "bare_client_wrk": 1 if chosen == "wrk" else 0,
    }


# -- all of them ------------------------------------------------------------------------------

KINDS = ("copy", "produce", "consume", "bare")


async def measure(
    *,
    smoke: bool = False,
    only: tuple[str, ...] = KINDS,
    connections: int = 32,
    client: str = "auto",
    lines: int = 2,
    say: Any = print,
) -> dict[str, float]:
    """Every ceiling asked for, one after the other (never two at once: they share cores)."""
    size = SMOKE if smoke else FULL
    figures: dict[str, float] = {}
    if "copy" in only:
        # Issue 22's definition (the invoices alone), then with the lines a run also writes.
        figures |= await copy_rate(size["copy_rows"], 0)
        with_lines = await copy_rate(size["copy_rows"], lines)
        figures |= {
            "copy_lines_per_invoice": lines,
            "copy_with_lines_s": with_lines["copy_s"],
            "copy_with_lines_invoices_per_s": with_lines["copy_invoices_per_s"],
        }
        say(
            f"COPY: {figures['copy_invoices']:,} invoices in {figures['copy_s']:.2f} s = "
            f"{figures['copy_invoices_per_s']:,}/s (with {lines} lines each: "
            f"{figures['copy_with_lines_invoices_per_s']:,}/s); set-based UPDATE "
            f"{figures['update_rows_per_s']:,} rows/s"
        )
    if "produce" in only or "consume" in only:
        figures |= await kafka_rates(size["events"])
        say(
            f"produce (acks=all, idempotent): {figures['produce_events']:,} events of "
            f"{figures['event_bytes']} B in {figures['produce_s']:.2f} s = "
            f"{figures['produce_events_per_s']:,}/s; consume: "
            f"{figures['consume_events_per_s']:,}/s"
        )
    if "bare" in only:
        figures |= await bare_endpoint(size["bare_seconds"], connections, client=client)
        say(
            f"bare GET (FastAPI + uvicorn, {figures['bare_workers']} workers, "
            f"{figures['bare_connections']} connections): {figures['bare_per_s']:,}/s, "
            f"p50 {figures['bare_p50_ms']} ms, p99 {figures['bare_p99_ms']} ms"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ceilings", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--only", default=",".join(KINDS), help=f"some of {','.join(KINDS)}")
    parser.add_argument("--connections", type=int, default=32, help="bare endpoint's load")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--lines", type=int, default=2, help="invoice_lines per COPY'd invoice")
    args = parser.parse_args(argv)
    only = tuple(k.strip() for k in args.only.split(",") if k.strip())
    unknown = set(only) - set(KINDS)
    if unknown:
        parser.error(f"unknown ceilings: {', '.join(sorted(unknown))}")

    def interrupted(*_: object) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, interrupted)
    load_before = os.getloadavg()[0]
    try:
        figures = asyncio.run(
            measure(
                smoke=args.smoke,
                only=only,
                connections=args.connections,
                client=args.client,
                lines=args.lines,
            )
        )
    except (KeyboardInterrupt, Interrupted):
        print("interrupted", file=sys.stderr)
        return 130
    figures["load_before"] = round(load_before, 2)
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(f"load average (1 min) before/after: {load_before:.2f} / {figures['load_after']:.2f}")
    print("BENCH " + json.dumps({"name": "ceilings", "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "bare_endpoint",
    "consume_rate",
    "copy_rate",
    "kafka_rates",
    "measure",
    "produce_rate",
]
