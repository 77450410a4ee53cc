"""Issue 17, rules 4, 7 and 8 through billing's HTTP API (real PostgreSQL and Kafka, in-process
app): schedules recorded as of today or imported once, advance collection capped on every
path, a unit-month billed once per fee item, installment parts per community and missed parts
judged on payments made after the plan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.service_layer import payments
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from propfee.events import PaymentReceived
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

CO = "co-m"
ITEMS = [
    {"code": "property_fee", "name": "物业服务费", "kind": "area", "rate_fen": "250",
     "unit_type": "residential"},
    {"code": "parking", "name": "车位管理费", "kind": "parking", "rate_fen": "30000"},
    {"code": "water", "name": "水费", "kind": "metered", "rate_fen": "410", "pass_through": True,
     "supplier_tariff_fen": "410", "tariff_source": "杭州水务 2024 居民水价"},
    {"code": "stair_light", "name": "公共照明", "kind": "shared_meter", "rate_fen": "65",
     "pass_through": True, "supplier_tariff_fen": "65", "tariff_source": "国网 2024 电价"},
    {"code": "repair_visit", "name": "维修", "kind": "one_off", "rate_fen": "5000"},
]  # fmt: skip
OLD_SCHEDULE = {
    "published_on": "2024-11-01",
    "effective_from": "2024-12-01",
    "approval_ref": "杭价〔2024〕7号",
    "pricing_type": "政府指导价",
    "items": ITEMS,
}


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_rules")


class Api:
    def __init__(self, http: TestClient, issuer: DevIssuer, dsn: str) -> None:
        self.http, self.issuer, self.dsn = http, issuer, dsn

    def token(self, *roles: Role, communities: Any = "*") -> dict[str, str]:
        return bearer(staff_token(self.issuer, roles, company_id=CO, communities=communities))

    @property
    def admin(self) -> dict[str, str]:
        return self.token(Role.company_admin)

    @property
    def clock(self) -> dict[str, str]:
        """The simulation clock: the service role acts as of its own day."""
        return self.token(Role.service)

    def ok(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def refused(
        self, status: int, method: str, path: str, headers: dict[str, str], **kw: Any
    ) -> str:
        r = self.http.request(method, path, headers=headers, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return str(r.json()["detail"])

    def community(self, community_id: str, **terms: Any) -> None:
        body = {"company_id": CO, "company_name": "示例物业", "name": community_id,
                "city": "杭州", "late_fee_daily_rate": "0.0001", **terms}  # fmt: skip
        self.ok("PUT", f"/communities/{community_id}", self.admin, json=body)

    def unit(self, community_id: str, room: str, **extra: Any) -> str:
        body = {"community_id": community_id, "building": "1栋", "room": room,
                "floor_area_m2": "100", "owner": {"name": "张三"}, **extra}  # fmt: skip
        return str(self.ok("POST", "/units", self.admin, json=body)["unit_id"])

    def db(self, sql: str, *args: Any) -> list[Any]:
        async def go() -> list[Any]:
            pool = await create_pool(self.dsn)
            rows = await pool.fetch(sql, *args)
            await pool.close()
            return [dict(r) for r in rows]

        return asyncio.run(go())

    def pay(self, unit_id: str, payment_id: str, fen: int, day: date, invoices: list[str]) -> None:
        async def go() -> None:
            pool = await create_pool(self.dsn)
            at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
            event = PaymentReceived(
                payment_id=payment_id, community_id="x", unit_id=unit_id, payer_party_id="p",
                amount_fen=fen, invoice_ids=invoices, channel="alipay", paid_at=at,
                received_at=at,
            )  # fmt: skip
            async with pool.acquire() as conn, conn.transaction():
                await payments.record_payment(conn, event, None)  # type: ignore[arg-type]
            await pool.close()

        asyncio.run(go())


@pytest.fixture
def api(billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer) -> Iterator[Api]:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    with TestClient(trust(create_app(settings), dev_issuer)) as http:
        for _ in range(100):
            if http.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        yield Api(http, dev_issuer, billing_db)


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


# --- 4. Thirty days' notice counts from the day a schedule is recorded --------------------


def test_a_schedule_is_recorded_today_and_the_history_before_propfee_imported_once(
    api: Api,
) -> None:
    api.community("c-imp")
    path = "/communities/c-imp/fee-schedules"
    finance = api.token(Role.finance)
    # Back-dated or forward-dated by staff, even a company admin: refused (the 30 days would
    # run from a day the version did not exist).
    for headers in (finance, api.admin):
        detail = api.refused(422, "POST", path, headers, json=OLD_SCHEDULE)
        assert "not the day of recording" in detail and "/fee-schedules/import" in detail
    tomorrow = {**OLD_SCHEDULE, "published_on": str(_today() + timedelta(days=1)),
                "effective_from": str(_today() + timedelta(days=40))}  # fmt: skip
    api.refused(422, "POST", path, finance, json=tomorrow)

    # The import: company level only, with its approval reference, once.
    history = {"approval_ref": "公司批复〔2026〕9号", "versions": [
        OLD_SCHEDULE, {**OLD_SCHEDULE, "published_on": "2025-05-01", "effective_from": "2025-06-01",
                       "approval_ref": "杭价〔2025〕3号"}]}  # fmt: skip
    api.refused(403, "POST", f"{path}/import", finance, json=history)
    stranger = bearer(staff_token(api.issuer, [Role.company_admin], company_id="co-other"))
    assert api.refused(404, "POST", f"{path}/import", stranger, json=history).endswith("not found")
    scoped_admin = api.token(Role.company_admin, communities=["c-imp"])
    assert "company admin for every community" in api.refused(
        403, "POST", f"{path}/import", scoped_admin, json=history
    )
    no_ref = {**history, "approval_ref": ""}
    api.refused(422, "POST", f"{path}/import", api.admin, json=no_ref)
    bad = {**history, "versions": [OLD_SCHEDULE, {**OLD_SCHEDULE, "effective_from": "2024-11-15"}]}
    assert "versions[1]" in api.refused(422, "POST", f"{path}/import", api.admin, json=bad)
    assert api.db("SELECT * FROM fee_schedules WHERE community_id = 'c-imp'") == []

    imported = api.ok("POST", f"{path}/import", api.admin, json=history)
    assert [v["version"] for v in imported["imported"]] == [1, 2]
    versions = api.ok("GET", path, finance)["items"]
    assert [(v["published_on"], v["effective_from"]) for v in versions] == [
        ("2024-11-01", "2024-12-01"),
        ("2025-05-01", "2025-06-01"),
    ]
    rows = api.db("SELECT recorded_as, import_ref FROM fee_schedules ORDER BY version")
    assert rows == [{"recorded_as": "imported", "import_ref": "公司批复〔2026〕9号"}] * 2
    [trail] = api.db("SELECT * FROM audit_log WHERE action = 'fee_schedule.imported'")
    assert trail["reason"] == "公司批复〔2026〕9号" and trail["subject_id"] == "c-imp"
    after = trail["after"] if isinstance(trail["after"], dict) else json.loads(trail["after"])
    assert len(after["versions"]) == 2
    assert "once" in api.refused(409, "POST", f"{path}/import", api.admin, json=history)

    # Today's version: recorded today (omitted or sent), effective 30 days later at the earliest.
    now = {**OLD_SCHEDULE, "published_on": None, "effective_from": str(_today() + timedelta(29))}
    assert "less than 30 days" in api.refused(422, "POST", path, finance, json=now)
    # The refusal carries the earliest day allowed, machine-readably (the console offers it).
    early = api.http.post(path, headers=finance, json=now).json()
    assert early["earliest_effective_from"] == str(_today() + timedelta(30))
    assert (early["published_on"], early["notice_days"]) == (str(_today()), 30)
    assert early["errors"][0]["field"] == "effective_from"
    now["effective_from"] = str(_today() + timedelta(30))
    assert api.ok("POST", path, finance, json=now)["version"] == 3
    assert api.ok("GET", path, finance)["items"][-1]["published_on"] == str(_today())


def test_the_schedule_history_is_walked_a_page_at_a_time(api: Api) -> None:
    """Cursor pages (limit=2): every version once, in order, with ``next`` and a Link header
    to the next page; a cursor this API did not give out is 422, naming the cursor."""
    api.community("c-pages")
    path = "/communities/c-pages/fee-schedules"
    versions = [
        {
            **OLD_SCHEDULE,
            "published_on": f"2024-{m:02d}-01",
            "effective_from": f"2024-{m + 1:02d}-15",
        }
        for m in range(1, 10, 2)
    ]
    api.ok("POST", f"{path}/import", api.admin,
           json={"approval_ref": "公司批复〔2026〕9号", "versions": versions})  # fmt: skip
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = api.http.get(path, headers=api.admin, params=params)
        assert r.status_code == 200, r.text
        page, pages = r.json(), pages + 1
        assert len(page["items"]) <= 2
        seen += [v["version"] for v in page["items"]]
        cursor = page["next"]
        if cursor is None:
            assert "link" not in r.headers
            break
        assert 'rel="next"' in r.headers["link"] and "cursor=" in r.headers["link"]
    assert (seen, pages) == ([1, 2, 3, 4, 5], 3)
    for bad in ("not-a-cursor!", "WyJ4Il0"):  # garbage; a key of the wrong type (["x"])
        r = api.http.get(path, headers=api.admin, params={"cursor": bad})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["query.cursor"]
    unit = api.unit("c-pages", "101")
    r = api.http.get(f"/units/{unit}/installment-plans", headers=api.admin,
                     params={"cursor": "WzFd"})  # fmt: skip
    assert r.status_code == 422, r.text


def test_the_simulation_clock_records_as_of_its_day_and_an_import_comes_first(api: Api) -> None:
    api.community("c-clock")
    path = "/communities/c-clock/fee-schedules"
    assert api.ok("POST", path, api.clock, json=OLD_SCHEDULE)["version"] == 1
    assert api.ok("GET", path, api.admin)["items"][0]["published_on"] == "2024-11-01"
    history = {"approval_ref": "公司批复〔2026〕9号", "versions": [OLD_SCHEDULE]}
    detail = api.refused(409, "POST", f"{path}/import", api.admin, json=history)
    assert "already recorded" in detail


# --- 7. Advance collection is capped; a unit-month is billed once per fee item ------------


def _invoice(unit_id: str, month: str, item: str = "property_fee", **extra: Any) -> dict[str, Any]:
    start = date.fromisoformat(f"{month}-01")
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return {"unit_id": unit_id, "period_start": str(start), "period_end": str(end),
            "due_date": str(end), "lines": [{"fee_item": item, "quantity": "100"}], **extra}  # fmt: skip


def _issued(api: Api) -> list[dict[str, Any]]:
    rows = api.db(
        "SELECT payload FROM outbox WHERE topic LIKE '%billing.invoice-issued' ORDER BY id"
    )
    return [json.loads(r["payload"]) for r in rows]


def test_advance_collection_is_capped_on_runs_and_manual_invoices(api: Api) -> None:
    api.community("c-cap", contract_end="2027-06-30")
    api.ok("POST", "/communities/c-cap/fee-schedules/import", api.admin,
           json={"approval_ref": "公司批复", "versions": [OLD_SCHEDULE]})  # fmt: skip
    unit = api.unit("c-cap", "101")
    runs = "/communities/c-cap/billing-runs"
    finance = api.token(Role.finance)
    # Staff run as of today: as_of cannot move the window (403), the cap counts from today.
    later = str(_today() + timedelta(days=400))
    api.refused(403, "POST", runs, finance, json={"period_start": later, "as_of": later})
    assert "past the service contract's end" in api.refused(
        422, "POST", runs, finance, json={"period_start": "2027-07-01"}
    )
    # The simulation clock's day is its today: 12 months from 2026-01-01 end in January 2027.
    detail = api.refused(422, "POST", runs, api.clock,
                         json={"period_start": "2027-02-01", "as_of": "2026-01-01"})  # fmt: skip
    assert "more than 12 months ahead of 2026-01-01" in detail
    # Manual invoices: the same cap (they had none).
    assert "past the service contract's end" in api.refused(
        422, "POST", "/invoices", finance, json=_invoice(unit, "2027-07")
    )
    # issued_at back-dated within the window does not move it either: counted from today.
    back = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    detail = api.refused(422, "POST", "/invoices", finance,
                         json=_invoice(unit, "2027-07", issued_at=back))  # fmt: skip
    assert "past the service contract's end" in detail
    api.community("c-cap", contract_end="2030-12-31", advance_cap_months=3)
    # Published for the other paths (payments' on-account prepayments apply the same cap).
    rows = api.db("SELECT payload FROM outbox WHERE topic LIKE '%community-updated' ORDER BY id")
    last = json.loads(rows[-1]["payload"])
    assert last["advance_cap_months"] == 3 and last["contract_end"] == "2030-12-31"
    limit = _today().replace(day=1) + timedelta(days=4 * 31)
    assert "more than 3 months ahead" in api.refused(
        422, "POST", "/invoices", finance, json=_invoice(unit, f"{limit:%Y-%m}")
    )
    assert api.db("SELECT * FROM invoices") == []


def test_a_unit_month_is_billed_once_per_fee_item(api: Api) -> None:
    api.community("c-once")
    api.ok("POST", "/communities/c-once/fee-schedules/import", api.admin,
           json={"approval_ref": "公司批复", "versions": [OLD_SCHEDULE]})  # fmt: skip
    parked = api.unit("c-once", "101", parking_spaces=["B1-001"])
    plain = api.unit("c-once", "102")
    api.ok("POST", "/communities/c-once/meter-readings", api.admin, json=[
        {"unit_id": plain, "item_code": "water", "period_month": "2026-01-01",
         "previous": "100", "current": "110"}])  # fmt: skip
    api.ok("POST", "/communities/c-once/shared-meter-readings", api.admin, json=[
        {"item_code": "stair_light", "period_month": "2026-01-01", "quantity": "100"}])  # fmt: skip
    api.ok("POST", f"/units/{plain}/charges", api.admin, json={
        "item_code": "repair_visit", "quantity": "1", "period_month": "2026-01-01"})  # fmt: skip
    runs = "/communities/c-once/billing-runs"
    jan = api.ok(
        "POST", runs, api.clock, json={"period_start": "2026-01-01", "as_of": "2026-01-01"}
    )
    # Each unit: its property-fee invoice, and its utilities (water, stair light) apart.
    assert jan["invoices"] == 4 and jan["skipped"] == 0
    # January's property fee is billed: a manual invoice for it is refused, February's is not.
    detail = api.refused(409, "POST", "/invoices", api.admin, json=_invoice(parked, "2026-01"))
    assert "property_fee 2026-01" in detail and "billed once" in detail
    feb = api.ok("POST", "/invoices", api.admin, json=_invoice(parked, "2026-02"))
    assert feb["total_fen"] == 25000

    # A quarterly run over the same months bills what is left and says what it skipped.
    q1 = api.ok("POST", runs, api.clock,
                json={"period_start": "2026-01-01", "cycle": "quarterly", "as_of": "2026-01-01"})  # fmt: skip
    assert q1["created"] and q1["invoices"] == 2
    assert q1["skipped"] == 4  # parked: Jan property fee and parking, Feb property fee; plain: Jan
    events = _issued(api)
    quarterly = {e["unit_id"]: e for e in events if e["period_end"] == "2026-03-31"}
    assert [(line["fee_item"], line["amount_fen"]) for line in quarterly[parked]["lines"]] == [
        ("parking", 30000),  # February
        ("property_fee", 25000),  # March
        ("parking", 30000),  # March
    ]
    assert [(line["fee_item"], line["amount_fen"]) for line in quarterly[plain]["lines"]] == [
        ("property_fee", 50000)  # February and March; two months are no prepaid quarter
    ]
    assert q1["total_fen"] == 85000 + 50000
    # The skipped unit-months have no second InvoiceIssued; the January reading is billed once.
    for unit_id in (parked, plain):
        january = [
            e for e in events for line in e["lines"]
            if e["unit_id"] == unit_id and line["fee_item"] == "property_fee"
            and "2026-01" in line["description"]
        ]  # fmt: skip
        assert len(january) == 1
    water = [line for e in events for line in e["lines"] if line["fee_item"] == "water"]
    assert len(water) == 1 and water[0]["amount_fen"] == 4100
    # So are the shared meter (split over both units) and the one-off service.
    shared = [line for e in events for line in e["lines"] if line["fee_item"] == "stair_light"]
    assert len(shared) == 2 and sum(line["amount_fen"] for line in shared) == 6500
    repair = [line for e in events for line in e["lines"] if line["fee_item"] == "repair_visit"]
    assert len(repair) == 1
    # The same quarterly run again: found, nothing new.
    again = api.http.post(runs, headers=api.clock,
                          json={"period_start": "2026-01-01", "cycle": "quarterly", "as_of": "2026-01-01"})  # fmt: skip
    assert again.status_code == 200 and again.json()["skipped"] == 4
    assert len(_issued(api)) == len(events)

    # A void frees the month: the manual February invoice voided, February can be billed again.
    api.ok("POST", f"/invoices/{feb['invoice_id']}/void", api.admin, json={"reason": "开错了"})
    assert api.ok("POST", "/invoices", api.admin, json=_invoice(parked, "2026-02"))["total_fen"]
    api.refused(409, "POST", "/invoices", api.admin, json=_invoice(parked, "2026-03", "parking"))


# --- 8. Installment plans -------------------------------------------------------------------


def test_installment_parts_per_community_and_missed_parts_judged_on_later_payments(
    api: Api,
) -> None:
    api.community("c-plan")
    api.ok("POST", "/communities/c-plan/fee-schedules/import", api.admin,
           json={"approval_ref": "公司批复", "versions": [OLD_SCHEDULE]})  # fmt: skip
    unit = api.unit("c-plan", "101")
    other = api.unit("c-plan", "102")
    runs = "/communities/c-plan/billing-runs"
    for month in ("2026-01-01", "2026-02-01"):
        api.ok("POST", runs, api.clock, json={"period_start": month, "as_of": month})
    invoices = {
        (r["unit_id"], str(r["period_start"])): r["invoice_id"]
        for r in api.db("SELECT unit_id, period_start, invoice_id FROM invoices")
    }
    jan, feb = invoices[(unit, "2026-01-01")], invoices[(unit, "2026-02-01")]
    # February's invoice is paid before the plan (named); January's stays open.
    api.pay(unit, "pay-before", 25000, date(2026, 2, 5), [feb])

    plans = f"/units/{unit}/installment-plans"
    body = {"invoice_ids": [jan], "first_due": "2026-03-31", "reason": "失业",
            "at": "2026-02-15T00:00:00+00:00"}  # fmt: skip
    for parts in (2, 7):  # the default range is 3-6
        detail = api.refused(422, "POST", plans, api.clock, json={**body, "parts": parts})
        assert "range of 3-6" in detail
    api.refused(422, "POST", plans, api.clock, json={**body, "parts": 13})  # never above 12
    plan = api.ok("POST", plans, api.clock, json={**body, "parts": 3})
    amounts = [p["amount_fen"] for p in plan["parts"]]
    assert sum(amounts) == 25000

    # A community may set its own range within 2-12.
    assert "installment" in api.refused(
        422, "PUT", "/communities/c-plan", api.admin,
        json={"company_id": CO, "name": "c-plan", "city": "杭州", "installment_max_parts": 13},
    )  # fmt: skip
    api.community("c-plan", installment_min_parts=2, installment_max_parts=12)
    other_jan = invoices[(other, "2026-01-01")]
    two = {**body, "invoice_ids": [other_jan], "parts": 2}
    assert (
        len(api.ok("POST", f"/units/{other}/installment-plans", api.clock, json=two)["parts"]) == 2
    )

    # The first part is paid after the plan started.
    api.pay(unit, "pay-part-1", amounts[0], date(2026, 3, 20), [jan])
    # February's invoice voided later: the money paid before the plan comes back as credit
    # and pays January's invoice now; that is no installment paid.
    api.ok("POST", f"/invoices/{feb}/void", api.admin, json={"reason": "重复开票"})
    st = api.ok("GET", f"/units/{unit}/statement", api.admin)
    assert (
        next(i for i in st["invoices"] if i["invoice_id"] == jan)["principal_outstanding_fen"] == 0
    )
    [listed] = api.ok("GET", plans, api.admin, params={"as_of": str(_today())})["items"]
    assert listed["paid_fen"] == amounts[0]
    assert [p["status"] for p in listed["parts"]] == ["paid", "missed", "missed"]
    assert listed["missed"]


def test_a_statement_defaults_to_today_in_the_community_s_time_zone(api: Api) -> None:
    """Kiritimati (UTC+14) and Pago Pago (UTC-11) are never on the same date: each
    community's statement, plans and reports default to its own local today, never the UTC
    date (which for a Shanghai community is yesterday from 00:00 to 08:00 local time)."""
    for community, zone in (("c-east", "Pacific/Kiritimati"), ("c-west", "Pacific/Pago_Pago")):
        api.community(community, time_zone=zone)
        unit = api.unit(community, "101")
        today = str(datetime.now(ZoneInfo(zone)).date())
        assert api.ok("GET", f"/units/{unit}/statement", api.admin)["as_of"] == today
