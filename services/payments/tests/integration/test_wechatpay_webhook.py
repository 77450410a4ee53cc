"""POST /webhooks/wechatpay against a real payments process, PostgreSQL and Kafka.

The notifications are signed and encrypted by the test's own WeChat side (cryptography used
directly), never by the code under test."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, order_on_account, wechat_env

from sandbox.keys import new_key
from sandbox.wechatpay import WechatSide, transaction
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration

TOPIC = "payments.payment-received"


@pytest.fixture
def side() -> WechatSide:
    return WechatSide()


async def _start(services, create_database, side, tmp_path):  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services("payments", db, **wechat_env(side, tmp_path)).start()
    await know_communities(db)
    return proc, db


async def test_only_authentic_fresh_notifications_change_anything(
    services,
    create_database,
    side,
    tmp_path,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    proc, db = await _start(services, create_database, side, tmp_path)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:
        order = await order_on_account(conn, http, proc.url, "u-1", 27580)
        body = side.body("TRANSACTION.SUCCESS", transaction(order["out_trade_no"], 27580))
        url = "/webhooks/wechatpay"

        async def rejected(content: bytes, headers: dict[str, str]) -> None:
            r = await http.post(url, content=content, headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["code"] == "FAIL" and r.json()["message"]

        # Tampered body: one byte of the ciphertext changed, signature of the original.
        headers = side.headers(body)
        tampered = body.replace(b'"ciphertext":"', b'"ciphertext":"A', 1)
        await rejected(tampered, headers)
        # The same JSON re-serialised (other spacing, key order): not the bytes that were signed.
        reserialised = json.dumps(json.loads(body), indent=1, sort_keys=True).encode()
        assert json.loads(reserialised) == json.loads(body)
        await rejected(reserialised, headers)
        # Signed six minutes ago (and six minutes ahead).
        await rejected(body, side.headers(body, timestamp=int(time.time()) - 360))
        await rejected(body, side.headers(body, timestamp=int(time.time()) + 360))
        # A key WeChat Pay does not own, presented under each configured serial.
        intruder = new_key()
        await rejected(body, side.headers(body, key=intruder))
        await rejected(body, side.headers(body, mode="platform", key=intruder))
        # The platform key's signature presented as the public key's, and an unknown serial.
        await rejected(body, side.headers(body, mode="platform", serial=side.public_key_id))
        await rejected(body, side.headers(body, serial="PUB_KEY_ID_UNKNOWN"))
        # A probe signature (WeChat checks that merchants do verify).
        probe = side.headers(body)
        probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]
        await rejected(body, probe)
        # Missing headers.
        await rejected(body, {"Content-Type": "application/json"})
        assert await conn.fetchval("SELECT count(*) FROM gateway_transactions") == 0
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        # The genuine one, just inside the 5-minute window: recorded.
        r = await http.post(
            url, content=body, headers=side.headers(body, timestamp=int(time.time()) - 240)
        )
        assert r.status_code in (200, 204), r.text
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        order_now = (await http.get(f"/orders/{order['order_id']}")).json()
        assert order_now["status"] == "paid"
    await conn.close()
    log = proc.log_path.read_text()
    assert "wechatpay notification rejected" in log
    assert "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" not in log  # the payer's openid never logged


async def test_key_switch_both_modes_and_duplicates_make_one_payment_across_restart(
    services,
    create_database,
    side,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    proc, db = await _start(services, create_database, side, tmp_path)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        first = await order_on_account(conn, http, proc.url, "u-2", 10000)
        second = await order_on_account(conn, http, proc.url, "u-3", 20000)
        # Key switch: one notification signed with the platform certificate's key, the other
        # with the WeChat Pay public key, both accepted by the same process.
        body_a = side.body("TRANSACTION.SUCCESS", transaction(first["out_trade_no"], 10000))
        body_b = side.body("TRANSACTION.SUCCESS", transaction(second["out_trade_no"], 20000))
        # 20 concurrent deliveries of each, mixing both signing modes for the same body.
        deliveries = [
            http.post(
                "/webhooks/wechatpay",
                content=b,
                headers=side.headers(b, mode="platform" if i % 2 else "public_key"),
            )
            for i in range(20)
            for b in (body_a, body_b)
        ]
        answers = await asyncio.gather(*deliveries)
        assert {a.status_code for a in answers} <= {200, 204}, [a.text for a in answers]
        assert await conn.fetchval("SELECT count(*) FROM payments") == 2
    # Restart (graceful stop, start again), then the same notifications once more.
    assert proc.stop_gracefully(), proc.log_tail()
    proc.start()
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        for b in (body_a, body_b):
            r = await http.post("/webhooks/wechatpay", content=b, headers=side.headers(b))
            assert r.status_code in (200, 204), r.text
    assert await conn.fetchval("SELECT count(*) FROM payments") == 2
    rows = await conn.fetch(
        "SELECT unit_id, amount_fen, out_trade_no FROM payments ORDER BY unit_id"
    )
    assert [(r["unit_id"], r["amount_fen"]) for r in rows] == [("u-2", 10000), ("u-3", 20000)]
    records = await read_topic(kafka, test_prefix + TOPIC, at_least=2, settle=3.0)
    assert len(records) == 2
    published = sorted((r.key, json.loads(r.value)["amount_fen"]) for r in records)
    assert published == [(b"u-2", 10000), (b"u-3", 20000)]
    assert all(json.loads(r.value)["channel"] == "wechat_pay" for r in records)
    await conn.close()


async def test_money_that_cannot_be_applied_goes_to_finance_review(
    services,
    create_database,
    side,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    proc, db = await _start(services, create_database, side, tmp_path)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:
        ok = await order_on_account(conn, http, proc.url, "u-ok", 5000)
        short = await order_on_account(conn, http, proc.url, "u-short", 5000)
        usd = await order_on_account(conn, http, proc.url, "u-usd", 5000)
        past = datetime.now(UTC) - timedelta(hours=3)
        expired = await order_on_account(conn, http, proc.url, "u-exp", 5000, at=past.isoformat())
        cases = [
            transaction(ok["out_trade_no"], 5000),  # applied
            transaction(ok["out_trade_no"], 5000),  # a second transaction: already paid
            transaction(short["out_trade_no"], 4999),  # amount mismatch
            transaction(usd["out_trade_no"], 5000, currency="USD"),  # not CNY
            transaction(expired["out_trade_no"], 5000),  # paid after the order expired
            transaction("P000000000000UNKNOWN", 5000),  # unknown out_trade_no
        ]
        for data in cases:
            body = side.body("TRANSACTION.SUCCESS", data)
            r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
            assert r.status_code in (200, 204), r.text  # authentic: stop WeChat's retries
            again = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
            assert again.status_code in (200, 204)
        exceptions = (await http.get("/exceptions")).json()["items"]
        reasons = sorted(e["reason"] for e in exceptions)
        assert reasons == sorted(
            ["already_paid", "amount_mismatch", "currency", "expired_order", "unknown_order"]
        )
        by_reason = {e["reason"]: e for e in exceptions}
        # Never applied to the wrong household: an unknown order has no unit.
        assert by_reason["unknown_order"]["unit_id"] is None
        assert by_reason["amount_mismatch"]["amount_fen"] == 4999
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        # Finance applies the short payment to its household with a note: now a payment.
        resolved = await http.post(
            f"/exceptions/{by_reason['amount_mismatch']['exception_id']}/resolve",
            json={
                "resolution": "applied",
                "note": "owner paid 1 fen short; rest on next bill",
                "resolved_by": "finance-7",
            },
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved" and resolved.json()["payment_id"]
        again = await http.post(
            f"/exceptions/{by_reason['amount_mismatch']['exception_id']}/resolve",
            json={"resolution": "dismissed", "note": "x", "resolved_by": "finance-7"},
        )
        assert again.status_code == 409
        no_note = await http.post(
            f"/exceptions/{by_reason['unknown_order']['exception_id']}/resolve",
            json={"resolution": "applied", "note": "who?", "resolved_by": "finance-7"},
        )
        assert no_note.status_code == 409  # no household named: never guessed
        assert len((await http.get("/exceptions")).json()["items"]) == 4
    records = await read_topic(kafka, test_prefix + TOPIC, at_least=2, settle=3.0)
    assert sorted((r.key, json.loads(r.value)["amount_fen"]) for r in records) == [
        (b"u-ok", 5000),
        (b"u-short", 4999),
    ]
    await conn.close()


async def test_order_for_named_invoices_takes_the_amount_from_billing_events(
    services,
    create_database,
    side,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import date

    from propfee.events import InvoiceIssued, InvoiceSettled
    from propfee.kafka import make_producer
    from tests.support.fixtures import wait_until
    from tests.support.kafka import publish

    proc, _db = await _start(services, create_database, side, tmp_path)
    unit = f"u-{uuid.uuid4().hex[:6]}"
    producer = make_producer(kafka, client_id="test")
    await producer.start()
    now = datetime.now(UTC)

    def issued(invoice_id: str, total: int) -> InvoiceIssued:
        return InvoiceIssued(
            invoice_id=invoice_id,
            community_id="c-1",
            building_id="b-1",
            unit_id=unit,
            payer_party_id="owner-1",
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            due_date=date(2026, 1, 31),
            lines=[],
            total_fen=total,
            issued_at=now,
        )

    try:
        await publish(
            producer, test_prefix + "billing.invoice-issued", issued("inv-1", 27580), key=unit
        )
        await publish(
            producer, test_prefix + "billing.invoice-issued", issued("inv-2", 1000), key=unit
        )
        # Settled before it was issued (out of order across topics): stays settled.
        await publish(
            producer,
            test_prefix + "billing.invoice-settled",
            InvoiceSettled(
                invoice_id="inv-3",
                community_id="c-1",
                unit_id=unit,
                payer_party_id="owner-1",
                total_fen=500,
                paid_fen=500,
                settled_at=now,
            ),
            key=unit,
        )
        await publish(
            producer, test_prefix + "billing.invoice-issued", issued("inv-3", 500), key=unit
        )
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:

        async def known() -> bool:
            r = await http.post(
                "/orders",
                json={"unit_id": unit, "channel": "wechat_pay", "invoice_ids": ["inv-1", "inv-2"]},
            )
            return r.status_code == 201

        await wait_until(known, timeout=60)
        r = await http.post(
            "/orders",
            json={
                "unit_id": unit,
                "channel": "wechat_pay",
                "invoice_ids": ["inv-1", "inv-2"],
                "amount_fen": 1,
            },
        )
        assert r.status_code == 201 and r.json()["amount_fen"] == 28580  # caller cannot change it
        assert len(r.json()["out_trade_no"]) <= 32 and r.json()["out_trade_no"].isalnum()
        settled = await http.post(
            "/orders", json={"unit_id": unit, "channel": "wechat_pay", "invoice_ids": ["inv-3"]}
        )
        assert settled.status_code == 422 and "inv-3 is paid" in settled.text
        other = await http.post(
            "/orders",
            json={"unit_id": "someone-else", "channel": "alipay", "invoice_ids": ["inv-1"]},
        )
        assert other.status_code == 422
