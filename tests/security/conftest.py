"""A started service app per service case (in process, real PostgreSQL and Kafka), trusting
the test run's dev issuer, with its world seeded."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from propfee.auth.dev import DevIssuer
from propfee.kafka import ensure_topics
from tests.security.cases import SecuredService, World, service
from tests.support.auth import trust


@dataclass
class Running:
    case: SecuredService
    client: TestClient
    world: World
    schema: dict[str, object]


def _wait_ready(client: TestClient) -> None:
    for _ in range(300):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready: {client.get('/readyz').text}")


class _Apps:
    """One started app per service for the whole session: started when a test first needs
    it, stopped at the end. (A module-scoped fixture parametrised per service was started
    and stopped again whenever pytest's ordering switched services.)"""

    def __init__(self, dev_issuer: DevIssuer, kafka: str, topic_prefix: str) -> None:
        self.dev_issuer, self.kafka, self.topic_prefix = dev_issuer, kafka, topic_prefix
        self.stack = ExitStack()
        self.running: dict[str, Running] = {}

    async def get(self, name: str, create_database) -> Running:  # type: ignore[no-untyped-def]
        if name in self.running:
            return self.running[name]
        case = service(name)
        run = f"s{secrets.token_hex(2)}"
        dsn = await create_database(f"sec_{case.name}")
        # Topics of its own: no other service's events change its database mid-test (the
        # tenancy matrix compares the database before and after each request).
        prefix = f"{self.topic_prefix}{name}."
        await ensure_topics(self.kafka, prefix=prefix)
        settings = case.settings(
            database_url=dsn, kafka_bootstrap_servers=self.kafka, topic_prefix=prefix
        )
        app = trust(case.create_app(settings), self.dev_issuer)
        client = self.stack.enter_context(TestClient(app, raise_server_exceptions=False))
        _wait_ready(client)
        world = case.seed(client, self.dev_issuer, run)
        self.running[name] = Running(case, client, world, app.openapi())
        return self.running[name]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _apps(dev_issuer: DevIssuer, kafka: str, topic_prefix: str) -> AsyncIterator[_Apps]:
    apps = _Apps(dev_issuer, kafka, topic_prefix)
    yield apps
    apps.stack.close()


@pytest_asyncio.fixture(loop_scope="session")
async def running(
    request: pytest.FixtureRequest,
    _apps: _Apps,
    create_database,  # type: ignore[no-untyped-def]
) -> Running:
    """``request.param`` is the service's name (indirect parametrisation)."""
    return await _apps.get(request.param, create_database)
