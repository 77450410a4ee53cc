"""A counter payment's ``paid_at`` is a business time (issue 16, item 6): staff may back-date it
within the company's window (``backdate_days`` from billing.community-updated, default 7 days),
never forward-date it (403, nothing recorded); the service role (the simulation clock) chooses
any instant; the payment keeps the real time it was recorded too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from propfee.auth import Role
from propfee.events import CommunityUpdated
from propfee.kafka import make_producer
from tests.support.auth import BearerAuth
from tests.support.fixtures import wait_until
from tests.support.kafka import publish

pytestmark = pytest.mark.integration


async def test_counter_paid_at_is_a_bounded_business_time(
    services, create_database, kafka, test_prefix, dev_issuer, staff_auth
) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services("payments", db).start()
    await know_communities(db, "c-1", "c-2")
    conn = await asyncpg.connect(db)
    clock = BearerAuth(dev_issuer.mint("sim", [Role.fee_clerk, Role.service], "co-1", "*"))
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:

        async def counter(
            paid_at: datetime | None, community: str = "c-1", auth: httpx.Auth | None = None
        ) -> httpx.Response:
            body = {
                "community_id": community,
                "unit_id": f"u-{community}",
                "payer_party_id": f"owner-{community}",  # one payer per community
                "amount_fen": 1000,
                "channel": "cash",
            }
            if paid_at is not None:
                body["paid_at"] = paid_at.isoformat()
            return await http.post(
                "/payments/counter",
                json=body,
                headers={"Idempotency-Key": f"k-{uuid.uuid4()}"},
                auth=auth or staff_auth,
            )

        # Forward-dated, and back-dated beyond the default window: 403, nothing recorded.
        for paid_at in (now + timedelta(hours=1), now - timedelta(days=8)):
            r = await counter(paid_at)
            assert r.status_code == 403, r.text
            assert "paid_at" in r.json()["detail"]
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0

        # Within the window: kept as the business time, with the real recording time.
        r = await counter(now - timedelta(days=6))
        assert r.status_code == 201, r.text
        payment = r.json()
        assert datetime.fromisoformat(payment["paid_at"]) == now - timedelta(days=6)
        assert abs(datetime.fromisoformat(payment["recorded_at"]) - now) < timedelta(minutes=1)
        r = await counter(None)
        assert abs(datetime.fromisoformat(r.json()["paid_at"]) - now) < timedelta(minutes=1)

        # The company widens its window for c-2 (billing.community-updated): 20 days back is
        # accepted there, not in c-1.
        producer = make_producer(kafka, client_id="test")
        await producer.start()
        try:
            await publish(
                producer,
                test_prefix + "billing.community-updated",
                CommunityUpdated(
                    community_id="c-2",
                    company_id="co-1",
                    company_name="物业",
                    name="二期",
                    city="杭州",
                    updated_at=now,
                    backdate_days=30,
                ),
                key="c-2",
            )
        finally:
            await producer.stop()

        async def learnt() -> bool:
            days = await conn.fetchval(
                "SELECT backdate_days FROM communities WHERE community_id = 'c-2'"
            )
            return bool(days == 30)

        await wait_until(learnt, timeout=60)
        assert (await counter(now - timedelta(days=20), "c-2")).status_code == 201
        assert (await counter(now - timedelta(days=20), "c-1")).status_code == 403
        # The service role (the simulation clock) records any instant.
        r = await counter(datetime(2025, 1, 1, 9, tzinfo=UTC), auth=clock)
        assert r.status_code == 201, r.text
        assert r.json()["receipt_no"].startswith("SJ-c-1-20250101-")
    await conn.close()
