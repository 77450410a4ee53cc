"""Issue 18 rule 12 across services (HTTP and Kafka): one person owns two flats; dunning's
sweep (HTTP) escalates both to the same stage and publishes through Kafka; notifier queues ONE
reminder naming both rooms and the total, and sends one SMS."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from propfee.auth import Role
from propfee.events import (
    ArrearsEscalated,
    CombinedCase,
    EscalationAction,
    InvoiceIssued,
    InvoiceLine,
    PaymentReceived,
)
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until

from .conftest import community, party, wait_for

pytestmark = pytest.mark.integration


def _invoice(unit: str, room: str, fen: int) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=f"inv-{unit}", community_id="c-1", building_id="b-1", unit_id=unit,
        payer_party_id="p-w1", period_start=date(2026, 1, 1), period_end=date(2026, 1, 31),
        due_date=date(2026, 1, 31), total_fen=fen, issued_at=datetime(2026, 1, 1, 1, tzinfo=UTC),
        lines=[InvoiceLine(fee_item="property_fee", description="物业服务费", quantity="1",
                           unit_price_fen=fen, amount_fen=fen)],
        room_label=room,
    )  # fmt: skip


async def test_two_flats_of_one_person_get_one_combined_reminder(
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    dunning = services("dunning", await create_database("dunning")).start()
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-w1", phone="13800000031"), key="p-w1")
    await bus.send(_invoice("u-w1", "3-2-1201", 20000), key="u-w1")
    await bus.send(_invoice("u-w2", "3-2-1202", 30000), key="u-w2")
    clock = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
    async with (
        httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=clock) as cron,
        httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=clock) as http,
    ):

        async def both_cases_open() -> bool:
            r = await cron.get("/cases")
            return r.status_code == 200 and len(r.json()["items"]) == 2

        await wait_until(both_cases_open, timeout=30)
        sweep = await cron.post("/sweeps", json={"as_of": "2026-02-07T10:00:00+08:00"})
        assert sweep.status_code == 200, sweep.text
        assert sweep.json()["by_stage"] == {"reminder": 2}

        async def tasks_and_reminders() -> list[dict]:  # type: ignore[type-arg]
            r = await http.get("/notifications", params={"party_id": "p-w1"})
            return [n for n in r.json()["items"] if n["message_type"] == "reminder"]

        found: list[dict] = []  # type: ignore[type-arg]

        async def queued() -> bool:
            found[:] = await tasks_and_reminders()
            return bool(found)

        await wait_until(queued, timeout=30)

        # Both escalations reached notifier (Kafka keeps no order between the two units'
        # partitions): wait until dunning's outbox is drained, then one reminder is all there is.
        async def drained() -> bool:
            r = await cron.get("/cases")
            return all(c["stage"] == "reminder" for c in r.json()["items"])

        await wait_until(drained, timeout=30)
        report = (
            await http.post("/dispatch", params={"as_of": "2026-02-07T10:05:00+08:00"})
        ).json()
        assert report.get("sent", 0) == 3, report  # two bills and ONE reminder
        reminders = await tasks_and_reminders()
        assert len(reminders) == 1, reminders
        assert reminders[0]["status"] == "sent"
        sent = {s["out_id"]: s for s in providers.alibaba.sent}
        sms = sent[reminders[0]["notification_id"]]
        # One segment (issue 19): the SMS names the first room and how many.
        assert sms["params"]["room"] == "3-2-1201等2套"
        assert sms["params"]["amount"] == "500.00"
    assert dunning.stop_gracefully() and notifier.stop_gracefully()


async def test_a_payment_for_any_room_stops_the_combined_reminder(
    clock_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """The combined reminder is queued under the first room's unit; the household pays for
    the second room: the reminder (which names that room's debt) is cancelled, not sent."""
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-w2", phone="13800000032"), key="p-w2")
    at = datetime(2026, 2, 7, 2, tzinfo=UTC)  # 10:00 in Shanghai
    cases = [
        CombinedCase(case_id=f"case-{u}", unit_id=f"u-{u}", room_label=f"3-2-{u}",
                     outstanding_fen=20000, oldest_due_date=date(2026, 1, 31),
                     invoice_ids=[f"inv-{u}"])
        for u in ("1301", "1302")
    ]  # fmt: skip
    lead = ArrearsEscalated(
        case_id="case-1301", community_id="c-1", unit_id="u-1301", payer_party_id="p-w2",
        stage="reminder", previous_stage=None, tier="green", outstanding_fen=20000,
        oldest_due_date=date(2026, 1, 31), days_overdue=7, invoice_ids=["inv-1301"],
        escalated_at=at, actions=[EscalationAction(kind="message", channel="sms")],
        room_label="3-2-1301", combined=cases,
    )  # fmt: skip
    other = lead.model_copy(
        update={"case_id": "case-1302", "unit_id": "u-1302", "invoice_ids": ["inv-1302"],
                "room_label": "3-2-1302", "combined": [], "combined_into": "case-1301"}
    )  # fmt: skip
    await bus.send(lead, key="u-1301")
    await bus.send(other, key="u-1302")
    paid = PaymentReceived(
        payment_id="pay-1302", community_id="c-1", unit_id="u-1302", payer_party_id="p-w2",
        invoice_ids=["inv-1302"], amount_fen=20000, channel="wechat_pay", gateway="wechatpay",
        gateway_transaction_id="4200009", out_trade_no="o-9",
        paid_at=at + timedelta(minutes=20), received_at=at + timedelta(minutes=21),
    )  # fmt: skip
    await bus.send(paid, key="u-1302")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=clock_auth) as http:
        rows = await wait_for(
            http, "/notifications", {"party_id": "p-w2"}, lambda r: len(r) == 2
        )  # the combined reminder and the receipt
        reminder = next(r for r in rows if r["message_type"] == "reminder")
        assert reminder["unit_id"] == "u-1301"
        await http.post("/dispatch", params={"as_of": "2026-02-07T10:30:00+08:00"})
        rows = await wait_for(
            http,
            "/notifications",
            {"subject_id": "case-1301"},
            lambda r: r and r[0]["status"] != "queued",
        )
        assert rows[0]["status"] == "cancelled"
        assert rows[0]["status_reason"] == "cancelled: the household paid (payment pay-1302)"
    assert notifier.stop_gracefully()
