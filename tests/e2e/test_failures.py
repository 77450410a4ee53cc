"""Nothing is lost when Kafka stops or a service is SIGKILLed mid-burst; nothing is doubled.

The broker that is stopped is this module's own (``deploy/local/infra.sh start-kafka`` under a
home and ports of its own, like the fault suite's), so the test runs beside the others instead
of stopping the Kafka every other test uses."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from chaos.infra import ChaosInfra
from propfee.auth.dev import DevIssuer
from propfee.kafka import ensure_topics
from tests.support.auth import auth_env
from tests.support.billing_api import create_unit, invoice_body, setup_community
from tests.support.fixtures import wait_until
from tests.support.kafka import read_topic
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.long]

UNITS = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[ChaosInfra]:
    """A single broker of this module alone (its data wiped first), stopped at the end."""
    own = ChaosInfra(
        home=ROOT / ".local" / "failures-test",
        cluster=False,
        pg_port=int(os.environ.get("PROPFEE_FAILURES_TEST_PG_PORT", "55732")),  # unused
        kafka_port=int(os.environ.get("PROPFEE_FAILURES_TEST_KAFKA_PORT", "9692")),
    )
    own.home.mkdir(parents=True, exist_ok=True)
    own.sh("reset", check=False)
    own.prepare()
    own.sh("start-kafka", timeout=600)
    try:
        yield own
    finally:
        own.sh("stop-kafka", check=False)


@pytest_asyncio.fixture
async def own_services(
    own_kafka: ChaosInfra, tmp_path: Path, dev_issuer: DevIssuer
) -> AsyncIterator[tuple[str, Callable[[str, str], ServiceProcess]]]:
    """This test's topic prefix on the module's broker, and service processes wired to it."""
    prefix = f"f{secrets.token_hex(3)}."
    await ensure_topics(own_kafka.bootstrap, prefix=prefix)
    started: list[ServiceProcess] = []

    def factory(name: str, database_url: str) -> ServiceProcess:
        process = ServiceProcess(
            name,
            database_url=database_url,
            bootstrap_servers=own_kafka.bootstrap,
            topic_prefix=prefix,
            log_dir=tmp_path,
            env=auth_env(dev_issuer),
        )
        started.append(process)
        return process

    yield prefix, factory
    for process in started:
        process.stop()


async def _setup(create_database, services, staff_auth):  # type: ignore[no-untyped-def]
    billing_db = await create_database("billing")
    dunning_db = await create_database("dunning")
    billing = services("billing", billing_db).start()
    dunning = services("dunning", dunning_db).start()
    community = f"c-{uuid.uuid4().hex[:6]}"
    units = []
    async with httpx.AsyncClient(timeout=10, auth=staff_auth) as http:
        await setup_community(http, billing.url, community)
        for n in range(UNITS):
            unit_id, _ = await create_unit(http, billing.url, community, f"{n + 1:02d}01", "80")
            units.append(unit_id)
    return billing, dunning, billing_db, dunning_db, units


async def _issue(http: httpx.AsyncClient, billing_url: str, units: list[str], n: int) -> str:
    """Issue invoice ``n``; retried until accepted (the reference makes retries safe: the
    same reference for the same unit finds the invoice); returns billing's id for it."""
    reference = f"ref-{n:05d}"
    # Each of a unit's invoices bills its own month (a unit-month is billed once per fee item).
    index = 2025 * 12 + 1 + n // len(units)  # from February 2025, when its schedule applies
    month = date(index // 12, index % 12 + 1, 1)
    body = invoice_body(units[n % len(units)], reference, "80", month=month)
    for _ in range(600):
        try:
            r = await http.post(f"{billing_url}/invoices", json=body)
            if r.status_code in (200, 201):
                return str(r.json()["invoice_id"])
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"invoice {reference} never accepted")


async def _assert_exactly_once(dunning_db: str, invoice_ids: list[str]) -> None:
    conn = await asyncpg.connect(dunning_db)
    try:

        async def all_arrived() -> bool:
            return await conn.fetchval("SELECT count(*) FROM receivables") == len(invoice_ids)

        await wait_until(all_arrived, timeout=120)
        await asyncio.sleep(2)  # anything re-delivered late would show up now
        rows = await conn.fetch("SELECT invoice_id FROM receivables")
        assert sorted(r["invoice_id"] for r in rows) == sorted(invoice_ids)
        # One inbox row per distinct event: a re-published event was absorbed, not re-applied.
        assert await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE event_type = 'propfee.billing.InvoiceIssued.v1'"
        ) == len(invoice_ids)
        assert (
            await conn.fetchval("SELECT count(*) FROM arrears_cases WHERE status = 'open'") == UNITS
        )
    finally:
        await conn.close()


async def test_kafka_stopped_for_10s_mid_burst_loses_nothing(  # type: ignore[no-untyped-def]
    own_kafka, own_services, create_database, staff_auth
) -> None:
    prefix, services = own_services
    billing, dunning, _billing_db, dunning_db, units = await _setup(
        create_database, services, staff_auth
    )
    issued: list[str] = []
    async with httpx.AsyncClient(timeout=10, auth=staff_auth) as http:
        for n in range(100):
            issued.append(await _issue(http, billing.url, units, n))
        await asyncio.to_thread(own_kafka.sh, "stop-kafka")
        try:
            # Billing keeps accepting work while the broker is away: it lands in the outbox.
            for n in range(100, 200):
                issued.append(await _issue(http, billing.url, units, n))
            await asyncio.sleep(10)
        finally:
            await asyncio.to_thread(own_kafka.sh, "start-kafka", timeout=300)
        for n in range(200, 300):
            issued.append(await _issue(http, billing.url, units, n))
    await _assert_exactly_once(dunning_db, issued)
    records = await read_topic(own_kafka.bootstrap, prefix + "billing.invoice-issued", at_least=300)
    assert {r.headers["ce_subject"].decode() for r in records} == set(issued)
    assert billing.stop_gracefully(), billing.log_tail()
    assert dunning.stop_gracefully(), dunning.log_tail()


async def test_services_sigkilled_mid_burst_lose_nothing_and_double_nothing(  # type: ignore[no-untyped-def]
    create_database, services, kafka, test_prefix, staff_auth
) -> None:
    billing, dunning, billing_db, dunning_db, units = await _setup(
        create_database, services, staff_auth
    )
    issued: list[str] = []
    async with httpx.AsyncClient(timeout=10, auth=staff_auth) as http:
        for n in range(300):
            if n == 100:
                dunning.kill()  # the consumer dies between database commit and offset commit
            if n == 150:
                billing.kill()  # the producer dies with rows published but not marked, or not sent
                billing.start(wait=False)
            if n == 200:
                dunning.start(wait=False)
            issued.append(await _issue(http, billing.url, units, n))
    dunning.wait_ready()
    await _assert_exactly_once(dunning_db, issued)
    records = await read_topic(kafka, test_prefix + "billing.invoice-issued", at_least=300)
    # At-least-once on the wire (a re-published batch may appear twice), once in effect.
    assert {r.headers["ce_subject"].decode() for r in records} == set(issued)
    assert len({r.ce_id for r in records}) == 300
    billing_conn = await asyncpg.connect(billing_db)
    try:
        assert await billing_conn.fetchval("SELECT count(*) FROM invoices") == 300
        assert (
            await billing_conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            == 0
        )
    finally:
        await billing_conn.close()
    assert billing.stop_gracefully(), billing.log_tail()
    assert dunning.stop_gracefully(), dunning.log_tail()
