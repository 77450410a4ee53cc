"""GET /reports/totals on a real process and database: payments received, refunds confirmed,
exceptions open and resolved, overall, by channel and for one community; integer fen."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from sandbox import alipay
from sandbox.keys import new_key, public_base64, write

pytestmark = pytest.mark.integration


def figure(count: int, amount_fen: int) -> dict[str, int]:
    return {"count": count, "amount_fen": amount_fen}


async def test_totals(services, create_database, tmp_path, staff_auth) -> None:  # type: ignore[no-untyped-def]
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
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:

        async def counter(community: str, amount: int, channel: str = "cash") -> str:
            r = await http.post(
                "/payments/counter",
                json={
                    "community_id": community,
                    "unit_id": f"u-{community}",
                    "payer_party_id": f"owner-{community}",
                    "amount_fen": amount,
                    "channel": channel,
                },
                headers={"Idempotency-Key": f"counter-{uuid.uuid4()}"},
            )
            assert r.status_code == 201, r.text
            return str(r.json()["payment_id"])

        async def order(community: str, amount: int) -> dict[str, Any]:
            r = await http.post(
                "/orders",
                json={
                    "unit_id": f"u-{community}",
                    "channel": "alipay",
                    "community_id": community,
                    "payer_party_id": f"owner-{community}",
                    "amount_fen": amount,
                },
            )
            assert r.status_code == 201, r.text
            return r.json()

        async def notify(out_trade_no: str, amount: str) -> None:
            params = alipay.notification(out_trade_no, amount)
            r = await http.post(
                "/webhooks/alipay",
                content=alipay.signed_form(params, alipay_key),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            assert r.text == "success"

        first = await counter("c-t1", 1000)
        await counter("c-t1", 2000, "pos")
        await counter("c-t2", 500)
        r = await http.post(
            f"/payments/{first}/refunds",
            json={"amount_fen": 300, "reason": "找零错误", "requested_by": "cashier-1"},
        )
        assert r.json()["status"] == "succeeded", r.text
        await notify((await order("c-t1", 27580))["out_trade_no"], "275.80")
        await notify((await order("c-t1", 5000))["out_trade_no"], "49.00")  # amount differs
        await notify("P2603050000000NOPE", "1.00")  # no such order: community unknown
        held = await conn.fetchval(
            "SELECT exception_id FROM payment_exceptions WHERE reason = 'amount_mismatch'"
        )
        r = await http.post(
            f"/exceptions/{held}/resolve",
            json={"resolution": "dismissed", "note": "已原路退回", "resolved_by": "finance-1"},
        )
        assert r.status_code == 200, r.text

        everything = (await http.get("/reports/totals")).json()
        assert {k: everything[k] for k in ("payments", "refunds", "net_fen", "currency")} == {
            "payments": figure(4, 1000 + 2000 + 500 + 27580),
            "refunds": figure(1, 300),
            "net_fen": 1000 + 2000 + 500 + 27580 - 300,
            "currency": "CNY",
        }
        assert everything["exceptions_open"] == figure(1, 100)
        assert everything["exceptions_resolved"] == figure(1, 4900)
        assert everything["by_channel"]["cash"] == {
            "payments": figure(2, 1500),
            "refunds": figure(1, 300),
            "exceptions_open": figure(0, 0),
            "exceptions_resolved": figure(0, 0),
            "net_fen": 1200,
        }
        assert everything["by_channel"]["alipay"] == {
            "payments": figure(1, 27580),
            "refunds": figure(0, 0),
            "exceptions_open": figure(1, 100),
            "exceptions_resolved": figure(1, 4900),
            "net_fen": 27580,
        }
        assert set(everything["by_channel"]) == {"alipay", "cash", "pos"}

        one = (await http.get("/reports/totals", params={"community_id": "c-t1"})).json()
        assert one["community_id"] == "c-t1"
        assert (one["payments"], one["refunds"], one["net_fen"]) == (
            figure(3, 1000 + 2000 + 27580),
            figure(1, 300),
            30280,
        )
        # The unknown order's money belongs to no community yet.
        assert (one["exceptions_open"], one["exceptions_resolved"]) == (
            figure(0, 0),
            figure(1, 4900),
        )
        none = (await http.get("/reports/totals", params={"community_id": "c-none"})).json()
        assert (none["payments"], none["by_channel"]) == (figure(0, 0), {})
        # A community payments has not learnt from billing is no one's to see.
        r = await http.get("/reports/totals", params={"community_id": "c-unknown"})
        assert r.status_code == 404, r.text
    await conn.close()
