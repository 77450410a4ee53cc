"""POST /webhooks/alipay and /webhooks/unionpay against a real payments process."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlencode

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, order_on_account

from sandbox import alipay, unionpay
from sandbox.keys import issue, new_key, public_base64, write

pytestmark = pytest.mark.integration


async def test_alipay_rsa2_notifications(services, create_database, tmp_path, staff_auth) -> None:  # type: ignore[no-untyped-def]
    alipay_key = new_key()
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        alipay_app_id=alipay.APP_ID,
        alipay_company_id="co-1",
        alipay_seller_id=alipay.SELLER_ID,
        alipay_public_key_file=write(tmp_path / "alipay_pub.txt", public_base64(alipay_key)),
    ).start()
    await know_communities(db)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:
        order = await order_on_account(conn, http, proc.url, "u-a", 27580, channel="alipay")
        params = alipay.notification(order["out_trade_no"], "275.80")
        form = alipay.signed_form(params, alipay_key)
        post = lambda content: http.post(  # noqa: E731
            "/webhooks/alipay",
            content=content,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        # Tampered amount, a wrong key, another app_id, another seller, dropped empty value.
        tampered = form.replace(b"total_amount=275.80", b"total_amount=2.80")
        bad = [
            tampered,
            alipay.signed_form(params, new_key()),
            alipay.signed_form({**params, "app_id": "2021999999999999"}, alipay_key),
            alipay.signed_form({**params, "seller_id": "2088000000000000"}, alipay_key),
            urlencode(
                [
                    (k, v)
                    for k, v in parse_qsl(form.decode(), keep_blank_values=True)
                    if k != "seller_email"
                ]
            ).encode(),
        ]
        for content in bad:
            r = await post(content)
            assert r.status_code != 200 or r.text != "success"
        assert await conn.fetchval("SELECT count(*) FROM gateway_transactions") == 0
        # Genuine, delivered 10 times concurrently plus once TRADE_FINISHED later.
        answers = await asyncio.gather(*(post(form) for _ in range(10)))
        assert all(a.status_code == 200 and a.text == "success" for a in answers)
        finished = alipay.signed_form({**params, "trade_status": "TRADE_FINISHED"}, alipay_key)
        r = await post(finished)
        assert r.text == "success"
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        row = await conn.fetchrow("SELECT * FROM payments")
        assert row["amount_fen"] == 27580 and row["channel"] == "alipay" and row["unit_id"] == "u-a"
        # Waiting for payment: acknowledged, nothing recorded. Unknown order: an exception.
        wait = alipay.signed_form(
            alipay.notification(order["out_trade_no"], "275.80", trade_status="WAIT_BUYER_PAY"),
            alipay_key,
        )
        assert (await post(wait)).text == "success"
        unknown = alipay.signed_form(alipay.notification("P0000000000000NOPE", "1.00"), alipay_key)
        assert (await post(unknown)).text == "success"
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        assert await conn.fetchval("SELECT reason FROM payment_exceptions") == "unknown_order"
    await conn.close()


async def test_unionpay_back_notifications(services, create_database, tmp_path, staff_auth) -> None:  # type: ignore[no-untyped-def]
    side = unionpay.UnionPaySide()
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        unionpay_mer_id=unionpay.MER_ID,
        unionpay_company_id="co-1",
        unionpay_root_cert_file=write(tmp_path / "root.pem", side.root.cert_pem),
        unionpay_middle_cert_file=write(tmp_path / "middle.pem", side.middle.cert_pem),
    ).start()
    await know_communities(db)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, auth=staff_auth) as http:
        order = await order_on_account(conn, http, proc.url, "u-up", 12345, channel="unionpay")
        params = unionpay.consumption(order["out_trade_no"], 12345)
        form = side.sign(params)
        post = lambda content: http.post(  # noqa: E731
            "/webhooks/unionpay",
            content=content,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        # A certificate from another CA with UnionPay's name; a genuine chain but not UnionPay;
        # a tampered amount; another merchant.
        rogue_root = issue("Rogue CA", ca=True)
        rogue_mid = issue("Rogue OCA", issuer=rogue_root, ca=True)
        rogue = issue(
            f"041@Z12@00040000:SIGN@{unionpay.ORG}@1", issuer=rogue_mid, organization=unionpay.ORG
        )
        not_unionpay = issue(
            "041@Z12@00040000:SIGN@某商户@1", issuer=side.middle, organization="某商户"
        )
        bad = [
            side.sign(params, rogue),
            side.sign(params, not_unionpay),
            form.replace(b"txnAmt=12345", b"txnAmt=12340"),
            side.sign({**params, "merId": "777000000000000"}),
        ]
        for content in bad:
            r = await post(content)
            assert r.status_code >= 400, r.text
        assert await conn.fetchval("SELECT count(*) FROM gateway_transactions") == 0
        answers = await asyncio.gather(*(post(form) for _ in range(8)))
        assert all(a.status_code == 200 for a in answers)
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        row = await conn.fetchrow("SELECT * FROM payments")
        assert (row["amount_fen"], row["channel"], row["gateway_transaction_id"]) == (
            12345,
            "unionpay",
            params["queryId"],
        )
        # respCode other than 00: acknowledged, no payment.
        failed = side.sign(unionpay.consumption(order["out_trade_no"], 12345, respCode="03"))
        assert (await post(failed)).status_code == 200
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
    await conn.close()
