"""Counter receipts, the static QR per unit and bank withholding files, on a real process."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from propfee.events import InvoiceIssued
from propfee.kafka import make_producer
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

pytestmark = pytest.mark.integration
CST = timezone(timedelta(hours=8))

HEADER = (
    "\ufeffbatch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
    "result,bank_reference,debited_at,failure_reason\n"
)
FILE = (
    HEADER
    + """\
B20260305,0001,c-1,u-b1,owner-1,inv-9|inv-10,275.80,CNY,SUCCESS,ICBC000001,2026-03-05 10:00:00,
B20260305,0002,c-1,u-b2,owner-2,,100.00,CNY,FAILED,,2026-03-05 10:00:01,余额不足
B20260305,0003,c-1,u-b3,owner-3,,12.3456,CNY,SUCCESS,ICBC000003,2026-03-05 10:00:02,
B20260305,0004,c-1,u-b4,owner-4,,50.00,USD,SUCCESS,ICBC000004,2026-03-05 10:00:03,
B20260305,0005,c-1,u-b5,owner-5,,88.00,CNY,SUCCESS,ICBC000005,2026-03-05 10:00:04,
"""
)


async def test_counter_receipts_static_qr_and_bank_files(
    services,
    create_database,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("payments")
    proc = services("payments", db, qr_secret="test-qr-secret").start()
    await know_communities(db)
    unit = f"u-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:
        # Counter: receipts numbered per community and day, in order; a retry keeps its number.
        receipts = []
        taken_at = datetime.now(CST).replace(microsecond=0) - timedelta(hours=1)
        for n in range(3):
            body = {
                "community_id": "c-9",
                "unit_id": unit,
                "payer_party_id": "owner-1",
                "amount_fen": 1000 + n,
                "channel": "cash",
                "received_by": "cashier-1",
                "paid_at": taken_at.isoformat(),  # back-dated an hour (staff may)
            }
            key = {"Idempotency-Key": f"counter-{uuid.uuid4()}"}
            first = await http.post("/payments/counter", json=body, headers=key)
            again = await http.post("/payments/counter", json=body, headers=key)
            assert first.status_code == 201 and again.status_code == 200
            assert first.json()["receipt_no"] == again.json()["receipt_no"]
            receipts.append(first.json()["receipt_no"])
        assert receipts == [f"SJ-c-9-{taken_at:%Y%m%d}-00000{n}" for n in (1, 2, 3)]
        by_receipt = (await http.get(f"/receipts/{receipts[1]}")).json()
        assert by_receipt["amount_fen"] == 1001 and by_receipt["received_by"] == "cashier-1"
        # Each new counter payment is in the audit trail (not the replays), with who took it.
        trail = (await http.get("/audit", params={"unit_id": unit})).json()["items"]
        assert [(e["action"], e["actor"], e["community_id"]) for e in trail] == [
            ("payment.counter_recorded", "test-staff", "c-9")
        ] * 3
        assert trail[0]["after"]["receipt_no"] == receipts[2], "newest first"
        # PaymentReceived names the signed-in staff member as the cashier (billing prints it).
        conn = await asyncpg.connect(db)
        try:
            payloads = await conn.fetch(
                "SELECT payload FROM outbox WHERE topic = 'payments.payment-received' "
                "AND message_key = $1",
                unit,
            )
        finally:
            await conn.close()
        events = [json.loads(p["payload"]) for p in payloads]
        assert len(events) == 3 and {e["cashier"] for e in events} == {"test-staff"}

        # Static QR: the unit's statement (open invoices from billing's events), payable.
        producer = make_producer(kafka, client_id="test")
        await producer.start()
        try:
            await publish(
                producer,
                test_prefix + "billing.invoice-issued",
                InvoiceIssued(
                    invoice_id="inv-q1",
                    community_id="c-9",
                    building_id="b",
                    unit_id=unit,
                    payer_party_id="owner-1",
                    period_start=date(2026, 3, 1),
                    period_end=date(2026, 3, 31),
                    due_date=date(2026, 3, 31),
                    lines=[],
                    total_fen=27580,
                    issued_at=datetime.now(UTC),
                ),
                key=unit,
            )
        finally:
            await producer.stop()
        link = (await http.get(f"/units/{unit}/qr")).json()["url"]
        path = link.split("127.0.0.1:8102", 1)[1]

        async def statement_ready() -> bool:
            return (await http.get(path)).json()["total_fen"] == 27580

        await wait_until(statement_ready, timeout=60)
        token = path.split("/qr/", 1)[1].split("?", 1)[0]
        assert (await http.get(f"/qr/{token}?sig=0000")).status_code == 404
        order = await http.post(
            path.replace(f"/qr/{token}", f"/qr/{token}/orders"), json={"channel": "wechat_pay"}
        )
        assert order.status_code == 201 and order.json()["amount_fen"] == 27580
        assert order.json()["invoice_ids"] == ["inv-q1"]

        # Bank withholding: successes recorded once, failures and bad rows reported. The
        # file's units and invoices are ones payments knows (billing's invoices).
        conn = await asyncpg.connect(db)
        try:
            await conn.executemany(
                "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, "
                "total_fen) VALUES ($1, 'c-1', $2, $3, 100)",
                [("inv-9", "u-b1", "owner-1"), ("inv-10", "u-b1", "owner-1"),
                 ("inv-b2", "u-b2", "owner-2"), ("inv-b5", "u-b5", "owner-5")],
            )  # fmt: skip
        finally:
            await conn.close()
        first = (
            await http.post(
                "/bank-withholding/files",
                content=FILE.encode(),
                headers={"Content-Type": "text/csv"},
            )
        ).json()
        assert first["recorded"] == 2 and first["failed_debits"] == 1
        assert sorted((e["line"], e["column"]) for e in first["errors"]) == [
            (4, "amount"),
            (5, "currency"),
        ]
        second = (await http.post("/bank-withholding/files", content=FILE.encode())).json()
        assert second["recorded"] == 0 and second["already_recorded"] == 2
        changed = FILE.replace("88.00,CNY,SUCCESS", "89.00,CNY,SUCCESS")
        third = (await http.post("/bank-withholding/files", content=changed.encode())).json()
        assert {
            "line": 6,
            "column": "batch_no,serial_no",
            "reason": "already imported with other data",
        } in third["errors"]
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch(
            "SELECT unit_id, amount_fen, invoice_ids FROM payments WHERE channel = "
            "'bank_withholding' ORDER BY unit_id"
        )
        assert [(r["unit_id"], r["amount_fen"], r["invoice_ids"]) for r in rows] == [
            ("u-b1", 27580, ["inv-9", "inv-10"]),
            ("u-b5", 8800, []),
        ]
    finally:
        await conn.close()
    records = await read_topic(kafka, test_prefix + "payments.payment-received", at_least=5)
    assert len(records) == 5  # three counter payments and two debits, each once
