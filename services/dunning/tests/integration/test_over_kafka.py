"""A real dunning process over the real broker: an issued, overdue invoice is escalated and
its ArrearsEscalated reaches Kafka; a household that paid is never reminded; notifier's staff
tasks and billing's installment plans land in the task list and the pauses. The community's
company comes from billing.community-updated: the staff token (every community of the test
company) sees its cases only once dunning knows it. Each invoice's limitation clock reaches
dunning.limitation-clock-changed, a version per change, keyed by the unit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import migrate_database
from propfee.events import (
    ArrearsEscalated,
    InstallmentPart,
    InstallmentPlanCreated,
    InvoiceBalanceChanged,
    LimitationClockChanged,
    StaffTaskRequested,
)
from propfee.kafka import make_producer
from services.dunning.tests.integration.support import at, community, invoice, payment, settled
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

pytestmark = pytest.mark.integration


async def test_overdue_is_escalated_paid_is_never_reminded(
    create_database: Any,
    services: Any,
    test_prefix: str,
    kafka: str,
    staff_auth: BearerAuth,
    dev_issuer: DevIssuer,
) -> None:
    db = await create_database("dunning")
    dunning = services("dunning", db, sweep_interval_s="0").start()
    owes, paid, planned = (
        invoice("k-1", date(2026, 1, 31)),
        invoice("k-2", date(2026, 1, 31)),
        invoice("k-3", date(2026, 1, 31)),
    )
    producer = make_producer(kafka, client_id="dunning-test")
    await producer.start()
    try:

        async def send(event: Any, key: str) -> None:
            await publish(producer, test_prefix + event.topic(), event, key=key)

        await send(community("c-1"), "c-1")
        for inv in (owes, paid, planned):
            await send(inv, inv.unit_id)
        await send(payment("k-2", at("2026-02-03 09:00")), "k-2")
        await send(settled(paid, at("2026-02-03 09:01")), "k-2")
        plan = InstallmentPlanCreated(
            plan_id="plan-1", community_id="c-1", unit_id="k-3", payer_party_id="p-k-3",
            invoice_ids=[planned.invoice_id], total_fen=planned.total_fen,
            parts=[InstallmentPart(part_no=1, due_date=date(2026, 3, 15), amount_fen=13_790),
                   InstallmentPart(part_no=2, due_date=date(2026, 4, 15), amount_fen=13_790)],
            reason="hardship", created_at=at("2026-02-02 10:00"),
        )  # fmt: skip
        await send(plan, "k-3")
        task = StaffTaskRequested(
            task_id="nt-1", kind="fix_contact", community_id="c-1", unit_id="k-1",
            party_id="p-k-1", subject_id="inv", reason="no phone number on file",
            requested_at=datetime(2026, 2, 1, tzinfo=UTC),
        )  # fmt: skip
        await send(task, "k-1")
        async with httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=staff_auth) as http:

            async def all_handled() -> bool:
                # Events of different topics arrive in any order (a settlement may come before
                # its invoice): wait until every one of the eight is in the inbox.
                conn = await asyncpg.connect(db)
                try:
                    return await conn.fetchval("SELECT count(*) FROM inbox") == 8
                finally:
                    await conn.close()

            await wait_until(all_handled, timeout=60)
            cases = {c["unit_id"]: c for c in (await http.get("/cases")).json()["items"]}
            tasks = (await http.get("/tasks", params={"kind": "fix_contact"})).json()["items"]
            # k-2 paid: its case is closed, or was never opened if the settlement came first.
            assert cases.get("k-2", {}).get("status", "closed") == "closed"
            assert cases["k-1"]["status"] == "open"
            pauses = (await http.get(f"/cases/{cases['k-3']['case_id']}/pauses")).json()["items"]
            assert [p["plan_id"] for p in pauses] == ["plan-1"]
            assert len(tasks) == 1

            # A sweep as of a chosen instant is the service role's (the simulation clock).
            cron = BearerAuth(
                staff_token(dev_issuer, [Role.service], company_id="*", subject="cron")
            )
            r = await http.post("/sweeps", json={"as_of": "2026-02-08T10:00:00+08:00"}, auth=cron)
            assert r.status_code == 200, r.text
            assert r.json()["escalated"] == 1
            again = await http.post(
                "/sweeps", json={"as_of": "2026-02-08T10:00:00+08:00"}, auth=cron
            )
            assert again.json()["escalated"] == 0
            k3 = (await http.get("/cases", params={"unit_id": "k-3"})).json()["items"][0]
            assert k3["status"] == "open"
        records = await read_topic(
            kafka, test_prefix + ArrearsEscalated.topic(), at_least=1, settle=1.5
        )
        events = [ArrearsEscalated.model_validate_json(r.value or b"") for r in records]
        assert [(e.unit_id, e.stage) for e in events] == [("k-1", "reminder")]
        assert records[0].key == b"k-1"
        assert events[0].outstanding_fen == 27_580 and events[0].days_overdue == 8
        paused = await read_topic(
            kafka, test_prefix + "dunning.arrears-case-paused", at_least=1, settle=0.5
        )
        assert len(paused) == 1
    finally:
        await producer.stop()
    assert dunning.stop_gracefully(), dunning.log_tail()


async def test_limitation_clocks_reach_their_topic(
    create_database: Any, services: Any, test_prefix: str, kafka: str
) -> None:
    """Invoice issued: version 1, due + 3 years; a part payment: version 2, three years from
    it; the same part payment again (another envelope): nothing. A clock computed before
    dunning published clocks (migration 0008) is published when the process starts."""
    db = await create_database("dunning")
    await migrate_database(db, "dunning")
    conn = await asyncpg.connect(db)
    try:
        await conn.execute(
            "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, "
            "due_date, total_fen, issued, limitation_expires_on) VALUES ('inv-old', 'k-8', "
            "'c-1', 'p-k-8', '2022-06-30', 100, true, '2025-06-30')"
        )
    finally:
        await conn.close()
    dunning = services("dunning", db, sweep_interval_s="0").start()
    inv = invoice("k-9", date(2023, 3, 31), total_fen=600_000)
    part_paid = InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id="c-1", unit_id="k-9", payer_party_id="p-k-9",
        balance_version=2, status="partially_paid", due_date=inv.due_date,
        total_fen=inv.total_fen, principal_paid_fen=10_000, principal_outstanding_fen=590_000,
        late_fee_fen=0, reason="payment", changed_at=at("2025-01-05 10:00"),
    )  # fmt: skip
    producer = make_producer(kafka, client_id="dunning-test")
    await producer.start()

    async def handled(n: int) -> None:
        async def done() -> bool:
            conn = await asyncpg.connect(db)
            try:
                return await conn.fetchval("SELECT count(*) FROM inbox") == n
            finally:
                await conn.close()

        await wait_until(done, timeout=60)

    try:
        await publish(producer, test_prefix + inv.topic(), inv, key="k-9")
        await handled(1)
        for _ in range(2):  # the second is another envelope: the inbox does not absorb it
            await publish(producer, test_prefix + part_paid.topic(), part_paid, key="k-9")
        await handled(3)
    finally:
        await producer.stop()
    records = await read_topic(
        kafka, test_prefix + LimitationClockChanged.topic(), at_least=3, settle=2.0
    )
    seen = sorted(
        (r.key, e.invoice_id, e.clock_version, e.expires_on, e.last_restart_on)
        for r in records
        for e in [LimitationClockChanged.model_validate_json(r.value or b"")]
    )
    assert seen == [
        (b"k-8", "inv-old", 1, date(2025, 6, 30), None),
        (b"k-9", inv.invoice_id, 1, date(2026, 3, 31), None),
        (b"k-9", inv.invoice_id, 2, date(2028, 1, 5), date(2025, 1, 5)),
    ]
    assert all(
        r.headers["ce_type"] == b"propfee.dunning.LimitationClockChanged.v1" for r in records
    )
    assert dunning.stop_gracefully(), dunning.log_tail()


async def test_each_party_of_a_unit_is_chased_for_its_own_invoices_over_kafka(
    create_database: Any,
    services: Any,
    test_prefix: str,
    kafka: str,
    staff_auth: BearerAuth,
    dev_issuer: DevIssuer,
) -> None:
    """Issue 18 rule 7 across the broker: billing's invoices of a sold unit (the seller's
    January, the buyer's February) and of a tenant's unit (the owner jointly liable) arrive on
    Kafka; the sold unit has two cases (HTTP); a community policy put over HTTP adds the owner
    from the reminder; one sweep publishes escalations naming each party with their own
    invoices, and the owner's copy of the tenant's."""
    db = await create_database("dunning")
    dunning = services("dunning", db, sweep_interval_s="0").start()

    def billed(unit: str, due: date, payer: str, liable: list[str]) -> Any:
        return invoice(unit, due).model_copy(
            update={"payer_party_id": payer, "liable_party_ids": liable}
        )

    seller = billed("k-20", date(2026, 1, 31), "p-seller", ["p-seller"])
    buyer = billed("k-20", date(2026, 2, 28), "p-buyer", ["p-buyer"])
    tenant = billed("k-21", date(2026, 2, 28), "p-tenant", ["p-tenant", "p-owner"])
    producer = make_producer(kafka, client_id="dunning-test")
    await producer.start()
    try:
        await publish(producer, test_prefix + community("c-1").topic(), community("c-1"), key="c-1")
        for inv in (seller, buyer, tenant):
            await publish(producer, test_prefix + inv.topic(), inv, key=inv.unit_id)
        async with httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=staff_auth) as http:

            async def all_handled() -> bool:
                conn = await asyncpg.connect(db)
                try:
                    return await conn.fetchval("SELECT count(*) FROM inbox") == 4
                finally:
                    await conn.close()

            await wait_until(all_handled, timeout=60)
            cases = (await http.get("/cases", params={"unit_id": "k-20"})).json()["items"]
            assert {(c["payer_party_id"], c["outstanding_fen"]) for c in cases} == {
                ("p-seller", 27_580),
                ("p-buyer", 27_580),
            }
            policy = (await http.get("/policies/c-1")).json()
            r = await http.put(
                "/policies/c-1", json={**policy, "joint_liability_from_stage": "reminder"}
            )
            assert r.status_code == 200, r.text
            cron = BearerAuth(
                staff_token(dev_issuer, [Role.service], company_id="*", subject="cron")
            )
            r = await http.post("/sweeps", json={"as_of": "2026-03-08T10:00:00+08:00"}, auth=cron)
            assert r.status_code == 200, r.text
            assert r.json()["escalated"] == 3
        records = await read_topic(
            kafka, test_prefix + ArrearsEscalated.topic(), at_least=4, settle=1.5
        )
        events = [ArrearsEscalated.model_validate_json(r.value or b"") for r in records]
        named = {e.payer_party_id: (e.unit_id, e.invoice_ids, e.jointly_liable_for) for e in events}
        assert named == {
            "p-seller": ("k-20", [seller.invoice_id], None),
            "p-buyer": ("k-20", [buyer.invoice_id], None),
            "p-tenant": ("k-21", [tenant.invoice_id], None),
            "p-owner": ("k-21", [tenant.invoice_id], "p-tenant"),
        }
        by_party = {e.payer_party_id: e for e in events}
        assert by_party["p-seller"].case_id != by_party["p-buyer"].case_id
        assert by_party["p-owner"].case_id == by_party["p-tenant"].case_id
    finally:
        await producer.stop()
    assert dunning.stop_gracefully(), dunning.log_tail()
