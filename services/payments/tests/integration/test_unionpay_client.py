"""The UnionPay client against a fake UnionPay gateway over real HTTP: 5.1.0 requests signed
with the merchant key (certId, SHA-256 hex, SHA256withRSA) and checked by the gateway;
answers signed by UnionPay's certificate and verified against the configured chain; app (tn),
QR (申码) and browser-form orders; query + back notification = one payment; refunds confirmed
by the refund notification; forged and tampered answers refused."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, order_on_account

from sandbox import unionpay
from sandbox.keys import issue, private_pem, rsa_verify, write
from sandbox.server import ThreadServer
from sandbox.unionpay import FakeUnionPay, signed_text

pytestmark = pytest.mark.integration


async def test_unionpay_client_against_a_fake_gateway(
    services, create_database, tmp_path, staff_auth
) -> None:  # type: ignore[no-untyped-def]
    side = unionpay.UnionPaySide()
    merchant = issue("777290058110048", organization="某物业公司")  # the merchant's signing cert
    cert_id = str(merchant.cert.serial_number)
    fake = FakeUnionPay(side, merchant.key.public_key(), cert_id)
    with ThreadServer(fake.app) as gateway:
        db = await create_database("payments")
        proc = services(
            "payments",
            db,
            unionpay_mer_id=unionpay.MER_ID,
            unionpay_base_url=gateway.url,
            unionpay_sign_cert_id=cert_id,
            unionpay_private_key_file=write(tmp_path / "merchant.pem", private_pem(merchant.key)),
            unionpay_root_cert_file=write(tmp_path / "root.pem", side.root.cert_pem),
            unionpay_middle_cert_file=write(tmp_path / "middle.pem", side.middle.cert_pem),
        ).start()
        await know_communities(db)
        conn = await asyncpg.connect(db)
        post_notice = lambda http, content: http.post(  # noqa: E731
            "/webhooks/unionpay",
            content=content,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
            # App: a tn; QR: a code; browser: the signed form to post to frontTransReq.
            app = await order_on_account(
                conn, http, proc.url, "u-up1", 27580, channel="unionpay", scene="app"
            )
            assert len(app["gateway_payload"]["tn"]) == 21, app
            sent = fake.orders[app["out_trade_no"]]
            assert (sent["txnAmt"], sent["currencyCode"], sent["backUrl"]) == (
                "27580",
                "156",
                "http://127.0.0.1:8102/webhooks/unionpay",
            )
            qr = await order_on_account(
                conn, http, proc.url, "u-up2", 100, channel="unionpay", scene="native"
            )
            assert qr["gateway_payload"]["qr_code"].startswith("https://qr.95516.com/")
            assert fake.orders[qr["out_trade_no"]]["txnSubType"] == "07"
            wap = await order_on_account(
                conn, http, proc.url, "u-up3", 200, channel="unionpay", scene="wap"
            )
            form = wap["gateway_payload"]
            assert form["action"] == gateway.url + "/gateway/api/frontTransReq.do"
            fields = form["fields"]
            assert fields["certId"] == cert_id and fields["orderId"] == wap["out_trade_no"]
            assert rsa_verify(merchant.key.public_key(), signed_text(fields), fields["signature"])
            assert fake.rejected_signatures == 0

            # Query before payment: no transaction; after: one payment; the back notification
            # of the same payment (same queryId) afterwards: still one payment.
            r = await http.post(f"/orders/{app['order_id']}/query")
            assert r.json()["gateway_state"] == "not_found" and r.json()["recorded"] is None
            notice = fake.pay(app["out_trade_no"])
            r = await http.post(f"/orders/{app['order_id']}/query")
            assert r.json()["status"] == "paid", r.text
            assert r.json()["recorded"]["outcome"] == "payment"
            payment_id = r.json()["payment_id"]
            assert (await post_notice(http, side.sign(notice))).status_code == 200
            payments = await conn.fetch("SELECT * FROM payments")
            assert len(payments) == 1
            assert (payments[0]["gateway_transaction_id"], payments[0]["amount_fen"]) == (
                notice["queryId"],
                27580,
            )

            # Refund 退货: asked with the original queryId, confirmed by the notification.
            r = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": 580, "reason": "多收", "requested_by": "staff-1"},
            )
            assert r.status_code == 201 and r.json()["status"] == "processing", r.text
            asked = fake.refunds[-1]
            assert (asked["origQryId"], asked["txnAmt"], asked["orderId"]) == (
                notice["queryId"],
                "580",
                r.json()["out_refund_no"],
            )
            refund_notice = unionpay.consumption(
                asked["orderId"], 580, txnType="04", txnSubType="00", origQryId=notice["queryId"]
            )
            for _ in range(2):
                assert (await post_notice(http, side.sign(refund_notice))).status_code == 200
            refunds = (await http.get(f"/payments/{payment_id}/refunds")).json()["items"]
            assert [(x["status"], x["amount_fen"]) for x in refunds] == [("succeeded", 580)]

            # Answers not signed by UnionPay's chain, or changed after signing: refused.
            fake.pay(qr["out_trade_no"])
            rogue_root = issue("Rogue CA", ca=True)
            rogue_mid = issue("Rogue OCA", issuer=rogue_root, ca=True)
            fake.signer = issue(
                f"041@Z12@00040000:SIGN@{unionpay.ORG}@1",
                issuer=rogue_mid,
                organization=unionpay.ORG,
            )
            r = await http.post(f"/orders/{qr['order_id']}/query")
            assert r.status_code == 502 and "VerificationError" in r.text, r.text
            fake.signer, fake.tamper = None, True
            r = await http.post(f"/orders/{qr['order_id']}/query")
            assert r.status_code == 502 and "VerificationError" in r.text, r.text
            fake.tamper = False
            assert await conn.fetchval("SELECT count(*) FROM payments") == 1
            # Then the genuine answer: recorded.
            r = await http.post(f"/orders/{qr['order_id']}/query")
            assert r.json()["status"] == "paid", r.text
            assert fake.rejected_signatures == 0

            # Expiry: UnionPay has no close; unpaid orders past payTimeout are just expired.
            calls = len(fake.calls)
            r = await http.post("/orders/expire", json={"as_of": "2099-01-01T00:00:00+08:00"})
            assert (r.json()["expired"], r.json()["paid"]) == (1, 0), r.text
            assert fake.calls[calls:] == [("queryTrans.do", "00")]
            assert (await http.get(f"/orders/{wap['order_id']}")).json()["status"] == "expired"
        await conn.close()


async def test_fake_unionpay_refuses_a_bad_request_signature(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The fake really checks the merchant's signature: a request signed with another key is
    answered with an unsigned 11, which the client reports as a failure."""
    from payments.adapters.keys import UnionPayKeys
    from payments.adapters.unionpay_client import UnionPayClient, UnionPayError

    side = unionpay.UnionPaySide()
    merchant, impostor = issue("merchant"), issue("impostor")
    fake = FakeUnionPay(side, merchant.key.public_key(), str(merchant.cert.serial_number))
    keys = UnionPayKeys(
        unionpay.MER_ID,
        side.root.cert,
        side.middle.cert,
        unionpay.ORG,
        str(merchant.cert.serial_number),
        impostor.key,
    )
    with ThreadServer(fake.app) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            client = UnionPayClient(http, keys, "http://x/webhooks/unionpay", "http://x/")
            with pytest.raises(UnionPayError, match="11"):
                await client.query("P260305100000ABCDEFG")
    assert fake.rejected_signatures == 1
