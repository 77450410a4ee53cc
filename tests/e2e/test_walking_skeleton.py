"""The walking skeleton end to end: four real service processes over the real broker.

billing issues an invoice -> dunning opens a case, notifier queues the bill; a counter payment
in payments -> billing settles the invoice -> dunning closes the case, notifier queues the
receipt, and billing's printed receipt names the cashier. A retried counter request records
one payment.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.support import pdf_layout
from tests.support.billing_api import create_unit, invoice_body, setup_community, this_month
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration


async def test_invoice_to_payment_to_closed_case(create_database, services, staff_auth) -> None:  # type: ignore[no-untyped-def]
    dbs = {
        name: await create_database(name) for name in ("billing", "payments", "dunning", "notifier")
    }
    procs = {name: services(name, dbs[name]) for name in dbs}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready()
    billing, payments, dunning, notifier = (procs[n].url for n in dbs)
    community = f"c-{uuid.uuid4().hex[:6]}"

    async with httpx.AsyncClient(timeout=10, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        unit_id, payer = await create_unit(http, billing, community, "1201")
        # This month's bill, issued now (staff may not date it months back): paid before its
        # due date, no late fee.
        body = invoice_body(unit_id, "bill-1201", month=this_month())
        r = await http.post(f"{billing}/invoices", json=body)
        assert r.status_code == 201, r.text
        invoice = r.json()
        assert invoice["total_fen"] == 27580 and invoice["status"] == "issued"
        again = await http.post(f"{billing}/invoices", json=body)
        assert again.status_code == 200, "the same reference is not issued twice"
        assert again.json()["invoice_id"] == invoice["invoice_id"]

        async def case_open() -> bool:
            r = await http.get(f"{dunning}/cases", params={"unit_id": unit_id})
            cases = r.json()["items"] if r.status_code == 200 else []  # 404 until dunning knows it
            return len(cases) == 1 and cases[0]["status"] == "open"

        await wait_until(case_open, timeout=60)
        case = (await http.get(f"{dunning}/cases", params={"unit_id": unit_id})).json()["items"][0]
        assert case["outstanding_fen"] == 27580

        async def bill_queued() -> bool:
            r = await http.get(f"{notifier}/notifications", params={"unit_id": unit_id})
            rows = (
                r.json()["items"] if r.status_code == 200 else []
            )  # 404 until notifier knows the unit
            return any(n["message_type"] == "bill" for n in rows)

        await wait_until(bill_queued, timeout=60)

        payment_body = {
            "community_id": community,
            "unit_id": unit_id,
            "payer_party_id": payer,
            "invoice_ids": [invoice["invoice_id"]],
            "amount_fen": 27580,
            "channel": "cash",
        }
        key = {"Idempotency-Key": f"counter-{uuid.uuid4()}"}
        # Paid now (the invoice is this month's): staff may not date a payment months back.
        first = await http.post(f"{payments}/payments/counter", json=payment_body, headers=key)
        again = await http.post(f"{payments}/payments/counter", json=payment_body, headers=key)
        assert first.status_code == 201 and again.status_code == 200
        assert first.json()["payment_id"] == again.json()["payment_id"]
        conflict = await http.post(
            f"{payments}/payments/counter",
            json={**payment_body, "amount_fen": 1},
            headers=key,
        )
        assert conflict.status_code == 409

        async def invoice_settled() -> bool:
            r = await http.get(f"{billing}/invoices/{invoice['invoice_id']}")
            return r.json()["status"] == "paid"

        await wait_until(invoice_settled, timeout=60)

        async def case_closed() -> bool:
            r = await http.get(f"{dunning}/cases/{case['case_id']}")
            return r.json()["status"] == "closed"

        await wait_until(case_closed, timeout=60)

        async def receipt_queued() -> bool:
            rows = (
                await http.get(f"{notifier}/notifications", params={"unit_id": unit_id})
            ).json()["items"]
            return [n["message_type"] for n in rows].count("receipt") == 1

        await wait_until(receipt_queued, timeout=60)

        # The receipt billing prints names the staff member who took the money at the counter
        # (PaymentReceived.cashier over Kafka), the channel and the room as people write it.
        pdf = await http.get(f"{billing}/payments/{first.json()['payment_id']}/receipt.pdf")
        assert pdf.status_code == 200
        printed = "".join(pdf_layout.text(pdf.content).split())
        assert "收款人test-staff" in printed and "支付方式现金" in printed
        assert "房号阳光花园3栋2单元1201" in printed and "人民币贰佰柒拾伍元捌角整" in printed

    # Money: every fen of the payment is allocated exactly once, nothing left over.
    conn = await asyncpg.connect(dbs["billing"])
    try:
        allocated = await conn.fetchval(
            "SELECT sum(amount_fen) FROM allocations WHERE payment_id = $1",
            first.json()["payment_id"],
        )
        assert allocated == 27580
        assert await conn.fetchval("SELECT count(*) FROM payments_received") == 1
    finally:
        await conn.close()
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
