"""``propfee_dispatch_backlog{channel}``: the messages due and not yet sent, counted in the
real database at each scrape (NotifierRuntime.measure, service_layer.backlog)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from notifier.runtime import NotifierRuntime
from notifier.service_layer.backlog import dispatch_backlog
from notifier.settings import NotifierSettings
from propfee.db import create_pool, migrate_database
from propfee.http import create_service_app

pytestmark = pytest.mark.integration

INSERT = (
    "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, "
    "channel, requested_channel, message_type, subject_id, stage, body, status, "
    "source_event_id, requested_at, next_attempt_at, params) "
    "VALUES ($1, $1, 'c-1', 'u-1', 'p-1', $2, $2, 'reminder', 'inv-1', 'reminder_7d', '催缴', "
    "$3, gen_random_uuid(), now(), $4, '{}'::jsonb)"
)


async def test_backlog_counts_due_unsent_messages_per_channel(create_database) -> None:  # type: ignore[no-untyped-def]
    dsn = await create_database("notifier")
    await migrate_database(dsn, "notifier")
    pool = await create_pool(dsn, max_size=2)
    now = datetime.now(UTC)
    due, later = now - timedelta(minutes=5), now + timedelta(hours=1)
    try:
        rows = [
            ("n-1", "sms", "queued", due),
            ("n-2", "sms", "queued", due),
            ("n-3", "sms", "queued", later),  # a retry not yet due
            ("n-4", "email", "queued", due),
            ("n-5", "sms", "sent", due),
            ("n-6", "wechat", "awaiting_contacts", due),  # no address yet: not sendable
            ("n-7", "sms", "sending", due),  # claimed, at the provider: not yet sent
            ("n-8", "sms", "unknown", due),  # for staff to review, never resent
        ]
        for row in rows:
            await pool.execute(INSERT, *row)
        backlog = await dispatch_backlog(pool)
        assert backlog["sms"] == 3 and backlog["email"] == 1
        assert backlog["wechat"] == 0 and backlog["letter"] == 0

        # Through /metrics: the runtime's hook sets the gauge at the scrape.
        runtime = NotifierRuntime(
            NotifierSettings(database_url=dsn, environment="development"), package="notifier"
        )
        runtime.pool = pool
        app = create_service_app(runtime, title="t", description="")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 200
            assert REGISTRY.get_sample_value("propfee_dispatch_backlog", {"channel": "sms"}) == 3
            await pool.execute("UPDATE notifications SET status = 'sent' WHERE channel = 'sms'")
            await client.get("/metrics")
        assert REGISTRY.get_sample_value("propfee_dispatch_backlog", {"channel": "sms"}) == 0
        assert REGISTRY.get_sample_value("propfee_dispatch_backlog", {"channel": "email"}) == 1
    finally:
        await pool.close()
