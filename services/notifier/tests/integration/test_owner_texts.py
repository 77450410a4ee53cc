"""What owners read, from a dispatched batch (issue 19): a real notifier process, real Kafka and
PostgreSQL, fake providers over real HTTP. The texts recorded name the room as people write
it, carry a short signed pay link (the same token on every channel of one occasion, published
as PayLinkIssued), and every SMS is one segment, counted in the dispatch report."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest

from notifier.domain import owner_text, sms
from propfee.events import (
    ArrearsEscalated,
    EscalationAction,
    InvoiceIssued,
    InvoiceLine,
    PayLinkIssued,
    PaymentReceived,
)
from propfee.pay_links import DEVELOPMENT_SECRET, TOKEN_CHARS, token_valid
from tests.support.kafka import read_topic

from .conftest import community, party, party_known, wait_for

pytestmark = pytest.mark.integration
ISSUED = datetime(2026, 3, 1, 2, tzinfo=UTC)
MORNING = "2026-03-10T10:00:00+08:00"
LINK = re.compile(r"(https://)?pf\.cn/p/([0-9A-Za-z]+)")


def invoice(invoice_id: str, unit_id: str, party_id: str, key: str) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=invoice_id,
        community_id="c-1",
        building_id="b-1",
        unit_id=unit_id,
        payer_party_id=party_id,
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        due_date=date(2026, 3, 31),
        lines=[
            InvoiceLine(
                fee_item="property_fee",
                description="物业费",
                quantity="89",
                unit_price_fen=310,
                amount_fen=27590,
            )
        ],
        total_fen=27590,
        issued_at=ISSUED,
        room_label=key,  # billing's key, as events before issue 19 carried it
    )


async def test_a_dispatched_batch_reads_as_owners_expect(
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
    await bus.send(party("p-1", phone="13812345678"), key="p-1")
    await bus.send(party("p-2", phone="13912345678", wechat_openid="o-p2"), key="p-2")
    # A bill for 9栋2单元502; a reminder for A座1203 by SMS and WeChat (one occasion, two
    # channels) after a part payment; a receipt for 9栋2单元502's March.
    await bus.send(invoice("inv-a1", "unit-a1", "p-1", "9/2/502"), key="unit-a1")
    reminder = ArrearsEscalated(
        case_id="case-b1",
        community_id="c-1",
        unit_id="unit-b1",
        payer_party_id="p-2",
        stage="reminder",
        previous_stage="notice_before_due",
        tier="yellow",
        outstanding_fen=12345,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=38,
        invoice_ids=["inv-b0"],
        escalated_at=datetime(2026, 3, 10, 1, tzinfo=UTC),
        actions=[
            EscalationAction(kind="message", channel="sms"),
            EscalationAction(kind="message", channel="wechat"),
        ],
        room_label="A座/-/1203",
        paid_fen=15245,
    )
    await bus.send(reminder, key="unit-b1")
    payment = PaymentReceived(
        payment_id="pay-a1",
        community_id="c-1",
        unit_id="unit-a1",
        payer_party_id="p-1",
        invoice_ids=["inv-a1"],
        amount_fen=27590,
        channel="alipay",
        paid_at=datetime(2026, 3, 9, 12, tzinfo=UTC),
        received_at=datetime(2026, 3, 9, 12, tzinfo=UTC),
    )
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await party_known(http, "p-1")
        await party_known(http, "p-2")
        await wait_for(http, "/notifications", {"subject_id": "inv-a1"}, lambda r: len(r) == 1)
        await wait_for(http, "/notifications", {"subject_id": "case-b1"}, lambda r: len(r) == 2)
        await bus.send(payment, key="unit-a1")  # after the bill is queued
        await wait_for(http, "/notifications", {"subject_id": "pay-a1"}, lambda r: len(r) == 1)
        report = (await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING})).json()
        rows = {
            (r["subject_id"], r["channel"]): r
            for r in (await http.get("/notifications")).json()["items"]
            if r["status"] in {"sent", "delivered"}
        }
    assert set(rows) == {
        ("inv-a1", "sms"),
        ("case-b1", "sms"),
        ("case-b1", "wechat"),
        ("pay-a1", "sms"),
    }, report
    bodies = {key: row["body"] for key, row in rows.items()}
    for key, body in bodies.items():
        assert owner_text.problems(body) == [], (key, body)
        assert "unit-" not in body and "9/2/502" not in body and "A座/-/" not in body
    bill, text, wx, receipt = (
        bodies["inv-a1", "sms"],
        bodies["case-b1", "sms"],
        bodies["case-b1", "wechat"],
        bodies["pay-a1", "sms"],
    )
    assert bill.startswith("【物业服务】9栋2单元502账单275.90元，3月31日前缴 pf.cn/p/"), bill
    assert text.startswith("【物业服务】A座1203尚欠123.45元，3月17日前缴 pf.cn/p/"), text
    assert "已缴152.45元，尚欠物业费123.45元" in wx and "2026年3月17日" in wx
    assert (
        receipt
        == "【物业服务】9栋2单元502已缴2026年3月物业费275.90元（支付宝），谢谢！询4008123456"
    )
    # Every SMS one segment, counted and stored per message.
    sent_sms = [b for (_, channel), b in bodies.items() if channel == "sms"]
    assert all(sms.segments(b) == 1 for b in sent_sms)
    assert report["sms_segments"] == len(sent_sms) == 3
    conn = await asyncpg.connect(db)
    try:
        stored = await conn.fetch(
            "SELECT channel, sms_segments FROM notifications WHERE status IN ('sent', 'delivered')"
        )
        links = await conn.fetch("SELECT * FROM pay_links ORDER BY occasion")
    finally:
        await conn.close()
    assert sorted((r["channel"], r["sms_segments"]) for r in stored) == [
        ("sms", 1),
        ("sms", 1),
        ("sms", 1),
        ("wechat", None),
    ]
    # Short signed tokens: SMS without the scheme, WeChat with it; one token per occasion,
    # the same on both channels of the reminder; none on a receipt.
    tokens = {key: LINK.search(body) for key, body in bodies.items()}
    assert tokens["pay-a1", "sms"] is None
    bill_link, sms_link, wx_link = (
        tokens["inv-a1", "sms"],
        tokens["case-b1", "sms"],
        tokens["case-b1", "wechat"],
    )
    assert bill_link and sms_link and wx_link
    assert bill_link.group(1) is None and sms_link.group(1) is None
    assert wx_link.group(1) == "https://"
    assert sms_link.group(2) == wx_link.group(2) != bill_link.group(2)
    for token in (bill_link.group(2), sms_link.group(2)):
        assert len(token) == TOKEN_CHARS and token_valid(DEVELOPMENT_SECRET.encode(), token)
    assert [(r["occasion"], r["unit_id"], r["party_id"]) for r in links] == [
        ("case-b1|reminder|reminder", "unit-b1", "p-2"),
        ("inv-a1|bill|-", "unit-a1", "p-1"),
    ]
    assert links[1]["company_id"] == "co-1"
    assert (links[1]["expires_at"] - links[1]["issued_at"]).days == 60
    published = [
        PayLinkIssued.model_validate(json.loads(r.value or b""))
        for r in await read_topic(kafka, test_prefix + PayLinkIssued.topic(), at_least=2)
    ]
    assert sorted(p.token for p in published) == sorted(r["token"] for r in links)
    assert {p.occasion for p in published} == {r["occasion"] for r in links}
    assert notifier.stop_gracefully()


async def test_a_retry_on_another_channel_reuses_the_occasion_s_link(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    """The SMS of a bill fails (the provider refuses the number) and falls back to e-mail:
    the e-mail carries the link the SMS was written with, and no second PayLinkIssued."""
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    providers.alibaba.fail_phones.add("13800000000")
    await bus.send(community(), key="c-1")
    await bus.send(party("p-9", phone="13800000000", email="owner@example.cn"), key="p-9")
    await bus.send(invoice("inv-z1", "unit-z1", "p-9", "3/1/101"), key="unit-z1")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await party_known(http, "p-9")
        await wait_for(http, "/notifications", {"subject_id": "inv-z1"}, lambda r: len(r) == 1)
        for hour in ("10", "11"):
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": f"2026-03-10T{hour}:00:00+08:00"}
            )
        rows = (await http.get("/notifications", params={"subject_id": "inv-z1"})).json()["items"]
    conn = await asyncpg.connect(db)
    try:
        tokens = [r["token"] for r in await conn.fetch("SELECT token FROM pay_links")]
    finally:
        await conn.close()
    assert len(tokens) == 1
    email = next(r for r in rows if r["channel"] == "email")
    assert email["status"] in {"sent", "delivered"}, rows
    assert f"https://pf.cn/p/{tokens[0]}" in email["body"]
    assert "3栋1单元101" in email["body"] and "2026年3月" in email["body"]
    published = await read_topic(kafka, test_prefix + PayLinkIssued.topic(), at_least=1)
    assert len(published) == 1
    assert notifier.stop_gracefully()


#: Two segments with the sample values (75 characters with the sign).
TWO_SEGMENTS = "{{ room }}物业费{{ amount }}元，请于{{ deadline }}前缴纳 {{ pay_link }} 如有疑问请致电{{ contact }}"
ONE_SEGMENT = "{{ room }}欠费{{ amount }}元，{{ deadline }}前缴 {{ pay_link }} 询{{ contact }}"


async def test_saving_an_sms_template_of_two_segments(
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """Refused for bills and reminders (422, the reason named); saved with a warning for other
    types (the cost doubles); a one-segment template is saved without one."""
    from propfee.auth import Role
    from tests.support.auth import BearerAuth, staff_token

    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    admin = BearerAuth(staff_token(dev_issuer, [Role.company_admin], company_id="co-1"))
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=admin) as http:
        for message_type in ("reminder", "bill"):
            refused = await http.post(
                "/templates",
                json={"message_type": message_type, "channel": "sms", "body": TWO_SEGMENTS},
            )
            assert refused.status_code == 422, refused.text
            assert any("2 segments" in p and "one segment" in p for p in refused.json()["problems"])
            saved = await http.post(
                "/templates",
                json={"message_type": message_type, "channel": "sms", "body": ONE_SEGMENT},
            )
            assert saved.status_code == 201 and saved.json()["warnings"] == [], saved.text
        body = (
            "{{ room }}已于{{ paid_date }}通过{{ pay_channel }}缴纳{{ amount }}元，"
            "感谢您一直以来对我们工作的支持，如有疑问请致电{{ contact }}"
        )
        warned = await http.post(
            "/templates", json={"message_type": "receipt", "channel": "sms", "body": body}
        )
        assert warned.status_code == 201, warned.text
        assert len(warned.json()["warnings"]) == 1 and "2 segments" in warned.json()["warnings"][0]
        # A variable a receipt never has (no pay link: the money is paid) is refused at save.
        linked = await http.post(
            "/templates",
            json={"message_type": "receipt", "channel": "sms", "body": body + "{{ pay_link }}"},
        )
        assert linked.status_code == 422 and "pay_link" in linked.text, linked.text
    assert notifier.stop_gracefully()
