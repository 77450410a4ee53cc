"""Issue 18 rule 7 in notifier's database: the jointly liable owner's copy of a reminder is a
row of its own (its key ends with the party), and so is its fallback to the next channel:
the owner's e-mail after a failed SMS is not taken for the tenant's (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from notifier.domain.messages import reminder_requests
from notifier.service_layer.handlers import queue_requests
from notifier.service_layer.outcomes import FALLBACK
from propfee.db import create_pool, migrate_database
from propfee.events import ArrearsEscalated, EscalationAction

pytestmark = pytest.mark.integration


async def test_the_owner_s_reminder_and_its_fallback_are_the_owner_s(create_database: Any) -> None:
    url = await create_database("notifier")
    await migrate_database(url, "notifier")
    tenant = ArrearsEscalated(
        case_id="case-1", community_id="c-1", unit_id="u-1", payer_party_id="p-tenant",
        stage="final_reminder", previous_stage="reminder", tier="green", outstanding_fen=27_580,
        oldest_due_date=date(2026, 1, 31), days_overdue=15, invoice_ids=["inv-1"],
        escalated_at=datetime(2026, 2, 15, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="sms")],
    )  # fmt: skip
    owner = tenant.model_copy(
        update={"payer_party_id": "p-owner", "jointly_liable_for": "p-tenant"}
    )
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await _check(conn, tenant, owner)
    finally:
        await pool.close()


async def _check(conn: Any, tenant: ArrearsEscalated, owner: ArrearsEscalated) -> None:
    """Both queued, a replay changes nothing; each falls back on its own key."""
    for event in (tenant, owner, owner):  # the owner's copy replayed: still one row
        await queue_requests(conn, reminder_requests(event), str(uuid.uuid4()))
    rows = await conn.fetch("SELECT notification_id, dedup_key, party_id FROM notifications")
    assert {(r["dedup_key"], r["party_id"]) for r in rows} == {
        ("case-1|reminder|final_reminder|sms", "p-tenant"),
        ("case-1|reminder|final_reminder|sms|p-owner", "p-owner"),
    }
    at = datetime(2026, 2, 15, 3, tzinfo=UTC)
    for r in rows:  # each SMS failed: both fall back to e-mail
        await conn.execute(FALLBACK, r["notification_id"], f"ntf-{uuid.uuid4()}", "email",
                           at, ["sms"])  # fmt: skip
    fallbacks = await conn.fetch(
        "SELECT dedup_key, party_id FROM notifications WHERE fallback_of IS NOT NULL"
    )
    assert {(r["dedup_key"], r["party_id"]) for r in fallbacks} == {
        ("case-1|reminder|final_reminder|email", "p-tenant"),
        ("case-1|reminder|final_reminder|email|p-owner", "p-owner"),
    }
