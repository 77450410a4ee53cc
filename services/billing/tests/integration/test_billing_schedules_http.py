"""Billing runs configured per community from data, over HTTP with real tokens and PostgreSQL.

Each community's schedule (cycle, run day) is set by its company's admins only; one call,
``POST /billing-runs/due``, starts every run that is due and absent in the caller's scope,
and again starts nothing; another company's communities are neither seen nor billed, except
by a deployment-wide service token. ``propfee_billing_runs_missing`` counts what is due and
absent, at scrape time."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.service_layer.run_schedules import count_missing
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

CO1, CO2 = "co-1", "co-2"
A, B, X = "c-sa", "c-sb", "c-sx"  # co-1 has A and B, co-2 has X


def _db(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = await create_pool(dsn)
        try:
            return [dict(r) for r in await pool.fetch(sql, *args)]
        finally:
            await pool.close()

    return asyncio.run(go())


def _missing(dsn: str, now: datetime) -> int:
    async def go() -> int:
        pool = await create_pool(dsn)
        try:
            return await count_missing(pool, now)
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

    def call(
        self, method: str, path: str, headers: dict[str, str], status: int = 200, **kw: Any
    ) -> Any:
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def runs(self) -> list[tuple[str, date, str]]:
        rows = _db(
            self.dsn,
            "SELECT community_id, period_start, cycle FROM billing_runs ORDER BY 1, 2",
        )
        return [(r["community_id"], r["period_start"], r["cycle"]) for r in rows]


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_schedules")


@pytest.fixture
def world(billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer) -> Iterator[World]:
    dsn = billing_db
    settings = BillingSettings(
        database_url=dsn, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    app = trust(create_app(settings), dev_issuer)
    with TestClient(app) as http:
        for _ in range(100):
            if http.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        w = World(http, dev_issuer, dsn)
        for company, community in ((CO1, A), (CO1, B), (CO2, X)):
            admin = w.token([Role.company_admin], company)
            w.call("PUT", f"/communities/{community}", admin, json={
                "company_id": company, "company_name": f"物业{company}", "name": community,
                "city": "杭州", "late_fee_daily_rate": "0.0001"})  # fmt: skip
            w.call("POST", f"/communities/{community}/fee-schedules/import", admin, status=201, json={
                "approval_ref": "公司批复〔2024〕1号", "versions": [{
                "published_on": "2024-11-01", "effective_from": "2024-12-01",
                "approval_ref": "杭价〔2024〕7号", "pricing_type": "政府指导价",
                "items": [{"code": "property_fee", "name": "物业服务费", "kind": "area",
                           "rate_fen": "250", "unit_type": "*"}]}]})  # fmt: skip
            w.call("POST", "/units", admin, status=201, json={
                "community_id": community, "building": "1栋", "room": "101",
                "floor_area_m2": "100", "owner": {"name": "张三", "phone": "13812345678"}})  # fmt: skip
        yield w


def test_a_schedule_is_set_by_its_companys_admins_only(world: World) -> None:
    w = world
    admin1, admin2 = w.token([Role.company_admin]), w.token([Role.company_admin], CO2)
    path = f"/communities/{A}/billing-schedule"
    # Existing communities: monthly, due on the period's first day.
    now = w.call("GET", path, admin1)
    assert (now["cycle"], now["run_day"], now["enabled"]) == ("monthly", 1, True)
    assert now["due_on"] == now["period_start"]
    quarterly = {"cycle": "quarterly", "run_day": 10, "enabled": True}
    # Another company: 404 (read or write), as for a community that does not exist.
    w.call("GET", path, admin2, status=404)
    w.call("PUT", path, admin2, status=404, json=quarterly)
    # Not a company admin: 403; out of range: 422.
    w.call("PUT", path, w.token([Role.fee_clerk]), status=403, json=quarterly)
    w.call("PUT", path, admin1, status=422, json={**quarterly, "run_day": 29})
    w.call("PUT", path, admin1, status=422, json={**quarterly, "cycle": "weekly"})
    assert w.call("GET", path, admin1)["cycle"] == "monthly"
    # A company admin scoped to community A sets A, not B.
    scoped = w.token([Role.company_admin], communities=[A])
    saved = w.call("PUT", path, scoped, json=quarterly)
    assert (saved["cycle"], saved["run_day"]) == ("quarterly", 10)
    start = date.fromisoformat(saved["period_start"])
    assert start.month in (1, 4, 7, 10) and start.day == 1
    assert date.fromisoformat(saved["due_on"]) == start.replace(day=10)
    w.call("PUT", f"/communities/{B}/billing-schedule", scoped, status=404, json=quarterly)
    w.call("PUT", path, admin1, json=quarterly)  # the same again: nothing to audit
    audit = _db(w.dsn, "SELECT action, before, after FROM audit_log "
                "WHERE action = 'billing_schedule.set'")  # fmt: skip
    assert len(audit) == 1


def test_due_runs_start_once_in_the_callers_scope(world: World) -> None:
    w = world
    co1_service = w.token([Role.service])
    everyone = w.token([Role.service], "*")
    admin1 = w.token([Role.company_admin])
    w.call("PUT", f"/communities/{B}/billing-schedule", admin1,
           json={"cycle": "quarterly", "run_day": 10})  # fmt: skip
    jan5 = {"as_of": "2025-01-05"}
    # 5 January: A (monthly, day 1) is due; B (quarterly, day 10) is not yet; X is co-2's.
    assert _missing(w.dsn, datetime(2025, 1, 5, 4, tzinfo=UTC)) == 2  # A and X
    first = w.call("POST", "/billing-runs/due", co1_service, json=jan5)
    assert first["checked"] == 2 and first["not_due"] == 1 and first["present"] == 0
    assert [(s["community_id"], s["period_start"], s["period_end"], s["cycle"])
            for s in first["started"]] == [(A, "2025-01-01", "2025-01-31", "monthly")]  # fmt: skip
    assert first["started"][0]["invoices"] == 1 and first["failed"] == []
    assert w.runs() == [(A, date(2025, 1, 1), "monthly")]
    # The same call again: nothing new.
    again = w.call("POST", "/billing-runs/due", co1_service, json=jan5)
    assert again["started"] == [] and again["present"] == 1
    assert w.runs() == [(A, date(2025, 1, 1), "monthly")]
    assert _missing(w.dsn, datetime(2025, 1, 5, 4, tzinfo=UTC)) == 1  # X only
    # 10 January: B's quarter is due; A's month is there already.
    jan10 = w.call("POST", "/billing-runs/due", co1_service, json={"as_of": "2025-01-10"})
    assert [(s["community_id"], s["period_end"]) for s in jan10["started"]] == [(B, "2025-03-31")]
    assert jan10["present"] == 1
    # Staff may run as of today only.
    w.call("POST", "/billing-runs/due", admin1, status=403, json={"as_of": "2025-01-10"})
    # co-2's admin, as of today: its own community only; co-1's untouched.
    before = w.runs()
    own = w.call("POST", "/billing-runs/due", w.token([Role.company_admin], CO2), json={})
    assert own["checked"] == 1 and [s["community_id"] for s in own["started"]] == [X]
    assert [r for r in w.runs() if r[0] != X] == before
    # A deployment-wide service token covers every company: X's January run, the rest there.
    wide = w.call("POST", "/billing-runs/due", everyone, json={"as_of": "2025-01-10"})
    assert wide["checked"] == 3
    assert [s["community_id"] for s in wide["started"]] == [X]
    assert wide["present"] == 2
    assert _missing(w.dsn, datetime(2025, 1, 10, 4, tzinfo=UTC)) == 0
    # February: the monthly ones again (A and X), B's quarter is still there.
    assert _missing(w.dsn, datetime(2025, 2, 1, 4, tzinfo=UTC)) == 2
    # Late fees for every community of the caller's scope in one call.
    fees = w.call("POST", "/late-fee-assessments", co1_service, json={"as_of": "2025-03-01"})
    assert [c["community_id"] for c in fees["communities"]] == [A, B]


def test_the_missing_runs_gauge_is_measured_at_scrape_time(world: World) -> None:
    w = world

    def scraped() -> float:
        text = w.http.get("/metrics").text
        match = re.search(r"^propfee_billing_runs_missing (\S+)$", text, re.M)
        assert match, "propfee_billing_runs_missing is not exposed"
        return float(match.group(1))

    # Today every community's monthly run (due on the 1st) is absent.
    assert scraped() == 3
    w.call("POST", "/billing-runs/due", w.token([Role.company_admin]), json={})
    assert scraped() == 1  # co-2's community
    w.call("PUT", f"/communities/{X}/billing-schedule", w.token([Role.company_admin], CO2),
           json={"cycle": "monthly", "run_day": 1, "enabled": False})  # fmt: skip
    assert scraped() == 0


def test_two_calls_at_once_start_each_run_once(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    w = world
    everyone = w.token([Role.service], "*")
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: w.call(
                    "POST", "/billing-runs/due", everyone, json={"as_of": "2025-02-03"}
                ),
                range(4),
            )
        )
    started = sorted(s["community_id"] for a in answers for s in a["started"])
    assert started == [A, B, X]  # each once, whichever call started it
    assert all(a["failed"] == [] for a in answers)
    assert w.runs() == [(c, date(2025, 2, 1), "monthly") for c in (A, B, X)]
