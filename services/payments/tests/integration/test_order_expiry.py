"""POST /orders/expire on two replicas of payments at once, against a fake WeChat Pay: each
expired order is asked first (a paid one becomes one payment, like a notification), else
closed at the gateway exactly once and marked expired; orders not yet expired are left alone;
running it again changes nothing; money arriving for an expired order goes to finance review."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

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
from sandbox.wechatpay import FakeWechatPay, WechatSide, transaction

pytestmark = pytest.mark.integration


async def test_expired_orders_are_closed_once_on_two_replicas(
    services, create_database, tmp_path, staff_auth
) -> None:  # type: ignore[no-untyped-def]
    side = WechatSide()
    merchant = new_key()
    fake = FakeWechatPay(side, merchant.public_key())
    with ThreadServer(fake.app) as gateway:
        db = await create_database("payments")
        env = {
            **wechat_env(side, tmp_path),
            **merchant_key_env(merchant, tmp_path),
            "wechatpay_api_base_url": gateway.url,
        }
        replicas = [services("payments", db, **env), services("payments", db, **env)]
        for proc in replicas:
            proc.start(wait=False)
        for proc in replicas:
            proc.wait_ready()
        one, two = (proc.url for proc in replicas)
        await know_communities(db)
        conn = await asyncpg.connect(db)
        created = datetime.now(UTC) - timedelta(hours=1)  # TTL 30 min: expired by now
        async with httpx.AsyncClient(timeout=60, auth=staff_auth) as http:
            unpaid, paid = [], []
            for n in range(12):
                order = await order_on_account(
                    conn, http, one, f"u-x{n}", 1000 + n, at=created.isoformat()
                )
                assert order["gateway_payload"]["code_url"], order
                if n % 3 == 0:
                    # The payer paid at the gateway before the expiry; no notification came.
                    fake.orders[order["out_trade_no"]]["transaction"] = transaction(
                        order["out_trade_no"],
                        order["amount_fen"],
                        success_time=created + timedelta(minutes=5),
                    )
                    paid.append(order)
                else:
                    fake.orders[order["out_trade_no"]]["query_script"] = ["NOTPAY"] * 5
                    unpaid.append(order)
            fresh = await order_on_account(conn, http, one, "u-fresh", 500)
            # Paid at the gateway only after its expiry: the money goes to finance review.
            too_late = await order_on_account(
                conn, http, one, "u-late", 900, at=created.isoformat()
            )
            fake.orders[too_late["out_trade_no"]]["transaction"] = transaction(
                too_late["out_trade_no"], 900, success_time=datetime.now(UTC)
            )
            # One notification did arrive for a paid one: it stays one payment.
            first = paid[0]
            body = side.body("TRANSACTION.SUCCESS", fake.paid(first["out_trade_no"]))
            r = await http.post(
                f"{two}/webhooks/wechatpay", content=body, headers=side.headers(body)
            )
            assert r.status_code == 204

            now = datetime.now(UTC).isoformat()
            runs = await asyncio.gather(
                *(http.post(f"{url}/orders/expire", json={"as_of": now}) for url in (one, two, one))
            )
            assert all(r.status_code == 200 for r in runs), [r.text for r in runs]
            outcomes = ("expired", "paid", "exception", "left_pending")
            totals = {k: sum(r.json()[k] for r in runs) for k in outcomes}
            assert totals == {
                "expired": len(unpaid),
                "paid": len(paid) - 1,
                "exception": 1,
                "left_pending": 0,
            }

            # Closed exactly once each at the gateway; the paid ones never closed.
            assert sorted(fake.closed) == sorted(o["out_trade_no"] for o in unpaid)
            for o in unpaid:
                view = (await http.get(f"{two}/orders/{o['order_id']}")).json()
                assert view["status"] == "expired" and view["closed_at"] is not None
            for o in paid:
                assert (await http.get(f"{one}/orders/{o['order_id']}")).json()["status"] == "paid"
            assert (await http.get(f"{one}/orders/{fresh['order_id']}")).json()[
                "status"
            ] == "pending"
            assert await conn.fetchval("SELECT count(*) FROM payments") == len(paid)
            assert await conn.fetchval("SELECT count(DISTINCT out_trade_no) FROM payments") == len(
                paid
            )
            assert await conn.fetchval("SELECT count(*) FROM outbox") == len(paid)

            # Again: nothing to do, nothing asked.
            calls = len(fake.calls)
            again = (await http.post(f"{two}/orders/expire", json={"as_of": now})).json()
            assert (again["expired"], again["paid"], again["orders"]) == (0, 0, [])
            assert len(fake.calls) == calls

            # A success for an expired order that still arrives: held for finance, not applied.
            late = unpaid[0]
            body = side.body(
                "TRANSACTION.SUCCESS",
                transaction(
                    late["out_trade_no"], late["amount_fen"], success_time=datetime.now(UTC)
                ),
            )
            r = await http.post(
                f"{one}/webhooks/wechatpay", content=body, headers=side.headers(body)
            )
            assert r.status_code == 204
            held = await conn.fetchval(
                "SELECT count(*) FROM payment_exceptions WHERE out_trade_no = $1",
                late["out_trade_no"],
            )
            assert held == 1
            assert await conn.fetchval("SELECT count(*) FROM payments") == len(paid)
            assert fake.rejected_signatures == 0
        await conn.close()
