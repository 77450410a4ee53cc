"""The account rules through billing's HTTP API and its Kafka consumer (real PostgreSQL and
Kafka): a contract rate above the cap is stored and accrues at the cap, opening arrears accrue
only from the import, a statement of a past day is as of that day, and a time-barred invoice
(dunning's clock over Kafka) is left unpaid by an unnamed payment until a restart un-bars it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.service_layer.accounts import ChangeContext, recompute_account
from billing.service_layer.invoices import copy_invoices
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from propfee.events import LimitationClockChanged, PaymentReceived
from propfee.events.billing import LateFeeBasis
from propfee.kafka import make_producer
from propfee.late_fees import late_fee_on
from propfee.money import round_half_up
from tests.support.auth import bearer, staff_token, trust
from tests.support.kafka import publish

pytestmark = pytest.mark.integration

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "1栋,1单元,101,住宅,100.00,已入住,2019-06-30,梁娟,15034773197,业主,1200.00,2024-10,50.00\n"
).encode()


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_account")


def _client(billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer) -> TestClient:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    admin = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co"))
    return TestClient(trust(create_app(settings), dev_issuer), headers=admin)


def _wait(check: Any, timeout: float = 60.0) -> Any:
    deadline = asyncio.run(_now()) + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.run(_now()) > deadline:
            raise AssertionError("timed out")
        asyncio.run(asyncio.sleep(0.2))


async def _now() -> float:
    return asyncio.get_running_loop().time()


def _community(http: TestClient, community_id: str, rate: str) -> None:
    _wait(lambda: http.get("/readyz").status_code == 200)
    r = http.put(
        f"/communities/{community_id}",
        json={"company_id": "co", "company_name": "示例物业", "name": "阳光花园",
              "city": "杭州", "late_fee_daily_rate": rate},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text


def _import(http: TestClient, community_id: str) -> str:
    r = http.post(
        f"/communities/{community_id}/ledger-imports",
        content=LEDGER,
        params={"filename": "l.csv", "opening_as_of": "2025-01-01"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["arrears_invoices"] == 4  # three months and the old system's late fee
    units = http.get(f"/communities/{community_id}/units").json()["items"]
    return str(units[0]["unit_id"])


def test_capped_rate_opening_arrears_and_a_statement_of_a_past_day(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    with _client(billing_db, kafka, test_prefix, dev_issuer) as http:
        # Rule 1: 0.001 a day (36.5% a year) is above the 3.9% cap: stored, not refused.
        _community(http, "c-cap", "0.001")
        stored = http.get("/communities/c-cap").json()["late_fee_daily_rate"]
        assert Decimal(stored) == Decimal("0.001")
        unit_id = _import(http, "c-cap")

        st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-01-31"}).json()
        assert st["late_fee_terms"] == {
            "daily_rate": "0.001",
            "annual_cap": "0.039",
            "effective_daily_rate": "0.0001068493",
            "capped": True,
        }
        arrears = [i for i in st["invoices"] if i["kind"] == "opening_arrears"]
        assert [i["due_date"] for i in arrears] == ["2024-10-31", "2024-11-30", "2024-12-31"]
        # Rule 2: interest from the day after the import's as-of date, at the capped rate:
        # 30 days (01-02..01-31) on 400 yuan each, never from October's due date.
        capped = round_half_up(40000 * 30 * 39 / 365000)
        assert capped == 128
        for invoice in arrears:
            assert invoice["interest_from"] == "2025-01-02"
            assert invoice["late_fee_fen"] == capped
        old_fee = next(i for i in st["invoices"] if i["kind"] == "opening_late_fee")
        assert old_fee["total_fen"] == 5000 and old_fee["late_fee_fen"] == 0

        # Rule 12: the whole debt is paid on 03-01; the statement of 01-31 still shows that
        # day: no payment, and each fee as accrued to 01-31 (not to the payoff).
        _publish(kafka, test_prefix, _payment("c-cap", unit_id, "pay-all", 200000, "2025-03-01"))
        _wait(lambda: http.get(f"/units/{unit_id}/statement").json()["payments"])
        past = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-01-31"}).json()
        assert past["payments"] == [] and past["allocations"] == [] and past["credit_fen"] == 0
        assert past["principal_outstanding_fen"] == 3 * 40000 + 5000
        assert [i["late_fee_fen"] for i in past["invoices"] if i["kind"] == "opening_arrears"] == [
            capped
        ] * 3
        now = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-03-01"}).json()
        assert now["principal_outstanding_fen"] == 0 and now["late_fee_outstanding_fen"] == 0
        fee_to_payoff = round_half_up(40000 * 58 * 39 / 365000)  # 01-02 .. 02-28
        assert [i["late_fee_fen"] for i in now["invoices"] if i["kind"] == "opening_arrears"] == [
            fee_to_payoff
        ] * 3


def _payment(
    community_id: str, unit_id: str, payment_id: str, fen: int, day: str
) -> PaymentReceived:
    paid = datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC)
    return PaymentReceived(
        payment_id=payment_id,
        community_id=community_id,
        unit_id=unit_id,
        payer_party_id="someone",
        amount_fen=fen,
        channel="bank_card",
        paid_at=paid,
        received_at=paid,
    )


def _clock(
    community_id: str, unit_id: str, invoice: dict[str, Any], version: int, expires: date
) -> LimitationClockChanged:
    return LimitationClockChanged(
        invoice_id=invoice["invoice_id"],
        community_id=community_id,
        unit_id=unit_id,
        due_date=date.fromisoformat(invoice["due_date"]),
        expires_on=expires,
        clock_version=version,
        changed_at=datetime(2025, 2, 1, 1, tzinfo=UTC),
    )


def _publish(kafka: str, prefix: str, *events: PaymentReceived | LimitationClockChanged) -> None:
    async def go() -> None:
        producer = make_producer(kafka, client_id="billing-account-test")
        await producer.start()
        try:
            for event in events:
                await publish(producer, prefix + event.topic(), event, key=event.unit_id)
        finally:
            await producer.stop()

    asyncio.run(go())


def _balance_events(dsn: str, invoice_id: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = await create_pool(dsn)
        rows = await pool.fetch(
            "SELECT payload FROM outbox WHERE topic LIKE '%invoice-balance-changed' ORDER BY id"
        )
        await pool.close()
        events = [json.loads(r["payload"]) for r in rows]
        return [e for e in events if e["invoice_id"] == invoice_id]

    return asyncio.run(go())


def test_a_time_barred_invoice_is_paid_only_by_name_over_kafka(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    with _client(billing_db, kafka, test_prefix, dev_issuer) as http:
        _community(http, "c-bar", "0.0003")
        unit_id = _import(http, "c-bar")
        st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-01-31"}).json()
        october = next(i for i in st["invoices"] if i["due_date"] == "2024-10-31")
        # Dunning's clock (an artificial short one): version 2 expired on 2025-01-31; version
        # 1 arrives after it and is ignored (the highest version wins whatever the order).
        _publish(
            kafka,
            test_prefix,
            _clock("c-bar", unit_id, october, 2, date(2025, 1, 31)),
            _clock("c-bar", unit_id, october, 1, date(2027, 10, 31)),
        )

        def barred() -> list[dict[str, Any]]:
            return [
                e for e in _balance_events(billing_db, october["invoice_id"]) if e["time_barred"]
            ]

        [event] = _wait(barred)
        assert event["late_fee_basis"]["stops_on"] == "2025-01-31"
        assert event["late_fee_basis"]["starts_on"] == "2025-01-02"

        # An unnamed payment large enough for everything leaves the barred invoice unpaid.
        _publish(kafka, test_prefix, _payment("c-bar", unit_id, "pay-1", 200000, "2025-03-01"))
        _wait(lambda: http.get(f"/units/{unit_id}/statement").json()["payments"])
        st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-03-01"}).json()
        by_id = {i["invoice_id"]: i for i in st["invoices"]}
        assert by_id[october["invoice_id"]]["principal_outstanding_fen"] == 40000
        assert by_id[october["invoice_id"]]["time_barred"] is True
        others = [i for i in st["invoices"] if i["invoice_id"] != october["invoice_id"]]
        assert all(i["status"] == "paid" for i in others)
        assert st["credit_fen"] > 40000  # the rest waits on account

        # A restart that arrives late (version 3) pushes the expiry forward: it is payable
        # again, and the credit on account pays it.
        _publish(kafka, test_prefix, _clock("c-bar", unit_id, october, 3, date(2027, 10, 31)))

        def paid() -> bool:
            s = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-03-01"}).json()
            return next(
                i["status"] == "paid"
                for i in s["invoices"]
                if i["invoice_id"] == october["invoice_id"]
            )

        _wait(paid)
        latest = _balance_events(billing_db, october["invoice_id"])[-1]
        assert latest["time_barred"] is False and latest["principal_outstanding_fen"] == 0


PLAIN_LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人\n"
    "1栋,1单元,101,住宅,100.00,已入住,2019-06-30,梁娟,15034773197,业主\n"
).encode()


def _issue(dsn: str, community_id: str, unit_id: str, *invoices: tuple[Any, ...]) -> None:
    """Invoices as a run writes them (runs and utilities invoicing are not this test's
    subject): rows, lines, then the account's replay."""

    async def go() -> None:
        pool = await create_pool(dsn)
        async with pool.acquire() as conn, conn.transaction():
            building = await conn.fetchval(
                "SELECT building_id FROM units WHERE unit_id = $1", unit_id
            )
            for invoice_id, collection, due, issued, lines in invoices:
                total = sum(fen for _, fen in lines)
                at = datetime.combine(issued, datetime.min.time(), UTC).replace(hour=4)
                await copy_invoices(
                    conn,
                    [
                        (invoice_id, community_id, building, unit_id, "owner", "regular",
                         issued, due, due, total, at, collection)
                    ],
                    ("invoice_id", "community_id", "building_id", "unit_id", "payer_party_id",
                     "kind", "period_start", "period_end", "due_date", "total_fen", "issued_at",
                     "collection"),
                    [
                        (invoice_id, n, item, item, Decimal(1), Decimal(fen), fen)
                        for n, (item, fen) in enumerate(lines, 1)
                    ],
                )  # fmt: skip
                await recompute_account(conn, unit_id, at, ChangeContext("credit"))
        await pool.close()

    asyncio.run(go())


def test_utilities_money_and_a_lapsing_discount_over_kafka_and_http(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    clock = bearer(staff_token(dev_issuer, [Role.service], company_id="co"))
    with _client(billing_db, kafka, test_prefix, dev_issuer) as http:
        _community(http, "c-dis", "0.0001")
        r = http.post(
            "/communities/c-dis/ledger-imports",
            content=PLAIN_LEDGER,
            params={"filename": "l.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        unit_id = http.get("/communities/c-dis/units").json()["items"][0]["unit_id"]
        quarter = [("property_fee", 30000), ("prepay_discount_quarterly", -1500)]
        _issue(
            billing_db,
            "c-dis",
            unit_id,
            ("q", "property", date(2025, 3, 31), date(2025, 3, 1), quarter),
            ("water", "utilities", date(2025, 3, 31), date(2025, 3, 1), [("water", 4000)]),
        )
        # Rule 9: money named for the water bill never pays the property fee.
        named = _payment("c-dis", unit_id, "for-water", 20000, "2025-03-10")
        named = named.model_copy(update={"invoice_ids": ["water"]})
        _publish(kafka, test_prefix, named)
        _wait(lambda: http.get(f"/units/{unit_id}/statement").json()["payments"])
        st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-03-31"}).json()
        by_id = {i["invoice_id"]: i for i in st["invoices"]}
        assert by_id["water"]["status"] == "paid"
        assert by_id["q"]["principal_paid_fen"] == 0 and st["credit_fen"] == 16000

        # Rule 11: the quarter was not paid by 03-31, so on 04-01 its 5% discount lapses; the
        # late-fee job of that day publishes it (the service role acts as of that day).
        r = http.post(
            "/communities/c-dis/late-fee-assessments", json={"as_of": "2025-04-01"}, headers=clock
        )
        assert r.status_code == 200, r.text
        [lapsed] = [e for e in _balance_events(billing_db, "q") if e.get("discount_lapsed_fen")]
        assert lapsed["total_fen"] == 28500 and lapsed["discount_lapsed_fen"] == 1500
        assert lapsed["principal_outstanding_fen"] == 30000
        assert lapsed["late_fee_basis"]["starts_on"] == "2025-04-01"
        st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-04-10"}).json()
        q = next(i for i in st["invoices"] if i["invoice_id"] == "q")
        assert q["discount_lapsed_fen"] == 1500 and q["principal_outstanding_fen"] == 30000
        assert q["late_fee_fen"] == 30  # 30,000 x 0.0001 x 10 days (04-01 .. 04-10)
        assert st["credit_fen"] == 16000  # the utilities credit still does not pay it
        # The published basis continues to the statement's fee for a later day.
        basis = LateFeeBasis.model_validate(lapsed["late_fee_basis"]).accrual()
        assert late_fee_on(basis, date(2025, 4, 10)) == q["late_fee_fen"]
