"""SMS end to end: real notifier process, real Kafka and PostgreSQL, fake Alibaba and Tencent
providers over real HTTP that verify the request signatures themselves."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from propfee.auth import Role
from propfee.events import ArrearsEscalated, EscalationAction, InvoiceIssued, InvoiceLine
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until
from tests.support.kafka import read_topic

from .conftest import CALLBACK_TOKEN, community, party, party_known, wait_for

pytestmark = pytest.mark.integration


def escalation(
    case_id: str, party_id: str, actions: list[EscalationAction], stage: str = "reminder_7d"
) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id,
        community_id="c-1",
        unit_id=f"u-{case_id}",
        payer_party_id=party_id,
        stage=stage,
        previous_stage="due_notice",
        tier="green",
        outstanding_fen=27580,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=33,
        invoice_ids=["inv-1"],
        escalated_at=datetime(2026, 3, 5, 13, 30, tzinfo=UTC),
        actions=actions,
        room_label="3-2-1201",
        deadline=date(2026, 3, 20),
    )


async def test_alibaba_reminder_waits_for_morning_is_sent_once_and_proven(
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
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-1", phone="13812345678"), key="p-1")
    event = escalation(
        "case-1",
        "p-1",
        [
            EscalationAction(kind="message", channel="sms"),
            EscalationAction(kind="task", channel="phone_call"),
        ],
    )
    event_id = await bus.send(event, key=event.unit_id)
    await bus.send(event, key=event.unit_id, event_id=event_id)  # replayed
    await bus.send(event, key=event.unit_id)  # duplicated by the producer: a new ce_id
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        rows = await wait_for(
            http, "/notifications", {"subject_id": "case-1"}, lambda r: len(r) == 1
        )
        parties = await http.get("/notifications", params={"party_id": "p-1"})
        assert len(parties.json()["items"]) == 1
        # 21:30 in Shanghai: quiet hours, deferred to 08:00 the next morning, not dropped.
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-05T21:30:00+08:00"}
            )
        ).json()
        assert report.get("deferred") == 1 and not report.get("sent")
        row = (await http.get("/notifications", params={"subject_id": "case-1"})).json()["items"][0]
        assert row["status"] == "queued" and row["status_reason"] == "quiet hours"
        assert datetime.fromisoformat(row["next_attempt_at"]) == datetime(
            2026, 3, 6, 0, 0, tzinfo=UTC
        )
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-06T07:59:59+08:00"}
            )
        ).json()
        assert not report.get("sent")
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-06T08:00:00+08:00"}
            )
        ).json()
        assert report.get("sent") == 1, [
            r["status_reason"] for r in (await http.get("/notifications")).json()["items"]
        ]
        again = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-07T08:00:00+08:00"}
            )
        ).json()
        assert not again.get("sent"), "never a second SMS"

        assert providers.alibaba.bad_signatures == 0
        assert len(providers.alibaba.sent) == 1
        sms = providers.alibaba.sent[0]
        assert sms["phone"] == "13812345678" and sms["template"] == "SMS_REMINDER"
        assert sms["params"]["room"] == "3-2-1201" and sms["params"]["amount"] == "275.80"
        assert sms["params"]["deadline"] == "3月20日" and sms["params"]["contact"] == "4008123456"
        row = rows[0] = (await http.get("/notifications", params={"subject_id": "case-1"})).json()[
            "items"
        ][0]
        assert row["status"] == "sent" and row["provider_message_id"] == sms["id"]
        assert row["body"].startswith("【物业服务】3-2-1201欠费275.80元，3月20日前缴 pf.cn/p/")
        # The sender's identity is the registered sign (【物业服务】); one segment (issue 19).
        assert row["body"].endswith(" 询4008123456")
        assert len(row["body"]) <= 70 and sms["out_id"] == row["notification_id"]

        # The provider's delivery report (Alibaba SmsReport push) is the proof; the push
        # carries no signature, so its callback URL carries the shared token.
        report_time = "2026-03-06 08:00:05"
        report = [
            {
                "phone_number": "13812345678",
                "send_time": "2026-03-06 08:00:00",
                "report_time": report_time,
                "success": True,
                "err_code": "DELIVERED",
                "err_msg": "用户接收成功",
                "sms_size": "1",
                "biz_id": sms["id"],
                "out_id": row["notification_id"],
            }
        ]
        for forged in ({}, {"token": "guessed"}, {"token": CALLBACK_TOKEN[:-1]}):
            refused = await http.post("/receipts/alibaba", params=forged, json=report)
            assert refused.status_code == 401, refused.text
            assert CALLBACK_TOKEN not in refused.text
        row = (await http.get("/notifications", params={"subject_id": "case-1"})).json()["items"][0]
        assert row["status"] == "sent", "a push without the callback token changes nothing"
        answer = await http.post("/receipts/alibaba", params={"token": CALLBACK_TOKEN}, json=report)
        assert answer.json() == {"code": 0, "msg": "成功"}
        row = (await http.get("/notifications", params={"subject_id": "case-1"})).json()["items"][0]
        assert row["status"] == "delivered"

        # Bodies and contacts are masked for roles that do not see contacts; another
        # company's staff see nothing of it (404, not 403).
        auditor = BearerAuth(staff_token(dev_issuer, [Role.auditor], communities=["c-1"]))
        seen = await http.get("/notifications", params={"subject_id": "case-1"}, auth=auditor)
        masked = seen.json()["items"][0]
        assert masked["notification_id"] == row["notification_id"]
        assert "3-2-1201" not in masked["body"] and "275.80" not in masked["body"]
        assert (await http.get("/parties/p-1", auth=auditor)).json()["phone"] == "138****5678"
        assert (await http.get("/parties/p-1")).json()["phone"] == "13812345678"
        stranger = BearerAuth(staff_token(dev_issuer, company_id="co-2"))
        assert (await http.get("/notifications", auth=stranger)).json()["items"] == []
        assert (await http.get("/parties/p-1", auth=stranger)).status_code == 404

    delivered = await read_topic(kafka, test_prefix + "notifier.notification-delivered", at_least=1)
    assert len(delivered) == 1
    data = json.loads(delivered[0].value or b"")
    assert (
        data["subject_id"] == "case-1"
        and data["channel"] == "sms"
        and data["provider"] == "alibaba"
    )
    assert data["proof"]["biz_id"] == sms["id"] and data["proof"]["receipt_status"] == "DELIVERED"
    assert data["delivered_at"].startswith("2026-03-06T00:00:05")
    tasks = await read_topic(kafka, test_prefix + "notifier.staff-task-requested", at_least=1)
    assert len(tasks) == 1, "one phone-call task whatever the replays"
    task = json.loads(tasks[0].value or b"")
    assert task["kind"] == "phone_call" and task["subject_id"] == "case-1"
    log = notifier.log_path.read_text()
    assert "13812345678" not in log and "张三" not in log
    assert notifier.stop_gracefully()


async def test_bill_before_contacts_goes_by_tencent_once_contacts_arrive(
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
    env = {**providers.env, "sms_provider": "tencent"}
    notifier = services("notifier", await create_database("notifier"), **env).start()
    invoice = InvoiceIssued(
        invoice_id="inv-9",
        community_id="c-1",
        building_id="b-1",
        unit_id="u-9",
        payer_party_id="p-9",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31),
        total_fen=27580,
        issued_at=datetime(2026, 3, 1, 1, tzinfo=UTC),
        lines=[
            InvoiceLine(
                fee_item="property_fee",
                description="物业服务费",
                quantity="98.50",
                unit_price_fen=280,
                amount_fen=27580,
            )
        ],
        room_label="3-2-1201",
    )
    await bus.send(invoice, key="u-9")
    # Notifier has not heard of c-1 yet, so it cannot tell c-1's company: only a
    # deployment-wide token sees the bill; a company's tokens (company-wide, or naming c-1)
    # do not until billing.community-updated, and get what a subject that does not exist gets.
    deployment = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*"))
    named = BearerAuth(staff_token(dev_issuer, communities=["c-1"]))
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=deployment) as http:
        await wait_for(http, "/notifications", {"subject_id": "inv-9"}, lambda r: len(r) == 1)
        for auth in (staff_auth, named):
            unknown = await http.get("/notifications", params={"subject_id": "inv-9"}, auth=auth)
            assert unknown.status_code == 404, unknown.text
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-01T10:00:00+08:00"}
            )
        ).json()
        assert report.get("awaiting_contacts") == 1
        await bus.send(party("p-9", phone="13900001111"), key="p-9")
        await bus.send(community(), key="c-1")
        await wait_for(
            http, "/notifications", {"subject_id": "inv-9"}, lambda r: r[0]["status"] == "queued"
        )

        async def known() -> bool:
            rows = await http.get("/notifications", params={"subject_id": "inv-9"}, auth=staff_auth)
            return rows.status_code == 200 and len(rows.json()["items"]) == 1

        await wait_until(known, timeout=30)  # once billing.community-updated has arrived
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-01T10:05:00+08:00"}
            )
        ).json()
        assert report.get("sent") == 1
        assert providers.tencent.bad_signatures == 0 and len(providers.tencent.sent) == 1
        sms = providers.tencent.sent[0]
        assert sms["phone"] == "+8613900001111" and sms["template"] == "100001"
        assert sms["params"][:3] == ["3-2-1201", "275.80", "3月31日"]
        answer = await http.post(
            "/receipts/tencent",
            params={"token": CALLBACK_TOKEN},
            json=[
                {
                    "user_receive_time": "2026-03-01 10:05:03",
                    "nationcode": "86",
                    "mobile": "13900001111",
                    "report_status": "SUCCESS",
                    "errmsg": "DELIVRD",
                    "description": "用户短信送达成功",
                    "sid": sms["id"],
                }
            ],
        )
        assert answer.json() == {"result": 0, "errmsg": "OK"}
    delivered = await read_topic(kafka, test_prefix + "notifier.notification-delivered", at_least=1)
    data = json.loads(delivered[0].value or b"")
    assert data["message_type"] == "bill" and data["proof"]["serial_no"] == sms["id"]
    assert notifier.stop_gracefully()


async def test_no_usable_contact_fails_with_reason_and_staff_task(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-0"), key="p-0")  # registered, but no phone, e-mail, openid or address
    event = escalation("case-0", "p-0", [EscalationAction(kind="message", channel="sms")])
    await bus.send(event, key=event.unit_id)
    never = escalation("case-x", "p-unknown", [EscalationAction(kind="message", channel="sms")])
    await bus.send(never, key=never.unit_id)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        await party_known(http, "p-0")
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-06T09:00:00+08:00"}
            )
        ).json()
        assert report.get("failed") == 1 and report.get("awaiting_contacts") == 1
        # The unknown party's contacts never come: failed after the 24 h grace period.
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-07T09:00:00+08:00"}
            )
        ).json()
        assert report.get("failed") == 1
        rows = (await http.get("/notifications", params={"status": "failed"})).json()["items"]
        assert {r["subject_id"] for r in rows} == {"case-0", "case-x"}
    failed = [
        json.loads(r.value or b"")
        for r in await read_topic(kafka, test_prefix + "notifier.notification-failed", at_least=2)
    ]
    assert len(failed) == 2 and all(f["final"] for f in failed)
    assert any("no usable contact" in f["reason"] for f in failed)
    assert any("no contact data received" in f["reason"] for f in failed)
    tasks = [
        json.loads(r.value or b"")
        for r in await read_topic(kafka, test_prefix + "notifier.staff-task-requested", at_least=2)
    ]
    assert sorted(t["kind"] for t in tasks) == ["fix_contact", "fix_contact"]
    assert providers.alibaba.sent == []
    assert notifier.stop_gracefully()
