"""Payments end to end across the four real processes and the real broker.

billing issues an invoice -> payments learns what is owed -> the household pays it through
WeChat Pay: a properly signed API v3 notification, delivered several times (one at a time and
concurrently) -> one payment, one event -> billing allocates it once and settles the invoice,
dunning closes the case, notifier queues one receipt. A payment on account becomes credit; a
refund confirmed by WeChat Pay's refund notification takes it back. Throughout, from the
services' own APIs: payments − refunds (payments) = allocated + credit (billing).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.billing_api import create_unit, invoice_body, setup_community, this_month
from tests.support.fixtures import wait_until
from tests.support.kafka import read_topic

# WeChat Pay's side (signing, encryption) is payments' test kit, written independently of the
# verification code; it lives with payments' tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "payments" / "tests"))
from payments_testkit.service import wechat_env

from sandbox.wechatpay import WechatSide, refund, transaction

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))


async def test_wechat_pay_notification_to_allocation(
    create_database,
    services,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    side = WechatSide()
    dbs = {
        name: await create_database(name) for name in ("billing", "payments", "dunning", "notifier")
    }
    procs = {
        name: services(
            name, dbs[name], **(wechat_env(side, tmp_path) if name == "payments" else {})
        )
        for name in dbs
    }
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready()
    billing, payments, dunning, notifier = (procs[n].url for n in dbs)
    community = f"c-{uuid.uuid4().hex[:6]}"

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:

        async def notify(event_type: str, resource: dict[str, Any], times: int = 1) -> None:
            body = side.body(event_type, resource)
            for _ in range(times):
                r = await http.post(
                    f"{payments}/webhooks/wechatpay", content=body, headers=side.headers(body)
                )
                assert r.status_code == 204, r.text

        await setup_community(http, billing, community)
        unit_id, payer = await create_unit(http, billing, community, "1201")
        # This month's bill, issued now: the payments below settle it without a late fee.
        r = await http.post(f"{billing}/invoices", json=invoice_body(unit_id, month=this_month()))
        assert r.status_code == 201, r.text
        invoice = r.json()
        assert invoice["total_fen"] == 27580

        # payments learns the invoice from billing's event, and the community's company from
        # billing.community-updated (the scope of the company-wide staff token): then an order
        # can name it (until then 422 for the unknown invoice, 404 for the unknown community).
        order: dict[str, Any] = {}

        async def order_created() -> bool:
            r = await http.post(
                f"{payments}/orders",
                json={
                    "unit_id": unit_id,
                    "channel": "wechat_pay",
                    "invoice_ids": [invoice["invoice_id"]],
                    "at": "2026-01-20T10:00:00+08:00",
                },
            )
            if r.status_code in (404, 422):
                return False
            assert r.status_code == 201, r.text
            order.update(r.json())
            return True

        await wait_until(order_created, timeout=60)
        assert (order["amount_fen"], order["community_id"]) == (27580, community)
        r = await http.post(
            f"{payments}/orders",
            json={
                "unit_id": unit_id,
                "channel": "wechat_pay",
                "community_id": community,
                "payer_party_id": payer,
                "amount_fen": 10000,
                "at": "2026-01-20T10:01:00+08:00",
            },
        )
        assert r.status_code == 201, r.text
        on_account = r.json()

        # The invoice's payment: the same signed notification five times, three at once.
        paid = transaction(
            order["out_trade_no"], 27580, success_time=datetime(2026, 1, 20, 10, 5, tzinfo=CST)
        )
        await notify("TRANSACTION.SUCCESS", paid, times=2)
        await asyncio.gather(*(notify("TRANSACTION.SUCCESS", paid) for _ in range(3)))
        await notify(
            "TRANSACTION.SUCCESS",
            transaction(
                on_account["out_trade_no"],
                10000,
                success_time=datetime(2026, 1, 20, 10, 6, tzinfo=CST),
            ),
        )
        view = (await http.get(f"{payments}/orders/{order['order_id']}")).json()
        assert view["status"] == "paid"
        payment_id = view["payment_id"]

        async def invoice_settled() -> bool:
            r = await http.get(f"{billing}/invoices/{invoice['invoice_id']}")
            return bool(r.json()["status"] == "paid")

        await wait_until(invoice_settled, timeout=60)

        async def statement() -> dict[str, Any]:
            r = await http.get(f"{billing}/units/{unit_id}/statement")
            assert r.status_code == 200, r.text
            result: dict[str, Any] = r.json()
            return result

        async def credit_is(fen: int) -> bool:
            s = await statement()
            return len(s["payments"]) == 2 and s["credit_fen"] == fen

        await wait_until(lambda: credit_is(10000), timeout=60)
        s = await statement()
        allocated = [a for a in s["allocations"] if a["payment_id"] == payment_id]
        assert [(a["invoice_id"], a["amount_fen"]) for a in allocated] == [
            (invoice["invoice_id"], 27580)
        ], s["allocations"]
        assert s["principal_outstanding_fen"] == 0

        async def case_closed() -> bool:
            cases = (await http.get(f"{dunning}/cases", params={"unit_id": unit_id})).json()[
                "items"
            ]
            return len(cases) == 1 and cases[0]["status"] == "closed"

        await wait_until(case_closed, timeout=60)

        async def receipts_queued() -> bool:
            rows = (
                await http.get(f"{notifier}/notifications", params={"unit_id": unit_id})
            ).json()["items"]
            return [n["message_type"] for n in rows].count("receipt") == 2

        await wait_until(receipts_queued, timeout=60)

        # A refund of part of the money on account, confirmed by WeChat Pay's notification.
        on_account_payment = (await http.get(f"{payments}/orders/{on_account['order_id']}")).json()
        r = await http.post(
            f"{payments}/payments/{on_account_payment['payment_id']}/refunds",
            json={"amount_fen": 3000, "reason": "业主申请退回预存款", "requested_by": "finance-1"},
        )
        assert r.status_code == 201, r.text
        out_refund_no = r.json()["out_refund_no"]
        await notify(
            "REFUND.SUCCESS",
            refund(on_account["out_trade_no"], out_refund_no, 3000, 10000),
            times=2,
        )
        await wait_until(lambda: credit_is(7000), timeout=60)

        # The money invariant, from each service's own API.
        totals = (
            await http.get(f"{payments}/reports/totals", params={"community_id": community})
        ).json()
        assert (totals["payments"], totals["refunds"]) == (
            {"count": 2, "amount_fen": 37580},
            {"count": 1, "amount_fen": 3000},
        )
        r = await http.get(f"{billing}/communities/{community}/reports/money")
        assert r.status_code == 200, r.text
        # billing answers these sums as JSON strings (PostgreSQL's numeric sum): read as integers.
        money = {k: int(v) if k.endswith("_fen") else v for k, v in r.json().items()}
        assert (money["payments"], money["payments_fen"], money["refunds_fen"]) == (2, 37580, 3000)
        assert money["balanced"] is True
        assert (
            totals["payments"]["amount_fen"] - totals["refunds"]["amount_fen"]
            == money["allocated_fen"] + money["credit_fen"]
            == 27580 + 7000
        )

    # One event per real payment on the topic, whatever the deliveries.
    records = await read_topic(
        kafka, test_prefix + "payments.payment-received", at_least=2, settle=2.0
    )
    assert sorted(json.loads(r.value or b"{}")["amount_fen"] for r in records) == [10000, 27580]
    assert {r.key for r in records} == {unit_id.encode()}
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
