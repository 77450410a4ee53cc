"""Operations commands for the local setup, tests and Kubernetes jobs.

python -m propfee.admin topics [--production | --replication NAME]
                                          create every declared topic (idempotent), with
                                          replication NAME (propfee.topics.REPLICATIONS;
                                          default PROPFEE_TOPIC_REPLICATION or single-broker);
                                          --production = 3 replicas, min.insync.replicas 2
python -m propfee.admin ready [--timeout] wait until Kafka accepts a produce and every
                                          service database accepts a query
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import asyncpg

from propfee.kafka import ensure_topics, make_producer
from propfee.settings import LOCAL_PG
from propfee.topics import HEALTHCHECK_TOPIC, REPLICATIONS, SUBSCRIPTIONS

SERVICES = tuple(SUBSCRIPTIONS)


def bootstrap_servers() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def topic_prefix() -> str:
    return os.environ.get("PROPFEE_TOPIC_PREFIX", "")


def database_url(service: str) -> str:
    return os.environ.get(f"{service.upper()}_DATABASE_URL", f"{LOCAL_PG}/{service}")


async def kafka_accepts_produce(servers: str, prefix: str = "") -> None:
    await ensure_topics(servers, prefix=prefix)
    producer = make_producer(servers, client_id="propfee-ready")
    await producer.start()
    try:
        await producer.send_and_wait(prefix + HEALTHCHECK_TOPIC, b'{"ping":true}', key=b"ready")
    finally:
        await producer.stop()


async def database_accepts_query(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def wait_ready(timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending: dict[str, Callable[[], Awaitable[None]]] = {
        "kafka": lambda: kafka_accepts_produce(bootstrap_servers(), topic_prefix())
    }
    for service in SERVICES:
        pending[f"postgres/{service}"] = partial(database_accepts_query, database_url(service))
    last_error: dict[str, str] = {}
    while pending:
        for name, check in list(pending.items()):
            try:
                await asyncio.wait_for(check(), timeout=20)
                print(f"ready: {name}", flush=True)
                del pending[name]
            except Exception as exc:
                last_error[name] = repr(exc)
        if pending and time.monotonic() > deadline:
            for name in pending:
                print(f"not ready: {name}: {last_error.get(name)}", file=sys.stderr)
            raise SystemExit(1)
        if pending:
            await asyncio.sleep(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m propfee.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    topics = sub.add_parser("topics", help="create every declared topic (idempotent)")
    choice = topics.add_mutually_exclusive_group()
    choice.add_argument(
        "--replication",
        choices=sorted(REPLICATIONS),
        help="replication factor and min.insync.replicas of the topics created "
        "(default: PROPFEE_TOPIC_REPLICATION, else single-broker)",
    )
    choice.add_argument(
        "--production",
        dest="replication",
        action="store_const",
        const="production",
        help="the production replication: 3 replicas, min.insync.replicas 2",
    )
    ready = sub.add_parser("ready", help="wait until Kafka and every database are usable")
    ready.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    if args.command == "topics":
        replication = REPLICATIONS[args.replication] if args.replication else None
        created = asyncio.run(
            ensure_topics(bootstrap_servers(), prefix=topic_prefix(), replication=replication)
        )
        print(f"topics: {len(created)} created" + (f": {', '.join(created)}" if created else ""))
    elif args.command == "ready":
        asyncio.run(wait_ready(args.timeout))


if __name__ == "__main__":
    main()
