"""Issue 17 through HTTP, Kafka and PostgreSQL on a real payments process: a pay link asks for
what is owed that day (rule 6), prepayments are capped (rule 7), a utilities invoice can be paid
alone whatever the arrears (rule 9), and a gateway that fails answers 502/503 with a problem
body and leaves no pending order (against a fake WeChat Pay over real HTTP)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, merchant_key_env, wechat_env
from starlette.responses import Response

from propfee.events import (
    CommunityUpdated,
    Event,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    LateFeeBasis,
)
from propfee.kafka import make_producer
from sandbox.keys import new_key
from sandbox.server import ThreadServer
from sandbox.wechatpay import FakeWechatPay, WechatSide
from tests.support.fixtures import wait_until
from tests.support.kafka import publish

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")


class SwitchableGateway:
    """The fake WeChat Pay, or a gateway in trouble: ``http500`` answers 500, ``garbage`` an
    unsigned HTML page, ``slow`` nothing before the client's timeout."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.mode = "ok"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.mode == "ok":
            await self.app(scope, receive, send)
            return
        if self.mode == "slow":
            await asyncio.sleep(3)
        if self.mode == "http500":
            response = Response(b"upstream error", status_code=500)
        else:
            response = Response(b"<html>maintenance</html>", media_type="text/html")
        await response(scope, receive, send)


def _issued(invoice_id: str, unit: str, community: str, **kw: Any) -> InvoiceIssued:
    data: dict[str, Any] = dict(
        invoice_id=invoice_id,
        community_id=community,
        building_id="b-1",
        unit_id=unit,
        payer_party_id="owner-ow",
        lines=[],
        total_fen=27580,
        issued_at=datetime.now(UTC) - timedelta(days=40),
        schedule_version="1",
    )
    data.update(kw)
    return InvoiceIssued(**data)


async def _pending(conn: asyncpg.Connection, unit: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM payment_orders WHERE unit_id = $1 AND status = 'pending'", unit
        )
    )


def _problem(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"].endswith(kind) and body["title"]
    assert body["order_status"] == "failed"
    return body


async def test_pay_links_ask_what_is_owed_and_gateway_failures_leave_no_pending_order(
    services,
    create_database,
    tmp_path,
    kafka,
    test_prefix,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    side = WechatSide()
    merchant = new_key()
    switch = SwitchableGateway(FakeWechatPay(side, merchant.public_key()).app)
    tag = uuid.uuid4().hex[:6]
    community, unit = f"c-ow{tag}", f"u-ow{tag}"
    today = datetime.now(SHANGHAI).date()
    first_of_month = today.replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    two_months_ago = (last_month - timedelta(days=1)).replace(day=1)
    gateway = ThreadServer(switch)
    with gateway:
        db = await create_database("payments")
        proc = services(
            "payments",
            db,
            qr_secret="test-qr-secret-17",
            gateway_timeout_s="1",
            order_ttl_s="86400",  # the longest: an order priced for a day ends with it
            **wechat_env(side, tmp_path),
            **merchant_key_env(merchant, tmp_path),
            wechatpay_api_base_url=gateway.url,
        ).start()
        await know_communities(db)
        events: list[Event] = [
            CommunityUpdated(
                community_id=community,
                company_id="co-1",
                company_name="物业",
                name="小区",
                city="杭州",
                late_fee_daily_rate=Decimal("0.0001"),
                late_fee_annual_cap=Decimal("0.039"),
                advance_cap_months=12,
                updated_at=datetime.now(UTC),
            ),
            # Overdue, no payment yet: interest from 10 days ago at the contract's rate.
            _issued(
                "inv-late" + tag,
                unit,
                community,
                period_start=two_months_ago,
                period_end=last_month - timedelta(days=1),
                due_date=today - timedelta(days=11),
                interest_from=today - timedelta(days=10),
            ),
            # Not yet due, 10,000 fen paid: billing's balance says 17,580 left.
            _issued(
                "inv-part" + tag,
                unit,
                community,
                period_start=last_month,
                period_end=first_of_month - timedelta(days=1),
                due_date=today + timedelta(days=19),
                interest_from=today + timedelta(days=20),
            ),
            # Water collected for the supplier: no late fee.
            _issued(
                "inv-water" + tag,
                unit,
                community,
                period_start=last_month,
                period_end=first_of_month - timedelta(days=1),
                due_date=today - timedelta(days=30),
                total_fen=4200,
                collection="utilities",
                schedule_version=None,
            ),
            # Past its limitation date: shown apart, paid only when named.
            _issued(
                "inv-barred" + tag,
                unit,
                community,
                period_start=two_months_ago,
                period_end=last_month - timedelta(days=1),
                due_date=today - timedelta(days=40),
                total_fen=9900,
                schedule_version=None,
            ),
            _issued(
                "inv-paid" + tag,
                unit,
                community,
                period_start=two_months_ago,
                period_end=last_month - timedelta(days=1),
                due_date=today - timedelta(days=40),
                schedule_version=None,
            ),
            _issued(
                "inv-void" + tag,
                unit,
                community,
                period_start=two_months_ago,
                period_end=last_month - timedelta(days=1),
                due_date=today - timedelta(days=40),
                schedule_version=None,
            ),
        ]
        part = "inv-part" + tag

        def balance(version: int, outstanding: int, **kw: Any) -> InvoiceBalanceChanged:
            data: dict[str, Any] = dict(
                invoice_id=part,
                community_id=community,
                unit_id=unit,
                payer_party_id="owner-ow",
                balance_version=version,
                status="partially_paid" if outstanding < 27580 else "issued",
                due_date=today + timedelta(days=19),
                total_fen=27580,
                principal_paid_fen=27580 - outstanding,
                principal_outstanding_fen=outstanding,
                late_fee_fen=0,
                reason="payment",
                changed_at=datetime.now(UTC),
                late_fee_basis=LateFeeBasis(
                    daily_rate=Decimal("0.0001"),
                    annual_cap=Decimal("0.039"),
                    starts_on=today + timedelta(days=20),
                    through=today + timedelta(days=19),
                    fen_days=0,
                    principal_outstanding_fen=outstanding,
                ),
            )
            data.update(kw)
            return InvoiceBalanceChanged(**data)

        # The newer balance first, an older one after it: the highest version stays.
        events += [
            balance(2, 17580),
            balance(1, 27580),
            InvoiceSettled(
                invoice_id="inv-paid" + tag,
                community_id=community,
                unit_id=unit,
                payer_party_id="owner-ow",
                total_fen=27580,
                paid_fen=27580,
                settled_at=datetime.now(UTC),
            ),
            balance(3, 0, invoice_id="inv-void" + tag, status="void", reason="void"),
            balance(
                1,
                9900,
                invoice_id="inv-barred" + tag,
                total_fen=9900,
                principal_paid_fen=0,
                status="issued",
                reason="recompute",
                time_barred=True,
                late_fee_basis=None,
            ),
        ]
        producer = make_producer(kafka, client_id="test-ow")
        await producer.start()
        try:
            for event in events:
                topic = test_prefix + type(event).topic()
                await publish(producer, topic, event, key=unit)
        finally:
            await producer.stop()

        conn = await asyncpg.connect(db)
        async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
            link = (await _wait_for_unit(http, unit))["url"]
            path = link.split("127.0.0.1:8102", 1)[1]
            token = path.split("/qr/", 1)[1].split("?", 1)[0]
            pay_path = path.replace(f"/qr/{token}", f"/qr/{token}/orders")

            async def read_model_complete() -> bool:
                s = (await http.get(path, auth=None)).json()
                lines = {x["invoice_id"]: x for x in s["invoices"]}
                return (
                    len(lines) == 4
                    and lines.get(part, {}).get("amount_fen") == 17580
                    and lines.get("inv-barred" + tag, {}).get("time_barred") is True
                    and await conn.fetchval(
                        "SELECT late_fee_daily_rate IS NOT NULL FROM communities "
                        "WHERE community_id = $1",
                        community,
                    )
                    and await conn.fetchval(
                        "SELECT balance_version FROM invoices WHERE invoice_id = $1", part
                    )
                    == 2
                )

            await wait_until(read_model_complete, timeout=60)

            # The static-QR statement: what each invoice owes today, utilities apart.
            statement = (await http.get(path, auth=None)).json()
            assert statement["as_of"] == str(today)
            # 10 days x 27580 x 0.0001 = 27.58 -> 28 fen of late fee, to yesterday.
            late = {"principal_fen": 27580, "late_fee_fen": 28, "amount_fen": 27608}
            assert [
                (x["invoice_id"], x["principal_fen"], x["late_fee_fen"], x["amount_fen"])
                for x in statement["property"]["invoices"]
            ] == [("inv-late" + tag, *late.values()), (part, 17580, 0, 17580)]
            assert statement["property"]["total_fen"] == 27608 + 17580
            assert [x["invoice_id"] for x in statement["utilities"]["invoices"]] == [
                "inv-water" + tag
            ]
            assert statement["utilities"]["total_fen"] == 4200
            assert statement["total_fen"] == 27608 + 17580 + 4200
            assert [
                (x["invoice_id"], x["amount_fen"]) for x in statement["time_barred"]["invoices"]
            ] == [("inv-barred" + tag, 9900)]

            async def order(invoice_ids: list[str]) -> httpx.Response:
                return await http.post(
                    "/orders",
                    json={
                        "unit_id": unit,
                        "channel": "wechat_pay",
                        "scene": "native",
                        "invoice_ids": invoice_ids,
                    },
                )

            # A part-paid invoice: the unpaid principal, not the billed total.
            r = await order([part])
            assert r.status_code == 201, r.text
            assert r.json()["amount_fen"] == 17580
            assert r.json()["gateway_payload"]["code_url"].startswith("weixin://")
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), SHANGHAI)
            assert datetime.fromisoformat(r.json()["expires_at"]) > midnight  # no fee accrues
            # An overdue invoice: principal plus the late fee to yesterday; the order ends
            # with the community's day it was priced for (tomorrow it owes more).
            r = await order(["inv-late" + tag])
            assert r.status_code == 201, r.text
            assert r.json()["amount_fen"] == 27608
            assert datetime.fromisoformat(r.json()["expires_at"]) == midnight
            # Paid, settled or void invoices cannot be ordered.
            for closed, word in (("inv-paid", "paid"), ("inv-void", "void")):
                r = await order([closed + tag])
                assert r.status_code == 422 and word in r.json()["detail"], r.text

            # Utilities alone, while the property arrears stay open (QR and POST /orders).
            r = await http.post(
                pay_path,
                json={
                    "channel": "wechat_pay",
                    "scene": "native",
                    "invoice_ids": ["inv-water" + tag],
                },
                auth=None,
            )
            assert r.status_code == 201, r.text
            assert (r.json()["invoice_ids"], r.json()["amount_fen"]) == (["inv-water" + tag], 4200)
            r = await http.post(
                pay_path,
                json={"channel": "wechat_pay", "scene": "native", "collection": "utilities"},
                auth=None,
            )
            assert (r.status_code, r.json()["amount_fen"]) == (201, 4200), r.text
            # Paying the whole statement asks the statement's total (not the time-barred one).
            r = await http.post(
                pay_path, json={"channel": "wechat_pay", "scene": "native"}, auth=None
            )
            assert r.status_code == 201, r.text
            assert r.json()["amount_fen"] == statement["total_fen"]
            assert "inv-barred" + tag not in r.json()["invoice_ids"]
            r = await order(["inv-barred" + tag])  # named, it can be paid
            assert (r.status_code, r.json()["amount_fen"]) == (201, 9900), r.text

            # Prepayment: at most 12 months of the 27,580 monthly charge on account, after what
            # an unnamed payment pays today (the open invoices but the time-barred one).
            owed = statement["total_fen"]
            on_account = {
                "unit_id": unit,
                "channel": "wechat_pay",
                "scene": "native",
                "community_id": community,
                "payer_party_id": "owner-ow",
            }
            r = await http.post("/orders", json={**on_account, "amount_fen": 12 * 27580 + owed + 1})
            assert r.status_code == 422 and "capped at 12 months" in r.json()["detail"], r.text
            r = await http.post("/orders", json={**on_account, "amount_fen": 12 * 27580 + owed})
            assert r.status_code == 201, r.text
            counter = await http.post(
                "/payments/counter",
                headers={"Idempotency-Key": f"cap-{tag}"},
                json={
                    "community_id": community,
                    "unit_id": unit,
                    "payer_party_id": "owner-ow",
                    "amount_fen": 13 * 27580 + owed,
                    "channel": "cash",
                },
            )
            assert counter.status_code == 422 and "capped" in counter.json()["detail"]
            assert (
                await conn.fetchval("SELECT count(*) FROM payments WHERE unit_id = $1", unit) == 0
            )

            # The gateway answers 500, garbage or nothing in time: 502/502/503 problems, and
            # each order is failed, none left pending.
            pending = await _pending(conn, unit)
            for mode, status, kind in (
                ("http500", 502, "gateway-error"),
                ("garbage", 502, "gateway-error"),
                ("slow", 503, "gateway-unreachable"),
            ):
                switch.mode = mode
                body = _problem(await order([part]), status, kind)
                status_now = await conn.fetchval(
                    "SELECT status FROM payment_orders WHERE order_id = $1", body["order_id"]
                )
                assert status_now == "failed", mode
                assert await _pending(conn, unit) == pending, mode
            switch.mode = "ok"
    # The gateway is down (nothing listens on its port): 503 from the QR link and POST /orders.
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        r = await http.post(pay_path, json={"channel": "wechat_pay", "scene": "native"}, auth=None)
        body = _problem(r, 503, "gateway-unreachable")
        assert r.headers["retry-after"] == "30"
        assert "could not be reached" in body["detail"]
        _problem(
            await http.post("/orders", json={**on_account, "amount_fen": 100}),
            503,
            "gateway-unreachable",
        )
        assert await _pending(conn, unit) == pending
        view = (await http.get(f"/orders/{body['order_id']}")).json()
        assert view["status"] == "failed"
        # The expiry run leaves failed orders alone: they are not pending.
        r = await http.post("/orders/expire", json={"as_of": "2099-01-01T00:00:00+08:00"})
        assert r.status_code == 200
        assert body["order_id"] not in {o["order_id"] for o in r.json()["orders"]}
        assert (await http.get(f"/orders/{body['order_id']}")).json()["status"] == "failed"
    await conn.close()


async def _wait_for_unit(http: httpx.AsyncClient, unit: str) -> dict[str, Any]:
    """The unit's QR link, once payments knows the unit (from billing's invoices)."""
    found: dict[str, Any] = {}

    async def known() -> bool:
        r = await http.get(f"/units/{unit}/qr")
        if r.status_code == 404:
            return False
        found.update(r.json())
        return True

    await wait_until(known, timeout=60)
    return found
