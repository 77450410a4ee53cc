"""The WeChat Pay adapter against a fake WeChat Pay over real HTTP: signed requests, verified
answers, status query + webhook = one payment, payment code with query and reversal, refunds
confirmed by the refund notification."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
import pytest
from payments_testkit.service import (
    know_communities,
    merchant_key_env,
    order_on_account,
    wechat_env,
)

from sandbox.keys import new_key
from sandbox.server import ThreadServer
from sandbox.wechatpay import FakeWechatPay, WechatSide, refund
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


async def test_wechatpay_adapter_end_to_end(
    services,
    create_database,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    side = WechatSide()
    merchant = new_key()
    fake = FakeWechatPay(side, merchant.public_key())
    with ThreadServer(fake.app) as gateway:
        db = await create_database("payments")
        proc = services(
            "payments",
            db,
            **wechat_env(side, tmp_path),
            **merchant_key_env(merchant, tmp_path),
            wechatpay_api_base_url=gateway.url,
            codepay_query_interval_s="0.05",
            codepay_query_attempts="3",
        ).start()
        await know_communities(db)
        conn = await asyncpg.connect(db)
        async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
            # Native: a code_url from the gateway, the request signature checked by the fake.
            order = await order_on_account(conn, http, proc.url, "u-n", 27580, scene="native")
            assert order["gateway_payload"]["code_url"].startswith("weixin://"), order
            jsapi = await order_on_account(
                conn,
                http,
                proc.url,
                "u-j",
                100,
                scene="jsapi",
                payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            )
            assert jsapi["gateway_payload"]["package"].startswith("prepay_id=wx")
            assert fake.rejected_signatures == 0
            # Status query finds it paid: one payment; then the notification of the same
            # transaction arrives: still one payment.
            queried = (await http.post(f"/orders/{order['order_id']}/query")).json()
            assert queried["status"] == "paid" and queried["recorded"]["outcome"] == "payment"
            again = (await http.post(f"/orders/{order['order_id']}/query")).json()
            assert again["recorded"]["duplicate"] is True
            body = side.body("TRANSACTION.SUCCESS", fake.paid(order["out_trade_no"]))
            r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
            assert r.status_code in (200, 204)
            assert await conn.fetchval("SELECT count(*) FROM payments") == 1
            payment_id = queried["payment_id"]

            # Payment code: the payer is entering the password, then it succeeds on query.
            fake.codepay_script["134567890123456789"] = ["USERPAYING", "USERPAYING", "SUCCESS"]
            scan = await http.post(
                "/payments/scan",
                json={
                    "unit_id": "u-s",
                    "community_id": "c-1",
                    "payer_party_id": "owner-2",
                    "amount_fen": 5000,
                    "auth_code": "134567890123456789",
                    "operator": "cashier-1",
                },
            )
            assert scan.json()["status"] == "paid", scan.text

            # The same scan sent twice with one Idempotency-Key (a second click while the
            # payer is still entering the password): one charge at the gateway, one payment,
            # and both answers are the first scan's outcome.
            code = "134567890123457777"
            fake.codepay_script[code] = ["USERPAYING", "USERPAYING", "SUCCESS"]
            same_scan = {
                "unit_id": "u-k",
                "community_id": "c-1",
                "payer_party_id": "owner-4",
                "amount_fen": 7000,
                "auth_code": code,
            }
            key = {"Idempotency-Key": "scan-key-0001"}
            first, second = await asyncio.gather(
                http.post("/payments/scan", json=same_scan, headers=key),
                http.post("/payments/scan", json=same_scan, headers=key),
            )
            assert first.status_code == second.status_code == 200, (first.text, second.text)
            assert first.json() == second.json()
            assert first.json()["status"] == "paid" and first.json()["outcome"] == "payment"
            charged = [
                o for o in fake.orders.values() if o.get("payer", {}).get("auth_code") == code
            ]
            assert len(charged) == 1
            assert await conn.fetchval("SELECT count(*) FROM payments") == 3
            again = await http.post("/payments/scan", json=same_scan, headers=key)
            assert again.json() == first.json()
            # The key used for another scan is refused before anything is charged.
            other = await http.post(
                "/payments/scan", json={**same_scan, "amount_fen": 7001}, headers=key
            )
            assert other.status_code == 409, other.text
            assert await conn.fetchval("SELECT count(*) FROM payments") == 3

            # No answer at all, then still paying: reversed, the order closed, nothing recorded.
            fake.codepay_script["134567890123450000"] = ["HTTP500"] + ["USERPAYING"] * 5
            scan = await http.post(
                "/payments/scan",
                json={
                    "unit_id": "u-r",
                    "community_id": "c-1",
                    "payer_party_id": "owner-3",
                    "amount_fen": 6000,
                    "auth_code": "134567890123450000",
                    "operator": "cashier-1",
                },
            )
            assert scan.json()["status"] == "reversed", scan.text
            assert fake.reversed == [scan.json()["out_trade_no"]]
            assert (await http.get(f"/orders/{scan.json()['order_id']}")).json()[
                "status"
            ] == "closed"
            assert await conn.fetchval("SELECT count(*) FROM payments") == 3

            # Refunds: partial, confirmed by REFUND.SUCCESS; too much is refused.
            too_much = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": 27581, "reason": "x", "requested_by": "staff-1"},
            )
            assert too_much.status_code == 409
            asked = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": 2580, "reason": "多收了车位费", "requested_by": "staff-1"},
            )
            assert asked.status_code == 201 and asked.json()["status"] == "processing", asked.text
            out_refund_no = asked.json()["out_refund_no"]
            assert fake.refunds[-1]["out_refund_no"] == out_refund_no
            rest = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": 25001, "reason": "x", "requested_by": "staff-1"},
            )
            assert rest.status_code == 409  # 2580 is pending: only 25000 left
            notice = side.body(
                "REFUND.SUCCESS", refund(order["out_trade_no"], out_refund_no, 2580, 27580)
            )
            for _ in range(3):
                r = await http.post(
                    "/webhooks/wechatpay",
                    content=notice,
                    headers=side.headers(notice, mode="platform"),
                )
                assert r.status_code in (200, 204)
            refunds = (await http.get(f"/payments/{payment_id}/refunds")).json()["items"]
            assert [(x["status"], x["amount_fen"]) for x in refunds] == [("succeeded", 2580)]
        records = await read_topic(
            kafka, test_prefix + "payments.payment-refunded", at_least=1, settle=2.0
        )
        assert len(records) == 1
        assert json.loads(records[0].value)["amount_fen"] == 2580
        assert records[0].key == b"u-n"
        await conn.close()
        assert fake.rejected_signatures == 0
