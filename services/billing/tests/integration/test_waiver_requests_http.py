"""Late-fee waivers with approval, over HTTP with real tokens, PostgreSQL and Kafka: one person
asks, another decides once; an approval is the same waiver as ``POST .../late-fee-waivers``
(cap, account replay, balance event, audit) with the decider as approver; another company's
token sees nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

CO1, CO2 = "co-1", "co-2"
A, X = "c-wa", "c-wx"


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_waiver_requests")


def _db(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = await create_pool(dsn)
        try:
            return [dict(r) for r in await pool.fetch(sql, *args)]
        finally:
            await pool.close()

    return asyncio.run(go())


class World:
    def __init__(self, http: TestClient, issuer: DevIssuer, dsn: str) -> None:
        self.http, self.issuer, self.dsn = http, issuer, dsn

    def token(
        self, subject: str, roles: list[Role], company: str = CO1, communities: Any = "*"
    ) -> dict[str, str]:
        return bearer(
            staff_token(
                self.issuer, roles, company_id=company, communities=communities, subject=subject
            )
        )

    def call(self, status: int, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
def world(billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer) -> Iterator[World]:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    app = trust(create_app(settings), dev_issuer)
    with TestClient(app) as http:
        for _ in range(100):
            if http.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        w = World(http, dev_issuer, billing_db)
        for company, community in ((CO1, A), (CO2, X)):
            admin = w.token("admin", [Role.company_admin], company)
            w.call(200, "PUT", f"/communities/{community}", admin, json={
                "company_id": company, "company_name": f"物业{company}", "name": community,
                "city": "杭州", "late_fee_daily_rate": "0.001"})  # fmt: skip
            w.call(201, "POST", f"/communities/{community}/fee-schedules/import", admin, json={
                "approval_ref": "公司批复〔2024〕1号", "versions": [{
                "published_on": "2024-11-01", "effective_from": "2024-12-01",
                "approval_ref": "杭价〔2024〕7号", "pricing_type": "政府指导价",
                "items": [{"code": "property_fee", "name": "物业服务费", "kind": "area",
                           "rate_fen": "250", "unit_type": "*"}]}]})  # fmt: skip
        yield w


def _overdue_invoice(w: World, community: str = A, company: str = CO1) -> tuple[str, str]:
    """A unit and its invoice issued on 1 and due on 31 January 2026: ~10 months late, a late
    fee on 25,000 fen at the annual cap (3.9% / 365 a day): several hundred fen."""
    admin = w.token("admin", [Role.company_admin], company)
    unit = w.call(201, "POST", "/units", admin, json={
        "community_id": community, "building": "1栋", "room": "101", "floor_area_m2": "100",
        "owner": {"name": "张三", "phone": "13812345678"}})["unit_id"]  # fmt: skip
    # Issued in January (the service role may date a record; staff only within a window).
    clock = w.token("clock", [Role.company_admin, Role.service], company)
    invoice = w.call(201, "POST", "/invoices", clock, json={
        "unit_id": unit, "issued_at": "2026-01-01T00:00:00+08:00", "period_start": "2026-01-01", "period_end": "2026-01-31",
        "due_date": "2026-01-31",
        "lines": [{"fee_item": "property_fee", "quantity": "100"}]})["invoice_id"]  # fmt: skip
    return unit, invoice


def test_a_waiver_is_asked_by_one_person_and_decided_once_by_another(world: World) -> None:
    w = world
    unit, invoice = _overdue_invoice(w)
    keeper = w.token("hk-wang", [Role.housekeeper], communities=[A])
    fiona = w.token("fin-zhao", [Role.finance], communities=[A])
    asked = w.call(201, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", keeper,
                   json={"amount_fen": 300, "reason": "疫情期间减免"})  # fmt: skip
    assert asked["status"] == "pending" and asked["requested_by"] == "hk-wang"
    assert (asked["invoice_id"], asked["unit_id"], asked["community_id"]) == (invoice, unit, A)
    assert asked["amount_fen"] == 300 and asked["waiver_id"] is None
    rid = asked["request_id"]
    # Nothing forgiven yet.
    assert w.call(200, "GET", f"/invoices/{invoice}", fiona)["late_fee_waived_fen"] == 0

    # A housekeeper may ask but not decide (role); the list shows the pending request.
    w.call(403, "POST", f"/late-fee-waiver-requests/{rid}/decision", keeper,
           json={"decision": "approve"})  # fmt: skip
    pending = w.call(200, "GET", f"/communities/{A}/late-fee-waiver-requests", fiona,
                     params={"status": "pending"})  # fmt: skip
    assert [r["request_id"] for r in pending["items"]] == [rid]

    approved = w.call(200, "POST", f"/late-fee-waiver-requests/{rid}/decision", fiona,
                      json={"decision": "approve", "note": "同意"})  # fmt: skip
    assert approved["status"] == "approved" and approved["decided_by"] == "fin-zhao"
    assert approved["waiver_id"] and approved["decision_note"] == "同意"
    assert w.call(200, "GET", f"/invoices/{invoice}", fiona)["late_fee_waived_fen"] == 300
    # The same waiver as waiveLateFee: its row with the decider as approver, its balance
    # event, its audit row; and the request's own steps audited.
    rows = _db(w.dsn, "SELECT amount_fen, approved_by, reason FROM late_fee_waivers")
    assert rows == [{"amount_fen": 300, "approved_by": "fin-zhao", "reason": "疫情期间减免"}]
    events = [
        json.loads(r["payload"])
        for r in _db(
            w.dsn, "SELECT payload FROM outbox WHERE topic LIKE '%invoice-balance-changed'"
        )
    ]
    assert any(e.get("reason") == "waiver" for e in events), events
    audit = {
        r["action"]: r
        for r in _db(w.dsn, "SELECT action, actor FROM audit_log WHERE action LIKE 'late_fee%'")
    }
    assert audit["late_fee_waiver.requested"]["actor"] == "hk-wang"
    assert audit["late_fee.waived"]["actor"] == "fin-zhao"
    assert audit["late_fee_waiver.approved"]["actor"] == "fin-zhao"

    # Decided once: again (either way) is 409, and changes nothing.
    again = w.call(409, "POST", f"/late-fee-waiver-requests/{rid}/decision", fiona,
                   json={"decision": "reject"})  # fmt: skip
    assert again["refused"] == "already_decided"
    assert w.call(200, "GET", f"/invoices/{invoice}", fiona)["late_fee_waived_fen"] == 300
    assert w.call(200, "GET", f"/communities/{A}/late-fee-waiver-requests", fiona,
                  params={"status": "pending"})["items"] == []  # fmt: skip


def test_the_person_who_asked_cannot_decide_and_a_rejection_forgives_nothing(world: World) -> None:
    w = world
    _, invoice = _overdue_invoice(w)
    li = w.token("fin-li", [Role.finance], communities=[A])
    manager = w.token("mgr-chen", [Role.community_manager], communities=[A])
    rid = w.call(201, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", li,
                 json={"amount_fen": 500, "reason": "老人独居"})["request_id"]  # fmt: skip
    refused = w.call(403, "POST", f"/late-fee-waiver-requests/{rid}/decision", li,
                     json={"decision": "approve"})  # fmt: skip
    assert refused["refused"] == "same_person" and "someone else" in refused["detail"]
    assert _db(w.dsn, "SELECT status FROM late_fee_waiver_requests")[0]["status"] == "pending"
    rejected = w.call(200, "POST", f"/late-fee-waiver-requests/{rid}/decision", manager,
                      json={"decision": "reject", "note": "不符合条件"})  # fmt: skip
    assert rejected["status"] == "rejected" and rejected["waiver_id"] is None
    assert w.call(200, "GET", f"/invoices/{invoice}", li)["late_fee_waived_fen"] == 0
    assert _db(w.dsn, "SELECT * FROM late_fee_waivers") == []


def test_an_approval_is_capped_like_every_waiver(world: World) -> None:
    """More than the late fee due: the approval waives what is due, as waiveLateFee does
    (one home for the cap: ``Account._waive``)."""
    w = world
    _, invoice = _overdue_invoice(w)
    keeper = w.token("hk-wang", [Role.housekeeper], communities=[A])
    boss = w.token("boss", [Role.company_admin])
    rid = w.call(201, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", keeper,
                 json={"amount_fen": 9_000_000, "reason": "全部减免"})["request_id"]  # fmt: skip
    w.call(200, "POST", f"/late-fee-waiver-requests/{rid}/decision", boss,
           json={"decision": "approve"})  # fmt: skip
    waived = w.call(200, "GET", f"/invoices/{invoice}", boss)["late_fee_waived_fen"]
    assert 0 < waived < 9_000_000


def test_another_company_sees_and_decides_nothing(world: World) -> None:
    w = world
    _, invoice = _overdue_invoice(w)
    _, theirs = _overdue_invoice(w, X, CO2)
    keeper = w.token("hk-wang", [Role.housekeeper], communities=[A])
    rid = w.call(201, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", keeper,
                 json={"amount_fen": 100, "reason": "疫情"})["request_id"]  # fmt: skip
    other = w.token("admin2", [Role.company_admin], CO2)
    w.call(404, "POST", f"/late-fee-waiver-requests/{rid}/decision", other,
           json={"decision": "approve"})  # fmt: skip
    w.call(404, "GET", f"/communities/{A}/late-fee-waiver-requests", other)
    w.call(404, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", other,
           json={"amount_fen": 100, "reason": "x"})  # fmt: skip
    # A finance user of the same company scoped to another community: not theirs either.
    w.call(404, "POST", f"/late-fee-waiver-requests/{rid}/decision",
           w.token("fin-b", [Role.finance], communities=["c-other"]),
           json={"decision": "approve"})  # fmt: skip
    assert _db(w.dsn, "SELECT status FROM late_fee_waiver_requests")[0]["status"] == "pending"
    # Their own list is theirs only; paging works on ours.
    w.call(201, "POST", f"/invoices/{theirs}/late-fee-waiver-requests", other,
           json={"amount_fen": 100, "reason": "x"})  # fmt: skip
    assert [r["community_id"] for r in w.call(
        200, "GET", f"/communities/{X}/late-fee-waiver-requests", other)["items"]] == [X]  # fmt: skip
    w.call(201, "POST", f"/invoices/{invoice}/late-fee-waiver-requests", keeper,
           json={"amount_fen": 200, "reason": "疫情"})  # fmt: skip
    first = w.http.get(f"/communities/{A}/late-fee-waiver-requests", headers=keeper,
                       params={"limit": 1})  # fmt: skip
    assert first.status_code == 200 and first.json()["next"] and "Link" in first.headers
    second = w.call(200, "GET", f"/communities/{A}/late-fee-waiver-requests", keeper,
                    params={"limit": 1, "cursor": first.json()["next"]})  # fmt: skip
    assert second["items"][0]["amount_fen"] == 200 and second["next"] is None
