"""The Alipay client against a fake Alipay gateway over real HTTP: RSA2-signed requests checked
by the gateway, signed answers verified by payments (create, precreate, query, refund, close);
a forged answer is refused and changes nothing."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, order_on_account

from sandbox import alipay
from sandbox.alipay import FakeAlipay
from sandbox.keys import new_key, private_pem, public_base64, write
from sandbox.server import ThreadServer

pytestmark = pytest.mark.integration


async def test_alipay_client_against_a_fake_gateway(
    services, create_database, tmp_path, staff_auth
) -> None:  # type: ignore[no-untyped-def]
    alipay_key, app_key = new_key(), new_key()
    fake = FakeAlipay(alipay_key, app_key.public_key())
    with ThreadServer(fake.app) as gateway:
        db = await create_database("payments")
        proc = services(
            "payments",
            db,
            alipay_app_id=alipay.APP_ID,
            alipay_seller_id=alipay.SELLER_ID,
            alipay_gateway_url=gateway.url + "/gateway.do",
            alipay_public_key_file=write(tmp_path / "alipay_pub.txt", public_base64(alipay_key)),
            alipay_app_private_key_file=write(tmp_path / "app.pem", private_pem(app_key)),
        ).start()
        await know_communities(db)
        conn = await asyncpg.connect(db)
        async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
            # precreate: a QR code; create (mini program): a trade_no for the payer.
            order = await order_on_account(
                conn, http, proc.url, "u-a1", 27580, channel="alipay", scene="native"
            )
            assert order["gateway_payload"]["qr_code"].startswith("https://qr.alipay.com/")
            assert fake.trades[order["out_trade_no"]]["biz"]["total_amount"] == "275.80"
            created = await order_on_account(
                conn,
                http,
                proc.url,
                "u-a2",
                1000,
                channel="alipay",
                scene="jsapi",
                payer_openid="2088102177846875",
            )
            assert created["gateway_payload"]["trade_no"].startswith("2026"), created
            assert fake.calls[-1] == ("alipay.trade.create", created["out_trade_no"])
            assert fake.rejected_signatures == 0

            # Query: not scanned yet (no trade at Alipay), then paid: one payment; the
            # notification of the same trade afterwards is the same payment.
            r = await http.post(f"/orders/{order['order_id']}/query")
            assert (
                r.json()["gateway_state"] == "ACQ.TRADE_NOT_EXIST" and r.json()["recorded"] is None
            )
            trade = fake.pay(order["out_trade_no"])
            r = await http.post(f"/orders/{order['order_id']}/query")
            assert r.json()["status"] == "paid" and r.json()["recorded"]["outcome"] == "payment"
            payment_id = r.json()["payment_id"]
            form = alipay.signed_form(
                alipay.notification(
                    order["out_trade_no"],
                    "275.80",
                    trade_no=trade["trade_no"],
                    gmt_payment=trade["paid_at"],
                ),
                alipay_key,
            )
            r = await http.post(
                "/webhooks/alipay",
                content=form,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            assert r.text == "success"
            assert await conn.fetchval("SELECT count(*) FROM payments") == 1
            payment = await conn.fetchrow("SELECT * FROM payments")
            assert (payment["gateway_transaction_id"], payment["amount_fen"]) == (
                trade["trade_no"],
                27580,
            )

            # Refund: Alipay answers it at once (fund_change Y): confirmed, one refund.
            r = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": 2580, "reason": "多收了车位费", "requested_by": "staff-1"},
            )
            assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
            assert fake.refunds[-1]["refund_amount"] == "25.80"
            assert fake.refunds[-1]["out_request_no"] == r.json()["out_refund_no"]

            # Close (through the expiry run): a trade waiting for the payer is closed; a code
            # nobody scanned has nothing at Alipay to close; both end expired.
            fake.scan(created["out_trade_no"])
            unscanned = await order_on_account(
                conn, http, proc.url, "u-a3", 500, channel="alipay", scene="native"
            )
            r = await http.post("/orders/expire", json={"as_of": "2099-01-01T00:00:00+08:00"})
            assert r.status_code == 200, r.text
            assert (r.json()["expired"], r.json()["paid"], r.json()["left_pending"]) == (2, 0, 0)
            assert fake.trades[created["out_trade_no"]]["status"] == "TRADE_CLOSED"
            assert ("alipay.trade.close", unscanned["out_trade_no"]) in fake.calls
            for o in (created, unscanned):
                assert (await http.get(f"/orders/{o['order_id']}")).json()["status"] == "expired"
            assert fake.rejected_signatures == 0

            # A forged answer (signed with another key) is refused: nothing recorded.
            forged = await order_on_account(
                conn, http, proc.url, "u-a4", 700, channel="alipay", scene="native"
            )
            fake.pay(forged["out_trade_no"])
            fake.forge_with = new_key()
            r = await http.post(f"/orders/{forged['order_id']}/query")
            assert r.status_code == 502 and "VerificationError" in r.text, r.text
            r = await http.post(
                "/orders",
                json={
                    "unit_id": "u-a5",
                    "channel": "alipay",
                    "community_id": "c-1",
                    "payer_party_id": "owner-1",
                    "amount_fen": 100,
                },
            )
            # A forged prepay answer: 502 problem, the order failed (never left pending).
            assert r.status_code == 502, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "VerificationError" in r.json()["detail"]
            assert r.json()["order_status"] == "failed"
            assert (await http.get(f"/orders/{r.json()['order_id']}")).json()["status"] == "failed"
            fake.forge_with = None
            assert await conn.fetchval("SELECT count(*) FROM payments") == 1
            assert await conn.fetchval("SELECT count(*) FROM gateway_transactions") == 1
        await conn.close()


async def test_fake_alipay_refuses_a_bad_request_signature() -> None:
    """The fake really checks: a request signed with another key gets Alipay's error answer,
    which the client would refuse to believe as anything but a failure."""
    alipay_key, app_key = new_key(), new_key()
    fake = FakeAlipay(alipay_key, app_key.public_key())
    from payments.adapters.alipay_client import AlipayClient, AlipayError
    from payments.adapters.keys import AlipayKeys

    with ThreadServer(fake.app) as gateway:
        async with httpx.AsyncClient() as http:
            keys = AlipayKeys(alipay.APP_ID, alipay.SELLER_ID, alipay_key.public_key(), new_key())
            client = AlipayClient(http, gateway.url + "/gateway.do", keys, "http://x/notify")
            # Alipay answers an unauthenticated request in the method's node, unsigned.
            with pytest.raises(AlipayError, match="40002"):
                await client.query("P2603051000001234567")
    assert fake.rejected_signatures == 1
