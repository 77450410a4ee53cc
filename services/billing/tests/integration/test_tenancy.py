"""Issue 16 for billing, over HTTP with real tokens and PostgreSQL: what belongs to a company is
changed only by that company's company-level roles, business times are the caller's only
within the company's window, and ids reveal nothing about other companies.

Each refusal is checked twice: the answer (404 for another company, 403 for a narrower role
of the same company) and the database, unchanged (rows, audit trail, outbox)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.domain.calendar import add_months, month_start
from billing.service_layer.ids import stable_id
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "unit" / "data" / "sample-ledger.csv"
CO1, CO2 = "co-1", "co-2"
A, B, X = "c-a", "c-b", "c-x"  # co-1 has A and B, co-2 has X; all three in 杭州
CITY = "杭州"
TABLES = (
    "companies",
    "communities",
    "company_vacancy_rules",
    "community_vacancy_rules",
    "units",
    "invoices",
    "billing_runs",
    "late_fee_waivers",
    "installment_plans",
)
RANDOM_ID = re.compile(r"^(unit|inv)-[0-9a-f]{20}$")


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_tenancy")


def _db(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = await create_pool(dsn)
        try:
            return [dict(r) for r in await pool.fetch(sql, *args)]
        finally:
            await pool.close()

    return asyncio.run(go())


def snapshot(dsn: str) -> dict[str, Any]:
    """Everything a refused request could have changed."""

    async def go() -> dict[str, Any]:
        pool = await create_pool(dsn)
        try:
            picture: dict[str, Any] = {
                t: [tuple(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY 1")]
                for t in TABLES
            }
            picture["audit_log"] = await pool.fetchval("SELECT count(*) FROM audit_log")
            picture["outbox"] = await pool.fetchval("SELECT count(*) FROM outbox")
            return picture
        finally:
            await pool.close()

    return asyncio.run(go())


class World:
    def __init__(self, http: TestClient, issuer: DevIssuer, dsn: str) -> None:
        self.http, self.issuer, self.dsn = http, issuer, dsn

    def token(
        self, roles: list[Role], company: str = CO1, communities: Any = "*"
    ) -> dict[str, str]:
        return bearer(staff_token(self.issuer, roles, company_id=company, communities=communities))

    @property
    def admin1(self) -> dict[str, str]:
        return self.token([Role.company_admin])

    @property
    def admin2(self) -> dict[str, str]:
        return self.token([Role.company_admin], CO2)

    @property
    def clock(self) -> dict[str, str]:
        return self.token([Role.service])

    def refused(
        self, status: int, method: str, path: str, headers: dict[str, str], **kw: Any
    ) -> str:
        """The request answers ``status`` and changes nothing; returns the detail."""
        before = snapshot(self.dsn)
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        assert snapshot(self.dsn) == before, f"{method} {path} changed the database"
        return str(r.json()["detail"])

    def ok(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"
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
        for company, community, admin in (
            (CO1, A, w.admin1),
            (CO1, B, w.admin1),
            (CO2, X, w.admin2),
        ):
            w.ok(
                "PUT",
                f"/communities/{community}",
                admin,
                json={
                    "company_id": company,
                    "company_name": f"物业{company}",
                    "name": community,
                    "city": CITY,
                    "late_fee_daily_rate": "0.0001",
                },
            )
            # The schedule the community had before Propfee, with its original dates.
            w.ok("POST", f"/communities/{community}/fee-schedules/import", admin, json={
                "approval_ref": "公司批复〔2024〕1号", "versions": [{
                "published_on": "2024-11-01", "effective_from": "2024-12-01",
                "approval_ref": "杭价〔2024〕7号", "pricing_type": "政府指导价",
                "items": [{"code": "property_fee", "name": "物业服务费", "kind": "area",
                           "rate_fen": "250", "unit_type": "*"}]}]})  # fmt: skip
        yield w


def _unit(w: World, community: str, admin: dict[str, str], room: str, **extra: Any) -> str:
    body = {"community_id": community, "building": "1栋", "room": room,
            "floor_area_m2": "100", "owner": {"name": "张三", "phone": "13812345678"}, **extra}  # fmt: skip
    return str(w.ok("POST", "/units", admin, json=body)["unit_id"])


def _events(dsn: str, topic: str) -> list[dict[str, Any]]:
    rows = _db(dsn, "SELECT payload FROM outbox WHERE topic LIKE $1 ORDER BY id", f"%{topic}")
    return [json.loads(r["payload"]) for r in rows]


# -- item 1: vacancy rules belong to a company (or a community), never to a city alone ------


def test_vacancy_rules_belong_to_a_company_and_a_community_may_override(world: World) -> None:
    w = world
    rule = {"after_months": 6, "payable_share": "0.7"}
    path = f"/companies/{CO1}/vacancy-rules/{CITY}"
    # Another company's admin: 404, as for a company that does not exist.
    assert w.refused(404, "PUT", path, w.admin2, json=rule).endswith("not found")
    assert w.refused(404, "PUT", f"/companies/co-none/vacancy-rules/{CITY}", w.admin1, json=rule)
    # Narrower roles of the same company: a company admin scoped to one community, finance
    # for every community (not company-level), a fee clerk.
    w.refused(403, "PUT", path, w.token([Role.company_admin], communities=[A]), json=rule)
    w.refused(403, "PUT", path, w.token([Role.finance]), json=rule)
    w.refused(403, "PUT", path, w.token([Role.fee_clerk], communities=[A]), json=rule)

    w.ok("PUT", path, w.admin1, json=rule)
    w.ok("PUT", f"/companies/{CO2}/vacancy-rules/{CITY}", w.admin2,
         json={"after_months": 6, "payable_share": "0.5"})  # fmt: skip
    # A community's own rule: its company's staff for that community; not another company.
    override = {"after_months": 6, "payable_share": "0.9"}
    w.refused(404, "PUT", f"/communities/{B}/vacancy-rule", w.admin2, json=override)
    w.refused(404, "DELETE", f"/communities/{B}/vacancy-rule", w.admin2)
    w.refused(404, "PUT", f"/communities/{B}/vacancy-rule",
              w.token([Role.community_manager], communities=[A]), json=override)  # fmt: skip
    w.ok("PUT", f"/communities/{B}/vacancy-rule",
         w.token([Role.community_manager], communities=[B]), json=override)  # fmt: skip
    trail = _db(w.dsn, "SELECT company_id, community_id, subject_id FROM audit_log "
                "WHERE action = 'vacancy_rule.set' ORDER BY audit_id")  # fmt: skip
    assert trail == [
        {"company_id": CO1, "community_id": None, "subject_id": f"{CO1}/{CITY}"},
        {"company_id": CO2, "community_id": None, "subject_id": f"{CO2}/{CITY}"},
        {"company_id": CO1, "community_id": B, "subject_id": B},
    ]
    rules = w.ok("GET", f"/companies/{CO1}", w.admin1)["vacancy_rules"]
    assert [(r["city"], float(r["payable_share"])) for r in rules] == [(CITY, 0.7)]
    w.refused(404, "GET", f"/companies/{CO1}", w.admin2)

    # The run bills each community by its own rule, else its company's for the city:
    # 100 m² at 2.50 yuan = 25000 fen, vacant since today, billed 7 months on (the
    # simulation clock runs as of that day).
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    later = add_months(month_start(today), 7)
    for community, admin in ((A, w.admin1), (B, w.admin1), (X, w.admin2)):
        unit = _unit(w, community, admin, "101", status="vacant")
        w.ok("POST", f"/units/{unit}/vacancies", admin, json={"registered_on": str(today)})
        w.ok("POST", f"/communities/{community}/billing-runs", w.clock if community != X
             else w.token([Role.service], CO2),
             json={"period_start": str(later), "as_of": str(later)})  # fmt: skip
    totals = {
        r["community_id"]: r["total_fen"]
        for r in _db(w.dsn, "SELECT community_id, total_fen FROM invoices WHERE run_id IS NOT NULL")
    }
    assert totals == {A: 17500, B: 22500, X: 12500}

    # Dropping the override: the company's rule applies again (next run).
    w.ok("DELETE", f"/communities/{B}/vacancy-rule", w.admin1)
    following = add_months(later, 1)
    w.ok("POST", f"/communities/{B}/billing-runs", w.clock,
         json={"period_start": str(following), "as_of": str(following)})  # fmt: skip
    next_month = _db(w.dsn, "SELECT total_fen FROM invoices WHERE community_id = $1 "
                     "AND period_start = $2", B, following)  # fmt: skip
    assert next_month == [{"total_fen": 17500}]


# -- item 7: company data only by company-level roles --------------------------------------


def test_company_name_is_changed_only_by_company_level_roles(world: World) -> None:
    w = world
    terms = {"company_id": CO1, "name": A, "city": CITY, "late_fee_daily_rate": "0.0001"}
    clerk = w.token([Role.fee_clerk], communities=[A])
    detail = w.refused(403, "PUT", f"/communities/{A}", clerk,
                       json={**terms, "company_name": "改名物业"})  # fmt: skip
    assert "company_name" in detail
    w.refused(403, "PUT", f"/communities/{A}", w.token([Role.company_admin], communities=[A]),
              json={**terms, "company_name": "改名物业"})  # fmt: skip
    w.refused(404, "PUT", f"/communities/{A}", w.admin2, json={**terms, "company_name": "x"})
    # The community's own terms stay the clerk's: with the stored name, or none.
    w.ok("PUT", f"/communities/{A}", clerk, json={**terms, "company_name": f"物业{CO1}"})
    w.ok("PUT", f"/communities/{A}", clerk, json={**terms, "name": "阳光花园"})
    assert _db(w.dsn, "SELECT name FROM companies WHERE company_id = $1", CO1) == [
        {"name": f"物业{CO1}"}
    ]

    published = len(_events(w.dsn, "community-updated"))
    w.ok("PUT", f"/communities/{A}", w.admin1, json={**terms, "company_name": "新名物业"})
    assert _db(w.dsn, "SELECT name FROM companies ORDER BY company_id") == [
        {"name": "新名物业"},
        {"name": f"物业{CO2}"},
    ]
    # Every community of the company learns the new name; the other company's none.
    renamed = _events(w.dsn, "community-updated")[published:]
    assert sorted((e["community_id"], e["company_name"]) for e in renamed) == [
        (A, "新名物业"),
        (B, "新名物业"),
    ]
    trail = _db(w.dsn, "SELECT before, after FROM audit_log WHERE action = 'company.updated'")
    assert [(t["before"], t["after"]) for t in trail] == [
        ({"name": f"物业{CO1}"}, {"name": "新名物业"})
    ]


# -- the company's back-dating window ---------------------------------------------------------


def test_backdate_days_is_a_company_setting_published_on_every_community(world: World) -> None:
    w = world
    path = f"/companies/{CO1}"
    w.refused(404, "PUT", path, w.admin2, json={"backdate_days": 30})
    w.refused(403, "PUT", path, w.token([Role.company_admin], communities=[A]),
              json={"backdate_days": 30})  # fmt: skip
    w.refused(403, "PUT", path, w.token([Role.finance]), json={"backdate_days": 30})
    w.refused(422, "PUT", path, w.admin1, json={"backdate_days": 32})
    w.refused(422, "PUT", path, w.admin1, json={"backdate_days": -1})
    assert w.ok("GET", path, w.admin1)["backdate_days"] == 7  # the default

    published = len(_events(w.dsn, "community-updated"))
    assert w.ok("PUT", path, w.admin1, json={"backdate_days": 2})["backdate_days"] == 2
    events = _events(w.dsn, "community-updated")[published:]
    assert sorted((e["community_id"], e["backdate_days"]) for e in events) == [(A, 2), (B, 2)]
    assert w.ok("GET", f"/communities/{A}", w.admin1)["backdate_days"] == 2
    assert w.ok("GET", f"/companies/{CO2}", w.admin2)["backdate_days"] == 7
    # New community events carry it too.
    w.ok("PUT", f"/communities/{A}", w.admin1,
         json={"company_id": CO1, "name": "阳光花园", "city": CITY})  # fmt: skip
    assert _events(w.dsn, "community-updated")[-1]["backdate_days"] == 2
    assert _db(w.dsn, "SELECT count(*) AS n FROM audit_log WHERE action = 'company.updated'") == [
        {"n": 1}
    ]

    # The window is what staff may back-date: 2 days now, not 3.
    invoice = _january_invoice(w, _unit(w, A, w.admin1, "201"))
    now = datetime.now(UTC)
    w.refused(403, "POST", f"/invoices/{invoice}/void", w.admin1,
              json={"reason": "开错了", "at": (now - timedelta(days=3)).isoformat()})  # fmt: skip
    w.ok("POST", f"/invoices/{invoice}/void", w.admin1,
         json={"reason": "开错了", "at": (now - timedelta(days=1)).isoformat()})  # fmt: skip


def _january_invoice(w: World, unit: str) -> str:
    """The unit's invoice of January 2026, issued by the simulation clock's run."""
    w.ok("POST", f"/communities/{A}/billing-runs", w.clock,
         json={"period_start": "2026-01-01", "as_of": "2026-01-01"})  # fmt: skip
    rows = _db(
        w.dsn, "SELECT invoice_id FROM invoices WHERE unit_id = $1 AND run_id IS NOT NULL", unit
    )
    return str(rows[0]["invoice_id"])


# -- item 6 for billing: client-chosen business times --------------------------------------


def _invoice(unit: str, **extra: Any) -> dict[str, Any]:
    return {"unit_id": unit, "period_start": "2026-01-01", "period_end": "2026-01-31",
            "due_date": "2026-01-31", "lines": [{"fee_item": "property_fee", "quantity": "100"}],
            **extra}  # fmt: skip


def test_business_times_are_the_callers_only_within_the_window(world: World) -> None:
    w = world
    finance = w.token([Role.finance])
    unit = _unit(w, A, w.admin1, "301")
    # A manual invoice issued "in January", or tomorrow: refused to staff; back-dated within
    # the window: recorded with both times.
    early = {"issued_at": "2026-01-01T00:00:00+08:00"}
    assert "issued_at" in w.refused(403, "POST", "/invoices", finance, json=_invoice(unit, **early))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    w.refused(403, "POST", "/invoices", finance, json=_invoice(unit, issued_at=tomorrow))
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    manual = w.ok("POST", "/invoices", finance,
                  json=_invoice(unit, issued_at=two_days_ago.isoformat()))  # fmt: skip
    assert datetime.fromisoformat(manual["issued_at"]) == two_days_ago
    assert datetime.now(UTC) - datetime.fromisoformat(manual["recorded_at"]) < timedelta(minutes=1)
    w.ok("POST", f"/invoices/{manual['invoice_id']}/void", finance, json={"reason": "重复"})
    invoice = _january_invoice(w, unit)

    # A 2030 as_of would publish inflated late fees: staff assess as of today only.
    path = f"/communities/{A}/late-fee-assessments"
    assert "as_of" in w.refused(403, "POST", path, finance, json={"as_of": "2030-01-01"})
    w.refused(403, "POST", path, finance, json={"as_of": "2026-03-01"})
    w.refused(404, "POST", path, w.token([Role.finance], CO2), json={})
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    result = w.ok("POST", path, finance, json={})
    assert result["as_of"] == str(today) and result["changed"] == 1
    assessed = _events(w.dsn, "late-fee-assessed")
    assert [e["as_of"] for e in assessed] == [str(today)]
    w.ok("POST", path, w.clock, json={"as_of": "2030-01-01"})  # the service role: any day

    # A billing run as of another day: the period is the caller's, the day is today.
    runs = f"/communities/{A}/billing-runs"
    w.refused(
        403, "POST", runs, finance, json={"period_start": "2026-01-01", "as_of": "2030-01-01"}
    )
    run = w.ok("POST", runs, finance, json={"period_start": str(today.replace(day=1))})
    assert run["created"] is True

    # Voids, waivers, write-offs: never forward-dated, back-dated within 7 days.
    now = datetime.now(UTC)
    for action, body in (
        ("void", {"reason": "开错了"}),
        ("late-fee-waivers", {"amount_fen": 1, "reason": "疫情", "approved_by": "经理"}),
        ("write-off", {"reason": "无法收回", "approved_by": "经理"}),
    ):
        for at in (now + timedelta(hours=1), now - timedelta(days=8)):
            detail = w.refused(403, "POST", f"/invoices/{invoice}/{action}", finance,
                               json={**body, "at": at.isoformat()})  # fmt: skip
            assert detail.startswith("at: ")
    # Registry facts: a vacancy registered long ago would buy a discount; a sale or handover
    # back-dated moves months between payers.
    clerk = w.token([Role.fee_clerk], communities=[A])
    long_ago = str(today - timedelta(days=60))
    w.refused(403, "POST", f"/units/{unit}/vacancies", clerk, json={"registered_on": long_ago})
    w.refused(403, "POST", f"/units/{unit}/sale", clerk,
              json={"sold_on": long_ago, "buyer": {"name": "李四"},
                    "seller_credit": "refund"})  # fmt: skip
    w.refused(403, "POST", f"/units/{unit}/handover", clerk,
              json={"handover_date": str(today + timedelta(days=1)), "owner": {"name": "李四"}})  # fmt: skip
    w.ok("POST", f"/units/{unit}/vacancies", clerk,
         json={"registered_on": str(today - timedelta(days=3))})  # fmt: skip
    w.refused(403, "POST", f"/units/{unit}/installment-plans", finance, json={
        "invoice_ids": [invoice], "parts": 2, "first_due": "2026-03-31", "reason": "失业",
        "at": "2026-02-01T00:00:00Z"})  # fmt: skip

    yesterday, later = now - timedelta(days=1), now - timedelta(hours=1)
    w.ok("POST", f"/invoices/{invoice}/late-fee-waivers", finance,
         json={"amount_fen": 1, "reason": "疫情", "approved_by": "经理",
               "at": yesterday.isoformat()})  # fmt: skip
    # A void dated at or before a waiver already recorded would close the invoice before
    # the waiver in the account's replay: refused with the reason.
    assert "waiver" in w.refused(422, "POST", f"/invoices/{invoice}/void", finance,
                                 json={"reason": "开错了", "at": yesterday.isoformat()})  # fmt: skip
    w.ok("POST", f"/invoices/{invoice}/void", finance,
         json={"reason": "开错了", "at": later.isoformat()})  # fmt: skip
    row = _db(w.dsn, "SELECT voided_at, voided_recorded_at FROM invoices "
              "WHERE invoice_id = $1", invoice)[0]  # fmt: skip
    # Both times kept: the business time chosen, the real time of the request.
    assert row["voided_at"] == later
    assert abs(row["voided_recorded_at"] - now) < timedelta(minutes=1)
    waiver = _db(w.dsn, "SELECT waived_at, created_at FROM late_fee_waivers")[0]
    assert waiver["waived_at"] == yesterday and waiver["created_at"] > yesterday


# -- item 8: ids are the server's; a client's reference is unique in its community ------------


def test_ids_are_random_and_a_reference_reveals_nothing_of_other_companies(world: World) -> None:
    w = world
    mine = w.ok("POST", "/units", w.admin1, json={
        "community_id": A, "reference": "A-101", "building": "1栋", "room": "101",
        "floor_area_m2": "100", "owner": {"name": "张三", "phone": "13812345678"}})  # fmt: skip
    assert RANDOM_ID.match(mine["unit_id"]) and mine["reference"] == "A-101"
    assert mine["unit_id"] != stable_id("unit", A, "1栋/-/101"), "derivable from the room"
    # Another company using the first company's reference, or its unit id as a reference:
    # created like any free one (no "already taken"), with an id of its own.
    for reference in ("A-101", mine["unit_id"]):
        theirs = w.ok("POST", "/units", w.admin2, json={
            "community_id": X, "reference": reference, "building": "1栋",
            "room": f"9{len(reference)}", "floor_area_m2": "100",
            "owner": {"name": "李四"}})  # fmt: skip
        assert theirs["unit_id"] != mine["unit_id"] and RANDOM_ID.match(theirs["unit_id"])
    # Within the caller's own community a reference names one unit (visible to them anyway).
    w.refused(409, "POST", "/units", w.admin1, json={
        "community_id": A, "reference": "A-101", "building": "1栋", "room": "102",
        "floor_area_m2": "100", "owner": {"name": "王五"}})  # fmt: skip
    again = w.ok("POST", "/units", w.admin1, json={
        "community_id": A, "reference": "A-101", "building": "1栋", "room": "101",
        "floor_area_m2": "100", "owner": {"name": "张三", "phone": "13812345678"}})  # fmt: skip
    assert again["unit_id"] == mine["unit_id"]

    invoice = w.ok("POST", "/invoices", w.admin1, json=_invoice(mine["unit_id"], reference="I-1"))
    assert RANDOM_ID.match(invoice["invoice_id"]) and invoice["reference"] == "I-1"
    their_unit = _unit(w, X, w.admin2, "701")
    for month, reference in ((1, "I-1"), (2, invoice["invoice_id"])):
        # (a month of an item is billed once: each invoice bills its own month)
        period = {"period_start": f"2026-0{month}-01", "period_end": f"2026-0{month}-28",
                  "due_date": f"2026-0{month}-28"}  # fmt: skip
        r = w.http.post("/invoices", headers=w.admin2,
                        json=_invoice(their_unit, reference=reference, **period))  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["invoice_id"] != invoice["invoice_id"]
    # The same reference for the same unit: the same invoice (a safe retry); for another
    # unit of the community: 409.
    retry = w.http.post("/invoices", headers=w.admin1,
                        json=_invoice(mine["unit_id"], reference="I-1"))  # fmt: skip
    assert retry.status_code == 200 and retry.json()["invoice_id"] == invoice["invoice_id"]
    other_unit = _unit(w, A, w.admin1, "103")
    w.refused(409, "POST", "/invoices", w.admin1, json=_invoice(other_unit, reference="I-1"))
    # An id of the client's choosing is refused with the way out (never silently ignored).
    detail = w.refused(422, "POST", "/invoices", w.admin2,
                       json=_invoice(their_unit, invoice_id=invoice["invoice_id"]))  # fmt: skip
    assert "reference" in str(detail)
    w.refused(422, "POST", "/units", w.admin2, json={
        "community_id": X, "unit_id": mine["unit_id"], "building": "1栋", "room": "999",
        "floor_area_m2": "100", "owner": {"name": "李四"}})  # fmt: skip
    # Another company's unit in the body: 404, nothing issued.
    w.refused(404, "POST", "/invoices", w.admin2, json=_invoice(mine["unit_id"]))


def test_ledger_import_matches_units_by_room_and_gives_random_ids(world: World) -> None:
    w = world
    clerk = w.token([Role.fee_clerk], communities=[A])
    existing = _unit(w, A, w.admin1, "301", building="1栋", entrance="1单元")
    params = {"filename": "l.csv", "opening_as_of": "2025-01-01"}
    # Arrears invoices dated years ahead: refused to staff, nothing imported.
    w.refused(403, "POST", f"/communities/{A}/ledger-imports", clerk, content=SAMPLE.read_bytes(),
              params={**params, "opening_as_of": "2030-01-01"})  # fmt: skip
    first = w.ok("POST", f"/communities/{A}/ledger-imports", clerk,
                 content=SAMPLE.read_bytes(), params=params)  # fmt: skip
    assert first["units_created"] == 1235 and first["units_existing"] == 1
    ids = {r["unit_key"]: r["unit_id"] for r in _db(w.dsn, "SELECT unit_key, unit_id FROM units")}
    assert ids["1栋/1单元/301"] == existing
    assert all(RANDOM_ID.match(i) for i in ids.values())
    assert stable_id("unit", A, "1栋/1单元/101") not in ids.values()
    before = snapshot(w.dsn)
    again = w.ok("POST", f"/communities/{A}/ledger-imports", clerk,
                 content=SAMPLE.read_bytes(), params=params)  # fmt: skip
    assert again["units_created"] == 0 and again["arrears_invoices"] == 0
    after = snapshot(w.dsn)
    assert after["units"] == before["units"] and after["invoices"] == before["invoices"]
    # Another company's import of the same file: its own units, nothing of the first's.
    w.ok("POST", f"/communities/{X}/ledger-imports", w.admin2,
         content=SAMPLE.read_bytes(), params=params)  # fmt: skip
    theirs = _db(w.dsn, "SELECT unit_id FROM units WHERE community_id = $1", X)
    assert len(theirs) == 1236 and not {r["unit_id"] for r in theirs} & set(ids.values())
