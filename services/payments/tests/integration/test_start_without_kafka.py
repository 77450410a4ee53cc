"""Payments starts and answers a signed webhook while Kafka is unreachable (real processes).

Kafka is reached through a small TCP forwarder of the test's own: closed at first (nothing
listens on its port, so every connection is refused), then opened onto the real broker. An API
process (relay and consumers off, as the Helm chart's api pods) is ready on its database alone;
a worker (relay and consumers on) reports 503 until Kafka answers, then publishes what the API
process wrote to the outbox, without a restart. A process whose database is down is not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, order_on_account, wechat_env

from sandbox.wechatpay import WechatSide, transaction
from tests.support.fixtures import wait_until
from tests.support.kafka import read_topic
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"


class Forwarder:
    """127.0.0.1:<port> -> the real broker, once opened; until then nothing listens."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.connections = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


async def test_api_process_serves_webhooks_without_kafka_and_a_worker_publishes_later(
    services,
    create_database,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    side = WechatSide()
    forwarder = Forwarder(kafka)
    db = await create_database("payments")
    env = wechat_env(side, tmp_path)
    api = services("payments", db, relay_enabled="false", consumers_enabled="false", **env)
    api.env["KAFKA_BOOTSTRAP_SERVERS"] = forwarder.address
    worker = services("payments", db, **env)
    worker.env["KAFKA_BOOTSTRAP_SERVERS"] = forwarder.address
    worker.log_path = tmp_path / "payments-worker.log"
    try:
        # The API process: alive and ready on its database, Kafka reported as it is.
        api.start(wait=True, timeout=60)
        assert (await _get(f"{api.url}/healthz")).status_code == 200
        ready = await _get(f"{api.url}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["kafka"] != "ok"

        # The worker: alive, its database up, but not ready while Kafka is unreachable.
        worker.start(wait=False)

        async def worker_serves() -> bool:
            try:
                r = await _get(f"{worker.url}/readyz")
            except httpx.HTTPError:
                return False
            return (
                r.json()["checks"].get("database") == "ok" and "service" not in r.json()["checks"]
            )

        await wait_until(worker_serves, timeout=60)
        assert (await _get(f"{worker.url}/healthz")).status_code == 200
        not_ready = await _get(f"{worker.url}/readyz")
        assert not_ready.status_code == 503, not_ready.text
        assert not_ready.json()["checks"]["kafka"] != "ok"

        # A signed WeChat Pay notification: accepted, the payment and its event in the outbox.
        await know_communities(db)
        conn = await asyncpg.connect(db)
        try:
            async with httpx.AsyncClient(base_url=api.url, timeout=30, auth=staff_auth) as http:
                order = await order_on_account(conn, http, api.url, "u-k1", 27580)
                body = side.body("TRANSACTION.SUCCESS", transaction(order["out_trade_no"], 27580))
                r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
                assert r.status_code in (200, 204), r.text  # WeChat Pay's success answers
            assert await conn.fetchval("SELECT count(*) FROM payments") == 1
            pending = await conn.fetch(
                "SELECT message_key FROM outbox WHERE topic = $1 AND published_at IS NULL", TOPIC
            )
            assert [p["message_key"] for p in pending] == ["u-k1"]
            await asyncio.sleep(2)  # several retries later: still nothing published
            assert forwarder.connections == 0
            assert (
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
                == 0
            )

            # Kafka becomes reachable: the worker connects by itself and publishes the event.
            await forwarder.open()

            async def worker_ready() -> bool:
                return (await _get(f"{worker.url}/readyz")).status_code == 200

            await wait_until(worker_ready, timeout=60)
            records = await read_topic(kafka, test_prefix + TOPIC, at_least=1, settle=2.0)
            assert [(r.key, json.loads(r.value)["amount_fen"]) for r in records] == [
                (b"u-k1", 27580)
            ]

            async def published() -> bool:
                return (
                    await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    == 0
                )

            await wait_until(published, timeout=30)
            assert forwarder.connections > 0
            # The API process is still serving; it now reports Kafka reachable too.
            assert (await _get(f"{api.url}/readyz")).status_code == 200
        finally:
            await conn.close()
        assert worker.process is not None and worker.process.poll() is None  # never restarted
        assert "kafka not reachable; retrying" in worker.log_path.read_text()
    finally:
        await forwarder.close()


@pytest.mark.parametrize("role", ["api", "worker"])
async def test_a_process_whose_database_is_down_is_not_ready(
    services,
    tmp_path,
    role: str,  # type: ignore[no-untyped-def]
) -> None:
    down = f"postgresql://propfee:propfee@127.0.0.1:{free_port()}/payments"
    off = {"relay_enabled": "false", "consumers_enabled": "false"} if role == "api" else {}
    proc = services("payments", down, **wechat_env(WechatSide(), tmp_path), **off)
    proc.start(wait=False)

    async def alive() -> bool:
        try:
            return (await _get(f"{proc.url}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(alive, timeout=60)
    await asyncio.sleep(1)
    r = await _get(f"{proc.url}/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["checks"]["database"] != "ok"
    assert r.json()["status"] == "not ready"
