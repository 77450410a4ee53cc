"""``GET /metrics``: the outbox backlog is the database's count at each scrape, and
``?name[]=`` answers only the named series."""

from __future__ import annotations

import asyncpg
import httpx

from propfee.http import create_service_app
from propfee.outbox import add_event
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings

from .conftest import payment


def _app(pool: asyncpg.Pool) -> httpx.AsyncClient:
    runtime = ServiceRuntime(ServiceSettings(service_name="metrics-test"), package="propfee")
    runtime.pool = pool  # the lifespan (Kafka, migrations) is not needed for a scrape
    app = create_service_app(runtime, title="metrics test", description="")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _pending(text: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.startswith("propfee_outbox_pending ")]
    assert len(lines) == 1, text
    return float(lines[0].split()[1])


async def test_outbox_backlog_is_counted_at_each_scrape(messaging_pool: asyncpg.Pool) -> None:
    async with _app(messaging_pool) as client:
        assert _pending((await client.get("/metrics")).text) == 0
        async with messaging_pool.acquire() as conn, conn.transaction():
            for n in range(3):
                await add_event(conn, payment(f"pay-{n}"), key="unit-1", subject=f"pay-{n}")
        # No relay runs here: a relay that stopped must not hide its backlog.
        assert _pending((await client.get("/metrics")).text) == 3
        await messaging_pool.execute(
            "UPDATE outbox SET published_at = now() WHERE id = (SELECT min(id) FROM outbox)"
        )
        assert _pending((await client.get("/metrics")).text) == 2


async def test_name_filter_answers_only_the_named_series(messaging_pool: asyncpg.Pool) -> None:
    async with _app(messaging_pool) as client:
        full = (await client.get("/metrics")).text
        one = await client.get("/metrics", params={"name[]": "propfee_outbox_pending"})
    assert one.status_code == 200
    assert "propfee_ready" in full and "propfee_ready" not in one.text
    series = [ln for ln in one.text.splitlines() if ln and not ln.startswith("#")]
    assert series == ["propfee_outbox_pending 0.0"]
