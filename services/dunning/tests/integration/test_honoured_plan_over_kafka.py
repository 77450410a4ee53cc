"""Issue 18 rule 9 across services, over the real broker and HTTP: billing's installment plan
(InstallmentPlanCreated) and balances reach a real dunning process on Kafka; a household
honouring its plan is neither escalated by the sweep (no ArrearsEscalated on Kafka, its
invoices counted for nothing) nor advanced by hand (409), while a household without a plan,
owing the same, is escalated."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import (
    ArrearsEscalated,
    InstallmentPart,
    InstallmentPlanCreated,
    InvoiceBalanceChanged,
)
from propfee.kafka import make_producer
from services.dunning.tests.integration.support import at, community, invoice
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

pytestmark = pytest.mark.integration


async def test_an_honoured_plan_holds_its_invoices_across_services(
    create_database: Any,
    services: Any,
    test_prefix: str,
    kafka: str,
    staff_auth: BearerAuth,
    dev_issuer: DevIssuer,
) -> None:
    db = await create_database("dunning")
    dunning = services("dunning", db, sweep_interval_s="0").start()
    planned = invoice("k-20", date(2025, 6, 30), total_fen=300_000, kind="opening_arrears")
    unplanned = invoice("k-21", date(2025, 6, 30), total_fen=300_000, kind="opening_arrears")
    plan = InstallmentPlanCreated(
        plan_id="plan-k-20", community_id="c-1", unit_id="k-20", payer_party_id="p-k-20",
        invoice_ids=[planned.invoice_id], total_fen=300_000, reason="hardship",
        parts=[InstallmentPart(part_no=n, due_date=d, amount_fen=100_000) for n, d in
               ((1, date(2026, 1, 31)), (2, date(2026, 2, 28)), (3, date(2026, 3, 31)))],
        created_at=at("2026-01-10 10:00"),
    )  # fmt: skip
    paid_up = InvoiceBalanceChanged(
        invoice_id=planned.invoice_id, community_id="c-1", unit_id="k-20",
        payer_party_id="p-k-20", balance_version=2, status="partially_paid",
        due_date=planned.due_date, total_fen=300_000, principal_paid_fen=300_000,
        principal_outstanding_fen=0, late_fee_fen=80_000, reason="payment",
        changed_at=datetime(2026, 3, 30, tzinfo=UTC),
    )  # fmt: skip
    producer = make_producer(kafka, client_id="dunning-test")
    await producer.start()
    try:
        for event, key in ((community("c-1"), "c-1"), (planned, "k-20"), (unplanned, "k-21"),
                           (plan, "k-20"), (paid_up, "k-20")):  # fmt: skip
            await publish(producer, test_prefix + event.topic(), event, key=key)

        async def all_handled() -> bool:
            conn = await asyncpg.connect(db)
            try:
                return await conn.fetchval("SELECT count(*) FROM inbox") == 5
            finally:
                await conn.close()

        await wait_until(all_handled, timeout=60)
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        async with httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=staff_auth) as http:
            # June: the plan's pause (to its last part + grace) is long over; the plan is
            # honoured, so its invoice (a late fee of 800 yuan still open) is held.
            r = await http.post("/sweeps", json={"as_of": "2026-06-20T10:00:00+08:00"}, auth=cron)
            assert r.status_code == 200, r.text
            assert r.json()["escalated"] == 1
            cases = {c["unit_id"]: c for c in (await http.get("/cases")).json()["items"]}
            # Still owed (the late fee), but not chased: no tier, no stage.
            assert cases["k-20"]["status"] == "open" and cases["k-20"]["outstanding_fen"] == 80_000
            assert cases["k-20"]["tier"] == "current" and cases["k-20"]["stage"] is None
            assert cases["k-21"]["tier"] == "yellow" and cases["k-21"]["stage"] == "reminder"
            refused = await http.post(
                f"/cases/{cases['k-20']['case_id']}/advance",
                json={"stage": "legal_demand", "reason": "催告"},
            )
            assert refused.status_code == 409 and "under_honoured_plan" in refused.text
        records = await read_topic(
            kafka, test_prefix + ArrearsEscalated.topic(), at_least=1, settle=1.5
        )
        events = [ArrearsEscalated.model_validate_json(r.value or b"") for r in records]
        assert [e.unit_id for e in events] == ["k-21"]
        assert planned.invoice_id not in {i for e in events for i in e.invoice_ids}
    finally:
        await producer.stop()
    assert dunning.stop_gracefully(), dunning.log_tail()
