"""A fresh, migrated dunning database per test (real PostgreSQL), its communities known to
belong to the test company, and the HTTP API in process with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest_asyncio

from dunning.app import create_app
from dunning.settings import DunningSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool, migrate_database
from services.dunning.tests.integration.support import community, feed
from tests.support.auth import BearerAuth, staff_token, trust

#: Communities the tests use (billing.community-updated fed for each).
COMMUNITIES = ("c-1", "c-9")
#: What the in-process client acts as: the company admin, and the CronJob that sweeps (a
#: sweep dated in the future is for the service role only).
ROLES = (Role.company_admin, Role.service)


@pytest_asyncio.fixture
async def pool(create_database) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    url = await create_database("dunning")
    await migrate_database(url, "dunning")
    pool = await create_pool(url, min_size=1, max_size=4)
    for community_id in COMMUNITIES:
        await feed(pool, community(community_id))
    yield pool
    await pool.close()


def in_process(pool: asyncpg.Pool, issuer: DevIssuer) -> httpx.AsyncBaseTransport:
    """The app over the test's database (no Kafka: nothing consumed), trusting ``issuer``."""
    app = trust(create_app(DunningSettings(sweep_interval_s=0)), issuer)
    runtime = app.state.runtime
    runtime.pool = pool
    runtime.started.set()
    return httpx.ASGITransport(app=app)


@pytest_asyncio.fixture
async def api(pool: asyncpg.Pool, dev_issuer: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    auth = BearerAuth(staff_token(dev_issuer, ROLES, subject="admin-1"))
    async with httpx.AsyncClient(
        transport=in_process(pool, dev_issuer), base_url="http://dunning", auth=auth
    ) as client:
        yield client
