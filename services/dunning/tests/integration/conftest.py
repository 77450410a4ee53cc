"""A fresh, migrated dunning database per test (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest_asyncio

from dunning.app import create_app
from dunning.settings import DunningSettings
from propfee.db import create_pool, migrate_database


@pytest_asyncio.fixture
async def pool(create_database) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    url = await create_database("dunning")
    await migrate_database(url, "dunning")
    pool = await create_pool(url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def api(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API in process over the test's database (no Kafka: nothing consumed here)."""
    app = create_app(DunningSettings(sweep_interval_s=0))
    runtime = app.state.runtime
    runtime.pool = pool
    runtime.started.set()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dunning") as client:
        yield client
