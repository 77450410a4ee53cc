from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest_asyncio

from propfee.db import create_pool, load_migrations, migrate_database
from propfee.events import PaymentReceived
from propfee.kafka import make_producer
from propfee.settings import migration_url_for

EFFECTS_DDL = """
CREATE TABLE effects (
    payment_id text PRIMARY KEY,
    unit_id    text NOT NULL,
    times      integer NOT NULL DEFAULT 1   -- how often the effect was applied
);
"""


@pytest_asyncio.fixture
async def messaging_pool(create_database) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    """A database with the library's outbox and inbox plus an ``effects`` table."""
    dsn = await create_database("messaging")
    await migrate_database(dsn, load_migrations("propfee", "propfee"))
    owner = await asyncpg.connect(migration_url_for(dsn))
    try:  # as a later migration would: the runtime role gets it by default privileges
        await owner.execute(EFFECTS_DDL)
    finally:
        await owner.close()
    pool = await create_pool(dsn, max_size=10)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def producer(kafka: str):  # type: ignore[no-untyped-def]
    producer = make_producer(kafka, client_id="test-producer")
    await producer.start()
    yield producer
    await producer.stop()


def payment(payment_id: str, unit_id: str = "unit-1", amount_fen: int = 100) -> PaymentReceived:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return PaymentReceived(
        payment_id=payment_id,
        community_id="c-1",
        unit_id=unit_id,
        payer_party_id="party-1",
        amount_fen=amount_fen,
        channel="cash",
        paid_at=now,
        received_at=now,
    )


async def apply_effect(conn: asyncpg.Connection, event: PaymentReceived, context: object) -> None:
    """A deliberately non-idempotent effect: a second application shows as times = 2."""
    await conn.execute(
        "INSERT INTO effects (payment_id, unit_id) VALUES ($1, $2) "
        "ON CONFLICT (payment_id) DO UPDATE SET times = effects.times + 1",
        event.payment_id,
        event.unit_id,
    )
