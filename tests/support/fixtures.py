"""Session fixtures: the real local Kafka and PostgreSQL, isolated per test run.

The infrastructure comes from ``deploy/local/infra.sh up`` (idempotent: reused when it already
runs), or from the environment: ``KAFKA_BOOTSTRAP_SERVERS`` for an existing broker and
``PROPFEE_TEST_DATABASE_URL`` for a PostgreSQL role that may create databases. Each run gets
its own topic prefix, consumer groups and databases, so runs never see each other's data.

Test databases have the production split (docs/security.md, "Database roles"): on the local
PostgreSQL the owner role ``propfee_owner`` creates and owns them and runs the migrations; the
URL a test gets is the runtime role's (``propfee``), which services and pools use, and from
which ``propfee.settings.migration_url_for`` finds the owner's. With
``PROPFEE_TEST_DATABASE_URL`` one role does both (``Infra.split_roles`` is False).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from propfee.auth.dev import DevIssuer
from propfee.kafka import delete_topics, ensure_topics
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER
from propfee.topics import all_topics
from tests.support.auth import BearerAuth, auth_env, staff_token
from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"


@dataclass(frozen=True)
class Infra:
    bootstrap_servers: str
    admin_database_url: str  # a role that creates (and owns) the test databases
    runtime_base_url: str  # where a test database's runtime URL starts (no database name)
    manages_kafka: bool  # True when this machine's local Kafka is ours to stop and start

    @property
    def split_roles(self) -> bool:
        """True when test databases are owned by one role and used by another."""
        return not self.admin_database_url.startswith(self.runtime_base_url + "/")

    def stop_kafka(self) -> None:
        subprocess.run(["bash", str(INFRA), "stop-kafka"], check=True, timeout=120)

    def start_kafka(self) -> None:
        subprocess.run(["bash", str(INFRA), "start-kafka"], check=True, timeout=300)


@pytest.fixture(scope="session")
def infra() -> Infra:
    external_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    env = {**os.environ, "PROPFEE_INFRA_SKIP_PY_CHECK": "1"}
    external_pg = os.environ.get("PROPFEE_TEST_DATABASE_URL")
    if not (external_kafka and external_pg):
        # Parallel workers (pytest -n) each ask for the infrastructure: one starts it, the
        # others wait on the lock and then find it up.
        home = Path(os.environ.get("PROPFEE_HOME", ROOT / ".local"))
        home.mkdir(parents=True, exist_ok=True)
        with open(home / "infra-up.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run(["bash", str(INFRA), "up"], check=True, env=env, timeout=900)
    # A developer's shell may name the owner role of the real service databases; a test's
    # service must migrate its own test database (derived from the URL the test gives it).
    for name in [n for n in os.environ if n.endswith("_MIGRATION_DATABASE_URL")]:
        del os.environ[name]
    return Infra(
        bootstrap_servers=external_kafka or "127.0.0.1:9092",
        admin_database_url=external_pg or f"{LOCAL_PG_OWNER}/postgres",
        runtime_base_url=external_pg.rsplit("/", 1)[0] if external_pg else LOCAL_PG,
        manages_kafka=not external_kafka,
    )


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"t{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def topic_prefix(run_id: str) -> str:
    return f"{run_id}."


@pytest_asyncio.fixture(scope="session")
async def kafka(infra: Infra, topic_prefix: str) -> AsyncIterator[str]:
    """Every declared topic, created under this run's prefix; deleted afterwards."""
    await ensure_topics(infra.bootstrap_servers, prefix=topic_prefix)
    yield infra.bootstrap_servers
    names = [topic_prefix + t.name for t in all_topics()]
    try:
        await delete_topics(infra.bootstrap_servers, names)
    except Exception:  # Kafka may be down after a failure test; topics are namespaced anyway
        pass


DatabaseFactory = Callable[[str], Awaitable[str]]


@pytest_asyncio.fixture(scope="session")
async def create_database(infra: Infra, run_id: str) -> AsyncIterator[DatabaseFactory]:
    """Factory: a fresh, empty database for this run, owned by the owner role; returns the
    runtime role's URL (migrations find the owner's with ``migration_url_for``). Dropped at
    the end of the session."""
    created: list[str] = []
    admin = await asyncpg.connect(infra.admin_database_url)

    async def factory(name: str) -> str:
        db = f"{run_id}_{name}_{len(created)}"
        await admin.execute(f'CREATE DATABASE "{db}"')
        created.append(db)
        return f"{infra.runtime_base_url}/{db}"

    yield factory
    for db in created:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture
async def test_prefix(kafka: str, run_id: str) -> AsyncIterator[str]:
    """A topic prefix (and so consumer groups) of this test alone, with every topic created."""
    prefix = f"{run_id}-{secrets.token_hex(2)}."
    await ensure_topics(kafka, prefix=prefix)
    yield prefix
    try:
        await delete_topics(kafka, [prefix + t.name for t in all_topics()])
    except Exception:
        pass


@pytest.fixture(scope="session")
def dev_issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    """The development issuer of this test run (keys in a temporary directory); service
    processes started by ``services`` trust it, in-process apps via ``tests.support.auth.trust``.
    """
    return DevIssuer.load_or_create(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="session")
def staff_auth(dev_issuer: DevIssuer) -> BearerAuth:
    """httpx auth of a company admin of the test company (every community)."""
    return BearerAuth(staff_token(dev_issuer))


@pytest.fixture
def services(
    infra: Infra, kafka: str, test_prefix: str, tmp_path: Path, dev_issuer: DevIssuer
) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory for real service processes (``python -m <service>``) wired to this test's
    topics and trusting ``dev_issuer``; every process is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def factory(
        name: str, database_url: str, *, auth: dict[str, str] | None = None, **env: str
    ) -> ServiceProcess:
        """``env`` is prefixed with the service's name; ``auth`` (unprefixed
        ``PROPFEE_AUTH_*``) replaces the trust in ``dev_issuer`` (another identity provider)."""
        process = ServiceProcess(
            name,
            database_url=database_url,
            bootstrap_servers=kafka,
            topic_prefix=test_prefix,
            log_dir=tmp_path,
            extra_env=env,
            env={**auth_env(dev_issuer), **(auth or {})},
        )
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout: float = 60.0, interval: float = 0.2
) -> None:
    """Poll an async predicate until it holds; fail with the timeout otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
