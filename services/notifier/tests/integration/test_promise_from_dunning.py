"""Across services: staff record a promise to pay in dunning; dunning publishes
dunning.promise-recorded through its outbox and notifier confirms it to the payer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest

from propfee.auth import Role
from propfee.events import InvoiceIssued, InvoiceLine
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until

from .conftest import community, party, wait_for

pytestmark = pytest.mark.integration


async def test_dunning_promise_is_confirmed_by_notifier(
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    dunning = services("dunning", await create_database("dunning")).start()
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-d1", phone="13800000021"), key="p-d1")
    invoice = InvoiceIssued(
        invoice_id="inv-d1",
        community_id="c-1",
        building_id="b-1",
        unit_id="u-d1",
        payer_party_id="p-d1",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        due_date=date(2026, 1, 31),
        total_fen=27580,
        issued_at=datetime(2026, 1, 1, 1, tzinfo=UTC),
        lines=[
            InvoiceLine(
                fee_item="property_fee",
                description="物业服务费",
                quantity="1",
                unit_price_fen=27580,
                amount_fen=27580,
            )
        ],
        room_label="3-2-1201",
    )
    await bus.send(invoice, key="u-d1")
    # March 2026 on the simulation clock: only the service role acts as of another instant.
    clock = BearerAuth(staff_token(dev_issuer, [Role.housekeeper, Role.finance, Role.service]))
    async with (
        httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=clock) as staff,
        httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=clock) as http,
    ):
        cases: list[dict] = []  # type: ignore[type-arg]

        async def case_open() -> bool:
            r = await staff.get("/cases", params={"unit_id": "u-d1"})
            cases[:] = (
                r.json()["items"] if r.status_code == 200 else []
            )  # 404 until dunning knows u-d1
            return bool(cases)

        await wait_until(case_open, timeout=30)
        promise = {
            "amount_fen": 27580,
            "promised_date": "2026-03-20",
            "signed": True,
            "staff_id": "hk-1",
            "at": "2026-03-05T10:00:00+08:00",
        }
        answer = await staff.post(f"/cases/{cases[0]['case_id']}/promises", json=promise)
        assert answer.status_code == 201, answer.text
        promise_id = answer.json()["promise_id"]
        rows = await wait_for(
            http, "/notifications", {"subject_id": promise_id}, lambda r: len(r) == 1
        )
        row = rows[0]
        assert row["message_type"] == "confirmation" and row["stage"] == "promise"
        assert row["party_id"] == "p-d1" and row["unit_id"] == "u-d1"
        report = (
            await http.post("/dispatch", params={"as_of": "2026-03-05T10:05:00+08:00"})
        ).json()
        assert report.get("sent", 0) >= 1, report
        sent = {s["out_id"]: s for s in providers.alibaba.sent}
        sms = sent[row["notification_id"]]
        assert sms["template"] == "SMS_CONFIRMATION" and sms["params"]["deadline"] == "3月20日"
        assert sms["params"]["room"] == "3-2-1201" and sms["params"]["amount"] == "275.80"
    assert dunning.stop_gracefully() and notifier.stop_gracefully()
