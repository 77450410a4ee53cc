"""Per-community quiet hours and caps set over HTTP and used by the dispatcher; reminders
cancelled when dunning pauses a case (or a disputed invoice), when the household pays or
promises; promise and plan confirmations. Real notifier process, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from propfee.events import (
    ArrearsCasePaused,
    ArrearsCaseResumed,
    ArrearsEscalated,
    EscalationAction,
    InstallmentPart,
    InstallmentPlanCreated,
    InvoiceIssued,
    InvoiceLine,
    PaymentReceived,
    PromiseRecorded,
)

from .conftest import community, community_known, party, party_known, wait_for

pytestmark = pytest.mark.integration
EVENING = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai: quiet hours


def escalation(
    case_id: str,
    party_id: str,
    *,
    channels: tuple[str, ...] = ("sms",),
    at: datetime = EVENING,
    invoices: tuple[str, ...] = ("inv-a", "inv-b"),
    community_id: str = "c-1",
) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id,
        community_id=community_id,
        unit_id=f"u-{case_id}",
        payer_party_id=party_id,
        stage="reminder_7d",
        previous_stage="due_notice",
        tier="green",
        outstanding_fen=27580,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=33,
        invoice_ids=list(invoices),
        escalated_at=at,
        actions=[EscalationAction(kind="message", channel=c) for c in channels],
        room_label="3-2-1201",
        deadline=date(2026, 3, 20),
    )


def pause(case_id: str, pause_id: str, invoice_id: str | None = None) -> ArrearsCasePaused:
    return ArrearsCasePaused(
        pause_id=pause_id,
        case_id=case_id,
        community_id="c-1",
        unit_id=f"u-{case_id}",
        scope="invoice" if invoice_id else "case",
        invoice_id=invoice_id,
        reason="service_complaint",
        owner="hk-1",
        starts_at=EVENING + timedelta(minutes=30),
        ends_at=EVENING + timedelta(days=30),
    )


async def dispatch(http: httpx.AsyncClient, as_of: str, auth: httpx.Auth) -> dict[str, int]:
    """One pass as of ``as_of`` (the service role: the tests' clock)."""
    report: dict[str, int] = (
        await http.post("/dispatch", auth=auth, params={"as_of": as_of})
    ).json()
    return report


async def by_key(http: httpx.AsyncClient) -> dict[str, dict]:  # type: ignore[type-arg]
    rows = (await http.get("/notifications")).json()["items"]
    return {f"{r['subject_id']}/{r['channel']}": r for r in rows}


async def test_quiet_hours_and_cap_per_community(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(community("c-2"), key="c-2")
    await bus.send(party("p-a", phone="13800000001"), key="p-a")
    await bus.send(party("p-b", phone="13800000002"), key="p-b")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        url = "/communities/c-2/contact-rules"
        await community_known(http, "c-1")
        await community_known(http, "c-2")
        for start, end in (("25:00", "08:00"), ("21:00", "21:00"), ("23:00", "08:00")):
            body = {"quiet_start": start, "quiet_end": end, "set_by": "mgr-1"}
            refused = await http.put(url, json=body)
            assert refused.status_code == 422 and refused.json()["problems"], refused.text
        bad_cap = {"quiet_start": "21:00", "quiet_end": "08:00", "reminder_cap": 0, "set_by": "m"}
        assert (await http.put(url, json=bad_cap)).status_code == 422
        assert (await http.get(url)).json()["source"] == "settings"
        rules = {
            "quiet_start": "20:00",
            "quiet_end": "09:00",
            "reminder_cap": 1,
            "cap_window_days": 7,
            "set_by": "mgr-1",
        }
        saved = await http.put(url, json=rules)
        assert saved.status_code == 200 and saved.json()["source"] == "community"
        trail = (await http.get("/audit", params={"community_id": "c-2"})).json()["items"]
        assert [e["action"] for e in trail] == ["contact_rules.set"], "refused ones are not"
        assert trail[0]["before"] is None and trail[0]["after"]["reminder_cap"] == 1
        got = (await http.get(url)).json()
        assert (got["quiet_start"], got["quiet_end"], got["reminder_cap"]) == ("20:00", "09:00", 1)
        default = (await http.get("/communities/c-1/contact-rules")).json()
        assert (default["quiet_start"], default["quiet_end"], default["reminder_cap"]) == (
            "21:00",
            "08:00",
            4,
        )
        for p in ("p-a", "p-b"):
            await party_known(http, p)
        at = datetime(2026, 3, 5, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai
        await bus.send(escalation("r1", "p-a", at=at), key="u-r1")
        await bus.send(escalation("r2", "p-b", at=at, community_id="c-2"), key="u-r2")
        await bus.send(escalation("r3", "p-b", at=at, community_id="c-2"), key="u-r3")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 3)
        report = await dispatch(http, "2026-03-05T20:30:00+08:00", clock_auth)
        assert report.get("sent") == 1 and report.get("deferred") == 2, report
        rows = await by_key(http)
        assert rows["r1/sms"]["status"] == "sent"  # c-1: quiet only from 21:00
        for key in ("r2/sms", "r3/sms"):  # c-2: quiet from 20:00 until 09:00
            assert rows[key]["status_reason"] == "quiet hours"
            assert rows[key]["next_attempt_at"].startswith("2026-03-06T01:00:00")
        report = await dispatch(http, "2026-03-06T09:00:00+08:00", clock_auth)
        assert report.get("sent") == 1 and report.get("deferred") == 1, report
        rows = await by_key(http)
        capped = [rows[k] for k in ("r2/sms", "r3/sms") if rows[k]["status"] == "queued"]
        assert len(capped) == 1 and capped[0]["status_reason"] == "frequency cap"
        assert capped[0]["next_attempt_at"].startswith("2026-03-13T01:00:00")  # 7-day window
    assert notifier.stop_gracefully()


async def test_pause_payment_and_promise_cancel_queued_reminders(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    database_url = await create_database("notifier")
    notifier = services("notifier", database_url, **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(
        party("p-1", phone="13800000011", postal_address="杭州市西湖区幸福路1号"), key="p-1"
    )
    for p, phone in (("p-2", "13800000012"), ("p-3", "13800000013"), ("p-5", "13800000015")):
        await bus.send(party(p, phone=phone), key=p)
    await bus.send(party("p-6", email="plan@example.cn"), key="p-6")
    bill = InvoiceIssued(
        invoice_id="inv-k3",
        community_id="c-1",
        building_id="b-1",
        unit_id="u-k3",
        payer_party_id="p-3",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31),
        total_fen=27580,
        issued_at=EVENING,
        lines=[
            InvoiceLine(
                fee_item="property_fee",
                description="物业服务费",
                quantity="1",
                unit_price_fen=27580,
                amount_fen=27580,
            )
        ],
        room_label="3-2-1203",
    )
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        for p in ("p-1", "p-2", "p-3", "p-5", "p-6"):
            await party_known(http, p)
        await bus.send(escalation("k1", "p-1", channels=("sms", "letter")), key="u-k1")
        await bus.send(escalation("k2", "p-2", invoices=("inv-c", "inv-d")), key="u-k2")
        await bus.send(escalation("k3", "p-3"), key="u-k3")
        await bus.send(bill, key="u-k3")
        await bus.send(escalation("k5", "p-5"), key="u-k5")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 6)
        report = await dispatch(http, "2026-03-05T21:30:00+08:00", clock_auth)
        assert report.get("printing") == 1 and report.get("deferred") == 5, report

        # Dunning pauses k1 (a complaint) and k2's disputed invoice inv-c (inv-z: not in it);
        # k3's household pays; k5's payer promises. k4's pause comes before its reminder.
        await bus.send(pause("k1", "pause-k1"), key="u-k1")
        await bus.send(pause("k2", "pause-k2z", invoice_id="inv-z"), key="u-k2")
        await bus.send(pause("k2", "pause-k2c", invoice_id="inv-c"), key="u-k2")
        paid = PaymentReceived(
            payment_id="pay-k3",
            community_id="c-1",
            unit_id="u-k3",
            payer_party_id="p-3",
            invoice_ids=["inv-a"],
            amount_fen=27580,
            channel="wechat_pay",
            gateway="wechatpay",
            gateway_transaction_id="4200001",
            out_trade_no="o-1",
            paid_at=EVENING + timedelta(minutes=20),
            received_at=EVENING + timedelta(minutes=21),
        )
        await bus.send(paid, key="u-k3")
        promise = PromiseRecorded(
            promise_id="promise-k5",
            case_id="k5",
            community_id="c-1",
            unit_id="u-k5",
            payer_party_id="p-5",
            amount_fen=27580,
            promised_date=date(2026, 3, 20),
            signed=True,
            recorded_at=EVENING + timedelta(minutes=40),
        )
        await bus.send(promise, key="u-k5")
        plan = InstallmentPlanCreated(
            plan_id="plan-k6",
            community_id="c-1",
            unit_id="u-k6",
            payer_party_id="p-6",
            invoice_ids=["inv-e", "inv-f"],
            total_fen=82740,
            parts=[
                InstallmentPart(part_no=n, due_date=date(2026, 3 + n, 10), amount_fen=27580)
                for n in (1, 2, 3)
            ],
            reason="hardship",
            created_at=EVENING,
        )
        await bus.send(plan, key="u-k6")
        await bus.send(pause("k4", "pause-k4"), key="u-k4")
        await bus.send(party("p-4", phone="13800000014"), key="p-4")
        await party_known(http, "p-4")
        await asyncio.sleep(1)  # the pause's topic is ahead of the reminder's
        await bus.send(escalation("k4", "p-4"), key="u-k4")

        def settled(rows: list[dict]) -> bool:  # type: ignore[type-arg]
            status = {f"{r['subject_id']}/{r['channel']}": r["status"] for r in rows}
            return (
                len(rows) == 10
                and all(status.get(f"k{n}/sms") == "cancelled" for n in (1, 3, 4, 5))
                and status.get("k1/letter") == "cancelled"
                and status.get("k2/sms") == "cancelled"
            )

        await wait_for(http, "/notifications", {}, settled)
        rows = await by_key(http)
        assert rows["k1/sms"]["status_reason"] == (
            "cancelled: dunning paused the case (service_complaint)"
        )
        assert rows["k2/sms"]["status_reason"] == (
            "cancelled: dunning paused the invoice inv-c (service_complaint)"
        )
        assert rows["k3/sms"]["status_reason"] == "cancelled: the household paid (payment pay-k3)"
        assert rows["k5/sms"]["status_reason"] == (
            "cancelled: the payer promised to pay by 2026-03-20"
        )
        # Bills, receipts and confirmations still go.
        assert rows["inv-k3/sms"]["status"] == "queued"
        assert rows["pay-k3/sms"]["status"] == "queued"
        assert rows["promise-k5/sms"]["stage"] == "promise"
        assert rows["plan-k6/sms"]["stage"] == "plan"

        # Dunning resumes k1: nothing comes back. A producer's duplicate of the old escalation
        # stays cancelled; a new escalation after the resume is queued again.
        resumed = ArrearsCaseResumed(
            pause_id="pause-k1",
            case_id="k1",
            community_id="c-1",
            unit_id="u-k1",
            resolution="leak fixed",
            resumed_at=datetime(2026, 3, 6, 1, tzinfo=UTC),
        )
        await bus.send(resumed, key="u-k1")
        await bus.send(escalation("k1", "p-1", channels=("sms", "letter")), key="u-k1")
        conn = await asyncpg.connect(database_url)
        try:

            async def handled(event_type: str) -> int:
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM inbox WHERE event_type LIKE $1", f"%{event_type}%"
                    )
                )

            for _ in range(300):  # the resume and the duplicate (6th escalation) handled
                if await handled("ArrearsCaseResumed") and await handled("ArrearsEscalated") == 6:
                    break
                await asyncio.sleep(0.1)
            assert await handled("ArrearsEscalated") == 6
            assert await conn.fetchval(
                "SELECT stops_before FROM reminder_stops WHERE stop_id = 'pause-k1'"
            ) == datetime(2026, 3, 6, 1, tzinfo=UTC)
        finally:
            await conn.close()
        rows = await by_key(http)
        assert (
            rows["k1/sms"]["status"] == "cancelled" and rows["k1/letter"]["status"] == "cancelled"
        )
        later = datetime(2026, 3, 7, 2, tzinfo=UTC)
        await bus.send(escalation("k1", "p-1", channels=("sms", "letter"), at=later), key="u-k1")
        await wait_for(
            http,
            "/notifications",
            {"subject_id": "k1"},
            lambda r: {x["status"] for x in r} == {"queued"},
        )
        report = await dispatch(http, "2026-03-07T10:00:00+08:00", clock_auth)
        # k1's SMS, k3's bill and receipt, k5's promise confirmation; k1's letter; the plan's
        # confirmation by e-mail (p-6 gave no phone).
        assert report.get("sent") == 4 and report.get("printing") == 1, report
        assert report.get("delivered") == 1, report
        rows = await by_key(http)
        assert rows["k2/sms"]["status"] == "cancelled"
        sent = {s["out_id"]: s for s in providers.alibaba.sent}
        confirmation = sent[rows["promise-k5/sms"]["notification_id"]]
        assert confirmation["template"] == "SMS_CONFIRMATION"
        assert confirmation["params"]["deadline"] == "3月20日"
        assert confirmation["params"]["room"] == "3-2-1201"  # from the earlier reminder
        assert {s["phone"] for s in providers.alibaba.sent} == {
            "13800000011",
            "13800000013",
            "13800000015",
        }
        email = providers.smtp.messages[0]
        assert email["to"] == ["plan@example.cn"]
        plan_row = rows["plan-k6/email"]
        assert "共3期" in plan_row["body"] and "827.40" in plan_row["body"]
        assert "4月10日" in plan_row["body"]
    assert notifier.stop_gracefully()
