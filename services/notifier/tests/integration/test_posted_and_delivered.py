"""Issue 18 rules 3 and 10 in notifier (real process, Kafka, PostgreSQL).

Rule 3: posted is not delivered (recorded by letter staff or legal; other roles refused, another
company's letter 404). A letter with a tracking number is 'posted' and publishes
nothing; its delivery, recorded with the carrier's status or a signed receipt, publishes
NotificationDelivered with that proof. An app push the gateway accepted is 'sent' until the
gateway's signed delivery receipt. Rule 10: a payment that cancels a demand letter not yet
printed asks staff (StaffTaskRequested, kind review_legal_demand) whether to issue it again."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from notifier.adapters.app_push import signature
from propfee.auth import Role
from propfee.events import ArrearsEscalated, EscalationAction, PaymentReceived
from tests.support.auth import BearerAuth, staff_token
from tests.support.kafka import read_topic

from .conftest import PUSH_SECRET, community, community_known, party, party_known, wait_for

pytestmark = pytest.mark.integration
MORNING = datetime(2026, 3, 30, 2, tzinfo=UTC)  # 10:00 in Shanghai


def legal_demand(case_id: str, party_id: str, channel: str) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id, community_id="c-1", unit_id=f"u-{case_id}", payer_party_id=party_id,
        stage="legal_demand", previous_stage="final_letter", tier="red",
        outstanding_fen=800_000, oldest_due_date=date(2025, 1, 31), days_overdue=400,
        invoice_ids=["inv-1"], escalated_at=MORNING,
        actions=[EscalationAction(kind="message", channel=channel)],
        room_label="5-1-302", deadline=date(2026, 4, 14),
    )  # fmt: skip


async def outbox(db: str, topic: str) -> list[dict]:  # type: ignore[type-arg]
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE topic LIKE '%' || $1", topic)
    finally:
        await conn.close()
    return [json.loads(bytes(r["payload"])) for r in rows]


async def test_a_letter_is_posted_on_its_tracking_number_and_delivered_on_proof(
    staff_auth,
    clock_auth,
    dev_issuer,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-l", postal_address="杭州市西湖区幸福路1号"), key="p-l")
    await bus.send(party("p-a", app_user_id="app-7"), key="p-a")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        for p in ("p-l", "p-a"):
            await party_known(http, p)
        await bus.send(legal_demand("cl", "p-l", "letter"), key="u-cl")
        await bus.send(legal_demand("ca", "p-a", "app_push"), key="u-ca")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        report = (
            await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING.isoformat()})
        ).json()
        assert report.get("printing") == 1 and report.get("sent") == 1, report
        rows = {r["channel"]: r for r in (await http.get("/notifications")).json()["items"]}
        # The push gateway accepted the app push: sent, not delivered.
        push = rows["app_push"]
        assert push["status"] == "sent" and push["provider_message_id"] == "push-1"
        letter = rows["letter"]["notification_id"]
        assert (await http.post("/letters/batches")).json()["letters"] == 1
        # Legal (法务) keeps the demand letters' posting and delivery proof; roles that do not
        # send letters stay refused, and another company's legal staff do not see the letter.
        tracking = {"tracking_number": "EA123456789CN", "carrier": "EMS"}
        for role in (Role.finance, Role.auditor, Role.owners_committee):
            other = BearerAuth(staff_token(dev_issuer, [role], communities=["c-1"]))
            for what, body in (("tracking", tracking), ("delivery", {"carrier_status": "妥投"})):
                r = await http.post(f"/notifications/{letter}/{what}", json=body, auth=other)
                assert r.status_code == 403, (role, what, r.text)
        stranger = BearerAuth(staff_token(dev_issuer, [Role.legal], company_id="co-2"))
        for what, body in (("tracking", tracking), ("delivery", {"carrier_status": "妥投"})):
            r = await http.post(f"/notifications/{letter}/{what}", json=body, auth=stranger)
            assert r.status_code == 404, (what, r.text)
        legal = BearerAuth(staff_token(dev_issuer, [Role.legal], communities=["c-1"]))
        r = await http.post(f"/notifications/{letter}/tracking", json=tracking, auth=legal)
        assert r.status_code == 200 and r.json()["status"] == "posted", r.text
        row = next(
            x
            for x in (await http.get("/notifications")).json()["items"]
            if x["channel"] == "letter"
        )
        assert row["status"] == "posted" and row["delivered_at"] is None
        assert await outbox(db, "notifier.notification-delivered") == []
        # No proof, no delivery.
        r = await http.post(f"/notifications/{letter}/delivery", json={})
        assert r.status_code == 422
        proof = {"carrier_status": "妥投", "signed_by": "本人"}
        r = await http.post(f"/notifications/{letter}/delivery", json=proof, auth=legal)
        assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
        again = await http.post(f"/notifications/{letter}/delivery", json=proof)
        assert again.status_code == 200 and again.json()["status"] == "unchanged"

        # The gateway's delivery receipt, signed: a forged one changes nothing.
        body = json.dumps([{"push_id": "push-1", "status": "delivered"}]).encode()
        stamp = str(int(time.time()))
        forged = await http.post(
            "/receipts/app_push", content=body,
            headers={"X-Propfee-Timestamp": stamp, "X-Propfee-Signature": "sha256=00"},
        )  # fmt: skip
        assert forged.status_code == 401
        signed = {
            "X-Propfee-Timestamp": stamp,
            "X-Propfee-Signature": signature(PUSH_SECRET, stamp, body),
        }
        r = await http.post("/receipts/app_push", content=body, headers=signed)
        assert r.status_code == 200 and r.json()["applied"] == 1, r.text
        rows = {r["channel"]: r for r in (await http.get("/notifications")).json()["items"]}
        assert rows["app_push"]["status"] == "delivered"
        assert rows["letter"]["status"] == "delivered"
        # The report's "demands delivered vs posted" reads the status.
        conn = await asyncpg.connect(db)
        try:
            counts = dict(
                await conn.fetch(
                    "SELECT status, count(*) FROM notifications WHERE stage = 'legal_demand' "
                    "AND status IN ('posted', 'delivered') GROUP BY status"
                )
            )
        finally:
            await conn.close()
        assert counts == {"delivered": 2}

    records = await read_topic(kafka, test_prefix + "notifier.notification-delivered", at_least=2)
    delivered = {d["channel"]: d for d in (json.loads(r.value or b"") for r in records)}
    assert len(records) == 2 and set(delivered) == {"letter", "app_push"}
    assert delivered["letter"]["proof"]["tracking_number"] == "EA123456789CN"
    assert delivered["letter"]["proof"]["carrier_status"] == "妥投"
    assert delivered["letter"]["proof"]["signed_by"] == "本人"
    assert delivered["app_push"]["proof"]["receipt_status"] == "delivered"
    assert notifier.stop_gracefully()


async def test_a_payment_cancelling_an_unprinted_legal_demand_asks_staff_to_review_it(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-r", postal_address="杭州市西湖区幸福路2号"), key="p-r")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await party_known(http, "p-r")
        await bus.send(legal_demand("cr", "p-r", "letter"), key="u-cr")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 1)
        report = (
            await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING.isoformat()})
        ).json()
        assert report.get("printing") == 1, report  # rendered, not yet batched for print
        paid = PaymentReceived(
            payment_id="pay-r", community_id="c-1", unit_id="u-cr", payer_party_id="p-r",
            invoice_ids=["inv-1"], amount_fen=100_000, channel="wechat_pay",
            paid_at=MORNING + timedelta(hours=1), received_at=MORNING + timedelta(hours=1),
        )  # fmt: skip
        await bus.send(paid, key="u-cr")
        await bus.send(paid, key="u-cr")  # a redelivery asks nothing more
        await wait_for(http, "/notifications", {"status": "cancelled"}, lambda r: len(r) == 1)
    records = await read_topic(kafka, test_prefix + "notifier.staff-task-requested", at_least=1)
    tasks = [json.loads(r.value or b"") for r in records]
    assert len(tasks) == 1, tasks
    task = tasks[0]
    assert task["kind"] == "review_legal_demand" and task["subject_id"] == "cr"
    assert task["stage"] == "legal_demand" and "pay-r" in task["reason"]
    assert "2026-04-14" in task["reason"]
    assert notifier.stop_gracefully()
