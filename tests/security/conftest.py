"""A started service app per service case (in process, real PostgreSQL and Kafka), trusting
the test run's dev issuer, with its world seeded."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from propfee.auth.dev import DevIssuer
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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def running(
    request: pytest.FixtureRequest,
    dev_issuer: DevIssuer,
    kafka: str,
    topic_prefix: str,
    create_database,  # type: ignore[no-untyped-def]
) -> AsyncIterator[Running]:
    """``request.param`` is the service's name (indirect parametrisation)."""
    case = service(request.param)
    run = f"s{secrets.token_hex(2)}"
    dsn = await create_database(f"sec_{case.name}")
    settings = case.settings(
        database_url=dsn, kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix
    )
    app = trust(case.create_app(settings), dev_issuer)
    with TestClient(app, raise_server_exceptions=False) as client:
        _wait_ready(client)
        world = case.seed(client, dev_issuer, run)
        yield Running(case, client, world, app.openapi())
