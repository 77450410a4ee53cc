"""Issue 17, rules 3, 9, 10 and 13 through billing's HTTP API (real PostgreSQL, the Kafka
outbox): the vacancy discount ends with the vacancy in a yearly run; utilities collected on
behalf of suppliers are published at the supplier's tariff with its source and billed on
their own invoices; InvoiceIssued names everyone liable and when interest may start; a sale
answers the seller's arrears with late fees as of the sale date, records the seller's credit
choice, and the buyer is billed from the month after."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.service_layer import payments
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from propfee.events import InvoiceIssued, PaymentReceived
from propfee.late_fees import LateFeeTerms, accrued_late_fee
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

CO = "co-util"
RATE = Decimal("0.0001")  # 万分之一 a day, below the default cap
WATER = {
    "code": "water",
    "name": "水费（代收）",
    "kind": "metered",
    "rate_fen": "410",
    "pass_through": True,
    "supplier_tariff_fen": "410",
    "tariff_source": "杭州市水务集团 杭发改价格〔2024〕5号",
}
PROPERTY_FEE = {
    "code": "property_fee",
    "name": "物业服务费",
    "kind": "area",
    "rate_fen": "280",
    "unit_type": "residential",
}


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_rules17")


@pytest.fixture
def http(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> Iterator[TestClient]:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    # A company admin with the simulation clock's role: acts as of any day.
    token = staff_token(dev_issuer, [Role.company_admin, Role.service], company_id=CO)
    with TestClient(trust(create_app(settings), dev_issuer), headers=bearer(token)) as client:
        for _ in range(100):
            if client.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        yield client


def _db(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = await create_pool(dsn)
        try:
            return [dict(r) for r in await pool.fetch(sql, *args)]
        finally:
            await pool.close()

    return asyncio.run(go())


def _issued(dsn: str, unit_id: str) -> list[InvoiceIssued]:
    """The unit's InvoiceIssued events in the outbox, validated against the contract."""
    rows = _db(
        dsn,
        "SELECT payload FROM outbox WHERE topic = 'billing.invoice-issued' ORDER BY id",
    )
    events = [InvoiceIssued.model_validate(json.loads(bytes(r["payload"]))) for r in rows]
    return [e for e in events if e.unit_id == unit_id]


def _ok(response: Any, status: tuple[int, ...] = (200, 201)) -> Any:
    assert response.status_code in status, response.text
    return response.json()


def _community(http: TestClient, cid: str, late_fee: Decimal | None = RATE) -> None:
    _ok(
        http.put(
            f"/communities/{cid}",
            json={
                "company_id": CO,
                "company_name": "示例物业",
                "name": f"阳光花园 {cid}",
                "city": "杭州",
                "late_fee_daily_rate": None if late_fee is None else str(late_fee),
            },
        )
    )
    _ok(
        http.post(
            f"/communities/{cid}/fee-schedules",
            json={
                "published_on": "2025-01-01",
                "effective_from": "2025-02-01",
                "approval_ref": "杭价〔2025〕1号",
                "pricing_type": "政府指导价",
                "items": [PROPERTY_FEE, WATER],
            },
        )
    )


def _unit(http: TestClient, cid: str, room: str, **extra: Any) -> str:
    body = {
        "community_id": cid,
        "building": "1栋",
        "room": room,
        "floor_area_m2": "98.50",
        "owner": {"name": f"业主{room}"},
        **extra,
    }
    return str(_ok(http.post("/units", json=body))["unit_id"])


def _run(http: TestClient, cid: str, start: str, cycle: str = "monthly") -> dict[str, Any]:
    body = {"period_start": start, "cycle": cycle, "as_of": start}
    return dict(_ok(http.post(f"/communities/{cid}/billing-runs", json=body)))


def _pay(dsn: str, cid: str, unit_id: str, payment_id: str, fen: int, day: date) -> None:
    async def go() -> None:
        pool = await create_pool(dsn)
        at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        event = PaymentReceived(
            payment_id=payment_id,
            community_id=cid,
            unit_id=unit_id,
            payer_party_id="p",
            amount_fen=fen,
            channel="alipay",
            paid_at=at,
            received_at=at,
        )
        async with pool.acquire() as conn, conn.transaction():
            await payments.record_payment(conn, event, None)  # type: ignore[arg-type]
        await pool.close()

    asyncio.run(go())


# -- rule 3 ---------------------------------------------------------------------------------


def test_a_yearly_run_ends_the_vacancy_discount_with_the_vacancy(
    http: TestClient, billing_db: str
) -> None:
    cid = "c-vacancy"
    _community(http, cid)
    _ok(http.put(f"/companies/{CO}/vacancy-rules/杭州",
                 json={"after_months": 6, "payable_share": "0.70"}))  # fmt: skip
    ended = _unit(http, cid, "101")
    still = _unit(http, cid, "102")
    twice = _unit(http, cid, "103")
    vacancies = [
        (ended, "2025-09-01", "2026-05-31"),  # vacant through May: March, April, May
        (still, "2025-09-01", None),  # March to December
        (twice, "2025-09-01", "2026-03-15"),  # ends mid-March: no month at all
        (twice, "2026-06-01", None),  # again from June: December
    ]
    for unit_id, registered, end in vacancies:
        _ok(http.post(f"/units/{unit_id}/vacancies",
                      json={"registered_on": registered, "ended_on": end}))  # fmt: skip
    _run(http, cid, "2026-01-01", "yearly")
    off = {}
    for unit_id in (ended, still, twice):
        [event] = _issued(billing_db, unit_id)
        off[unit_id] = sum(x.amount_fen for x in event.lines if x.fee_item == "vacancy_discount")
        assert event.period_start == date(2026, 1, 1) and event.period_end == date(2026, 12, 31)
    # 30% of 27,580 a month (EXAMPLES.md); before the fix the ended vacancy kept ten months.
    assert off == {ended: -3 * 8274, still: -10 * 8274, twice: -1 * 8274}
    [stored] = _db(
        billing_db,
        "SELECT amount_fen FROM invoice_lines l JOIN invoices i USING (invoice_id) "
        "WHERE i.unit_id = $1 AND l.fee_item = 'vacancy_discount'",
        ended,
    )
    assert stored["amount_fen"] == -24822


# -- rules 9 and 10 -------------------------------------------------------------------------


def test_utilities_are_published_at_the_supplier_tariff_and_invoiced_apart(
    http: TestClient, billing_db: str
) -> None:
    cid = "c-utilities"
    _community(http, cid)
    schedule = {
        "published_on": "2025-03-01",
        "effective_from": "2025-06-01",
        "approval_ref": "杭价〔2025〕2号",
        "pricing_type": "政府指导价",
        "items": [PROPERTY_FEE, WATER],
    }
    for item, needle in (
        ({**WATER, "tariff_source": ""}, "tariff_source"),
        ({**WATER, "supplier_tariff_fen": None}, "supplier_tariff_fen"),
        ({**WATER, "rate_fen": "450"}, "rate 450 is above the supplier's tariff 410"),
    ):
        r = http.post(
            f"/communities/{cid}/fee-schedules", json={**schedule, "items": [PROPERTY_FEE, item]}
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("items[1] (water): ") and needle in r.json()["detail"]
    [published] = _ok(http.get(f"/communities/{cid}/fee-schedules"))["items"]
    water = next(i for i in published["items"] if i["code"] == "water")
    assert water["supplier_tariff_fen"] == "410.0000"
    assert water["tariff_source"] == WATER["tariff_source"]

    owner_pays = _unit(http, cid, "201")
    tenant_pays = _unit(http, cid, "202", tenant={"name": "租户202"}, payer="tenant")
    readings = [
        {"unit_id": u, "item_code": "water", "period_month": "2026-01-01",
         "previous": "100", "current": "130"}
        for u in (owner_pays, tenant_pays)
    ]  # fmt: skip
    _ok(http.post(f"/communities/{cid}/meter-readings", json=readings))
    _run(http, cid, "2026-01-01")

    for unit_id in (owner_pays, tenant_pays):
        events = {e.collection: e for e in _issued(billing_db, unit_id)}
        assert set(events) == {"property", "utilities"}
        own, utilities = events["property"], events["utilities"]
        assert [(x.fee_item, x.amount_fen) for x in own.lines] == [("property_fee", 27580)]
        assert [(x.fee_item, x.amount_fen) for x in utilities.lines] == [("water", 12300)]
        assert own.invoice_id != utilities.invoice_id
        # Interest may start the day after max(due 01-31, issued 01-01); utilities bear no
        # late fee unless the contract names one for them.
        assert own.interest_from == date(2026, 2, 1)
        assert utilities.interest_from is None
        assert own.liable_party_ids == utilities.liable_party_ids
    rows = _db(
        billing_db,
        "SELECT unit_id, collection, total_fen, payer_party_id, liable_party_id FROM invoices "
        "WHERE community_id = $1 ORDER BY unit_id, collection",
        cid,
    )
    assert [(r["collection"], r["total_fen"]) for r in rows if r["unit_id"] == owner_pays] == [
        ("property", 27580),
        ("utilities", 12300),
    ]
    tenant_row = next(r for r in rows if r["unit_id"] == tenant_pays)
    tenant, owner = tenant_row["payer_party_id"], tenant_row["liable_party_id"]
    assert tenant != owner
    [event] = [e for e in _issued(billing_db, tenant_pays) if e.collection == "property"]
    assert event.liable_party_ids == [tenant, owner]  # the owner stays jointly liable
    [event] = [e for e in _issued(billing_db, owner_pays) if e.collection == "property"]
    assert event.liable_party_ids == [event.payer_party_id]

    # Receivable reports keep the supplier's money apart from the property fee.
    period = {"start": "2026-01-01", "end": "2026-01-31", "as_of": "2026-02-15"}
    by_month = _ok(http.get(f"/communities/{cid}/reports/collection", params=period))["items"]
    assert {(r["key"], r["collection"], r["billed_fen"]) for r in by_month} == {
        ("2026-01", "property", 2 * 27580),
        ("2026-01", "utilities", 2 * 12300),
    }
    utilities = {**period, "by": "fee_item", "collection": "utilities"}
    only = _ok(http.get(f"/communities/{cid}/reports/collection", params=utilities))["items"]
    assert [(r["key"], r["billed_fen"]) for r in only] == [("water", 2 * 12300)]
    aging = _ok(http.get(f"/communities/{cid}/reports/aging",
                         params={"as_of": "2026-02-15"}))["items"]  # fmt: skip
    [bucket] = [b for b in aging if b["outstanding_fen"]]
    assert (bucket["property_fen"], bucket["utilities_fen"]) == (2 * 27580, 2 * 12300)


# -- rule 13 --------------------------------------------------------------------------------


def test_a_sale_answers_the_sellers_arrears_and_the_buyer_is_billed_after_it(
    http: TestClient, billing_db: str
) -> None:
    cid = "c-sale"
    _community(http, cid)
    owing = _unit(http, cid, "301")
    prepaid = _unit(http, cid, "302")
    _run(http, cid, "2026-01-01")
    _run(http, cid, "2026-02-01")
    # 302 paid ahead: 60,000 against two months of 27,580 leaves 4,840 on account.
    _pay(billing_db, cid, prepaid, "pay-302", 60000, date(2026, 1, 20))

    refused = http.post(f"/units/{owing}/sale",
                        json={"sold_on": "2026-03-10", "buyer": {"name": "买方301"}})  # fmt: skip
    assert refused.status_code == 422 and "seller_credit" in refused.text

    sale = _ok(http.post(f"/units/{owing}/sale", json={
        "sold_on": "2026-03-10", "buyer": {"name": "买方301"}, "seller_credit": "refund"}))  # fmt: skip
    terms = LateFeeTerms(RATE)
    jan = accrued_late_fee(27580, date(2026, 2, 1), date(2026, 3, 10), terms)  # 38 days
    feb = accrued_late_fee(27580, date(2026, 3, 1), date(2026, 3, 10), terms)  # 10 days
    assert (jan, feb) == (105, 28)
    assert [
        (a["period_start"], a["principal_outstanding_fen"], a["late_fee_fen"], a["owed_fen"])
        for a in sale["arrears"]
    ] == [
        ("2026-01-01", 27580, jan, 27580 + jan),
        ("2026-02-01", 27580, feb, 27580 + feb),
    ]
    assert sale["arrears_to_settle_fen"] == 2 * 27580 + jan + feb
    assert sale["seller_credit"] == "refund" and sale["seller_credit_fen"] == 0
    seller = sale["arrears"][0]["payer_party_id"]
    assert sale["seller_party_ids"] == [seller]
    assert sale["sold_at"] == "2026-03-10T16:00:00Z"  # 03-11 00:00 in Asia/Shanghai
    again = _ok(http.post(f"/units/{owing}/sale", json={
        "sold_on": "2026-03-10", "buyer": {"name": "买方301"}, "seller_credit": "refund"}))  # fmt: skip
    assert again["sale_id"] == sale["sale_id"] and again["arrears"] == sale["arrears"]
    other_choice = http.post(f"/units/{owing}/sale", json={
        "sold_on": "2026-03-10", "buyer": {"name": "买方301"}, "seller_credit": "transfer"})  # fmt: skip
    assert other_choice.status_code == 409, other_choice.text

    moved = _ok(http.post(f"/units/{prepaid}/sale", json={
        "sold_on": "2026-03-10", "buyer": {"name": "买方302"}, "seller_credit": "transfer"}))  # fmt: skip
    assert moved["arrears"] == [] and moved["seller_credit_fen"] == 60000 - 2 * 27580

    sales = _db(
        billing_db,
        "SELECT unit_id, seller_credit, seller_credit_fen, seller_party_ids, buyer_party_id, "
        "sold_on, recorded_by FROM unit_sales ORDER BY unit_id",
    )
    assert {(s["unit_id"], s["seller_credit"], s["seller_credit_fen"]) for s in sales} == {
        (owing, "refund", 0),
        (prepaid, "transfer", 4840),
    }
    recorded = next(s for s in sales if s["unit_id"] == owing)
    assert recorded["seller_party_ids"] == [seller]
    assert recorded["buyer_party_id"] == sale["buyer_party_id"]
    assert recorded["sold_on"] == date(2026, 3, 10) and recorded["recorded_by"]
    [audit] = _db(
        billing_db,
        "SELECT after FROM audit_log WHERE action = 'unit.sale' AND unit_id = $1",
        owing,
    )
    after = json.loads(audit["after"]) if isinstance(audit["after"], str) else audit["after"]
    assert after["seller_credit"] == "refund" and after["sale_id"] == sale["sale_id"]
    assert after["arrears_to_settle_fen"] == sale["arrears_to_settle_fen"]  # once, not again

    # The month of the sale is the seller's; from April the buyer pays, and is the only one
    # liable for the buyer's invoices.
    _run(http, cid, "2026-03-01")
    _run(http, cid, "2026-04-01")
    by_month = {e.period_start: e for e in _issued(billing_db, owing)}
    march, april = by_month[date(2026, 3, 1)], by_month[date(2026, 4, 1)]
    assert march.payer_party_id == seller and march.liable_party_ids == [seller]
    assert april.payer_party_id == sale["buyer_party_id"]
    assert april.liable_party_ids == [sale["buyer_party_id"]]
    assert april.interest_from == date(2026, 5, 1)


def test_a_handover_names_the_developer_then_the_owner_on_each_invoice(
    http: TestClient, billing_db: str
) -> None:
    """Issue 18 rule 7 (dunning chases the payer billing names): an unsold unit handed over
    on 01-15 is the developer's through January, the owner's from February; each InvoiceIssued
    names that payer and only that payer as liable (no tenant: nobody jointly liable)."""
    cid = "c-handover"
    _community(http, cid)
    unsold = _unit(http, cid, "401", owner=None, status="unsold", payer="developer")
    _run(http, cid, "2026-01-01")
    handed = _ok(http.post(f"/units/{unsold}/handover", json={
        "handover_date": "2026-01-15", "owner": {"name": "业主401"}}))  # fmt: skip
    owner = handed["owner_party_id"]
    _run(http, cid, "2026-02-01")
    by_month = {e.period_start: e for e in _issued(billing_db, unsold)}
    january, february = by_month[date(2026, 1, 1)], by_month[date(2026, 2, 1)]
    developer = january.payer_party_id
    assert developer != owner
    assert january.liable_party_ids == [developer]
    assert february.payer_party_id == owner and february.liable_party_ids == [owner]
