"""billing as a case of the security tests: a world of three communities and one valid
request per operation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.settings import ServiceSettings
from tests.security.cases import Example, Ids, SecuredService, World
from tests.support.auth import bearer
from tests.support.billing_api import SCHEDULE_ITEMS, invoice_body

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,租户姓名,租户电话,"
    "缴费责任人,车位号,车位月租金,期初欠费金额,欠费起始月\n"
    "8栋,1单元,801,住宅,90.00,已入住,2019-06-30,赵六,13912345678,,,业主,,,,\n"
).encode()


def _today() -> date:
    """Today where the communities are: staff record a schedule as of today (or back-dated
    within the company's window)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(settings)


def _ok(r: object) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 300, r.text  # type: ignore[attr-defined]


def _seed_community(
    http: TestClient, issuer: DevIssuer, company: str, community: str, tag: str
) -> Ids:
    admin = bearer(issuer.mint("seed", [Role.company_admin, Role.finance], company, "*"))
    _ok(
        http.put(
            f"/communities/{community}",
            headers=admin,
            json={
                "company_id": company,
                "company_name": f"物业{company}",
                "name": f"小区{tag}",
                "city": "杭州",
                "late_fee_daily_rate": "0.0001",
            },
        )
    )
    _ok(
        http.post(
            f"/communities/{community}/fee-schedules/import",
            headers=admin,
            json={"approval_ref": "公司批复〔2024〕1号", "versions": [{
                "published_on": "2024-11-01",
                "effective_from": "2024-12-01",
                "approval_ref": "杭价〔2024〕7号",
                "pricing_type": "政府指导价",
                "items": [
                    *SCHEDULE_ITEMS,
                    {"code": "water", "name": "水费", "kind": "metered", "rate_fen": "410",
                     "pass_through": True, "supplier_tariff_fen": "410",
                     "tariff_source": "杭州水务 杭价〔2024〕3号"},
                    {"code": "stair_light", "name": "公共照明", "kind": "shared_meter",
                     "rate_fen": "65", "pass_through": True, "supplier_tariff_fen": "65",
                     "tariff_source": "国网杭州供电公司 居民电价表"},
                    {"code": "repair_visit", "name": "维修", "kind": "one_off",
                     "rate_fen": "5000"},
                ],
            }]},
        )
    )  # fmt: skip
    r = http.post(
        "/units",
        headers=admin,
        json={
            "community_id": community,
            "building": "1栋",
            "room": "101",
            "floor_area_m2": "98.50",
            "owner": {"name": "张三", "phone": "13812345678"},
        },
    )
    _ok(r)
    unit = r.json()
    party = next(p["party_id"] for p in unit["parties"] if p["pays"])
    r = http.post(
        "/invoices", headers=admin, json=invoice_body(unit["unit_id"], f"ref-{community}")
    )
    _ok(r)
    invoice_id = r.json()["invoice_id"]
    payment = f"pay-{community}"
    _pay(http, community, unit["unit_id"], party, payment)
    run = http.post(
        f"/communities/{community}/billing-runs", headers=admin, json={"period_start": "2026-01-01"}
    )
    _ok(run)
    waiver = http.post(f"/invoices/{invoice_id}/late-fee-waiver-requests", headers=admin,
                       json={"amount_fen": 1, "reason": "疫情"})  # fmt: skip
    _ok(waiver)
    r = http.post(f"/payments/{payment}/e-invoice-requests", headers=admin, json={"title": "张三"})
    _ok(r)
    return {
        "company_id": company,
        "community_id": community,
        "unit_id": unit["unit_id"],
        "party_id": party,
        "invoice_id": invoice_id,
        "invoice_reference": f"ref-{community}",
        "payment_id": payment,
        "request_id": r.json()["request_id"],
        "waiver_request_id": waiver.json()["request_id"],
        "run_id": run.json()["run_id"],
        "city": "杭州",
    }


def _pay(http: TestClient, community: str, unit_id: str, party: str, payment_id: str) -> None:
    """A payment as billing records it from payments.payment-received (in the app's loop)."""
    from billing.service_layer import payments
    from propfee.events import PaymentReceived

    at = datetime(2026, 1, 20, 2, tzinfo=UTC)
    event = PaymentReceived(
        payment_id=payment_id,
        community_id=community,
        unit_id=unit_id,
        payer_party_id=party,
        amount_fen=10000,
        channel="alipay",
        paid_at=at,
        received_at=at,
    )
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def record() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await payments.record_payment(conn, event, None)

    http.portal.call(record)  # type: ignore[union-attr]


def seed(http: TestClient, issuer: DevIssuer, run: str) -> World:
    return World(
        company_id="co-1",
        mine=_seed_community(http, issuer, "co-1", f"{run}-a", "A"),
        other=_seed_community(http, issuer, "co-1", f"{run}-b", "B"),
        foreign_company_id="co-2",
        foreign=_seed_community(http, issuer, "co-2", f"{run}-x", "X"),
    )


PERIOD = {"start": "2026-01-01", "end": "2026-01-31"}
EXAMPLES = {
    "PUT /communities/{community_id}": lambda ids: Example(json={
        "company_id": "co-1", "company_name": "物业co-1", "name": "小区A", "city": "杭州",
        "late_fee_daily_rate": "0.0001"}),
    "GET /communities/{community_id}": lambda ids: Example(),
    "GET /companies/{company_id}": lambda ids: Example(),
    "PUT /companies/{company_id}": lambda ids: Example(json={"backdate_days": 7}),
    "PUT /companies/{company_id}/vacancy-rules/{city}": lambda ids: Example(
        json={"after_months": 6, "payable_share": "0.7"}),
    "PUT /communities/{community_id}/vacancy-rule": lambda ids: Example(
        json={"after_months": 6, "payable_share": "0.8"}),
    "DELETE /communities/{community_id}/vacancy-rule": lambda ids: Example(),
    "POST /units": lambda ids: Example(json={
        "community_id": ids["community_id"], "building": "9栋", "room": "901",
        "floor_area_m2": "88", "owner": {"name": "李四", "phone": "13900001111"}}),
    "GET /units/{unit_id}": lambda ids: Example(),
    "POST /units/{unit_id}/handover": lambda ids: Example(
        json={"handover_date": str(_today()), "owner": {"name": "王五"}}),
    "POST /units/{unit_id}/sale": lambda ids: Example(
        json={"sold_on": str(_today()), "buyer": {"name": "李四", "phone": "13900001111"},
              "seller_credit": "refund"}),
    "POST /units/{unit_id}/vacancies": lambda ids: Example(
        json={"registered_on": str(_today())}),
    "POST /parties": lambda ids: Example(json={
        "community_id": ids["community_id"], "kind": "tenant", "name": "王五",
        "phone": "13700002222"}),
    "PATCH /parties/{party_id}": lambda ids: Example(
        json={"name": "张三", "phone": "13812345678", "allowed_channels": ["sms"]}),
    "GET /parties/{party_id}": lambda ids: Example(),
    "POST /communities/{community_id}/ledger-imports": lambda ids: Example(
        params={"filename": "台账.csv", "opening_as_of": "2026-01-01"}, content=LEDGER,
        headers={"Content-Type": "application/octet-stream"}),
    "GET /communities/{community_id}/units": lambda ids: Example(),
    "GET /communities/{community_id}/reports/money": lambda ids: Example(),
    "GET /communities/{community_id}/contacts": lambda ids: Example(
        params={"reason": "year-end mail-out"}),
    "POST /communities/{community_id}/fee-schedules": lambda ids: Example(json={
        "published_on": str(_today()), "effective_from": str(_today() + timedelta(days=31)),
        "approval_ref": "杭价〔2026〕1号", "pricing_type": "政府指导价",
        "items": SCHEDULE_ITEMS}),
    # The community has its schedule already: a valid request, refused once done (409).
    "POST /communities/{community_id}/fee-schedules/import": lambda ids: Example(json={
        "approval_ref": "公司批复〔2026〕1号", "versions": [{
            "published_on": "2024-11-01", "effective_from": "2024-12-01",
            "approval_ref": "杭价〔2024〕7号", "pricing_type": "政府指导价",
            "items": SCHEDULE_ITEMS}]}),
    "GET /communities/{community_id}/fee-schedules": lambda ids: Example(),
    "POST /communities/{community_id}/meter-readings": lambda ids: Example(json=[{
        "unit_id": ids["unit_id"], "item_code": "water", "period_month": "2026-01-01",
        "previous": "10", "current": "12"}]),
    "POST /communities/{community_id}/shared-meter-readings": lambda ids: Example(json=[{
        "item_code": "stair_light", "period_month": "2026-01-01", "quantity": "100"}]),
    "POST /units/{unit_id}/charges": lambda ids: Example(json={
        "item_code": "repair_visit", "quantity": "1", "period_month": "2026-01-01"}),
    "POST /communities/{community_id}/billing-runs": lambda ids: Example(
        json={"period_start": "2026-02-01"}),
    "GET /communities/{community_id}/billing-runs/{run_id}": lambda ids: Example(),
    "POST /communities/{community_id}/late-fee-assessments": lambda ids: Example(json={}),
    "GET /communities/{community_id}/billing-schedule": lambda ids: Example(),
    "PUT /communities/{community_id}/billing-schedule": lambda ids: Example(
        json={"cycle": "monthly", "run_day": 1, "enabled": True}),
    "POST /billing-runs/due": lambda ids: Example(json={}),
    "POST /late-fee-assessments": lambda ids: Example(json={}),
    "POST /invoices": lambda ids: Example(
        json=invoice_body(ids["unit_id"], ids["invoice_reference"])),
    "GET /invoices/{invoice_id}": lambda ids: Example(),
    "POST /invoices/{invoice_id}/void": lambda ids: Example(json={"reason": "开错了"}),
    "POST /invoices/{invoice_id}/late-fee-waivers": lambda ids: Example(
        json={"amount_fen": 1, "reason": "疫情", "approved_by": "经理"}),
    "POST /invoices/{invoice_id}/late-fee-waiver-requests": lambda ids: Example(
        json={"amount_fen": 1, "reason": "疫情"}),
    "GET /communities/{community_id}/late-fee-waiver-requests": lambda ids: Example(
        params={"status": "pending"}),
    "POST /late-fee-waiver-requests/{waiver_request_id}/decision": lambda ids: Example(
        json={"decision": "approve"}),
    "POST /invoices/{invoice_id}/write-off": lambda ids: Example(
        json={"reason": "无法收回", "approved_by": "经理"}),
    "GET /units/{unit_id}/statement": lambda ids: Example(params={"as_of": "2026-02-15"}),
    "GET /units/{unit_id}/aging": lambda ids: Example(params={"as_of": "2026-02-15"}),
    "POST /units/{unit_id}/installment-plans": lambda ids: Example(json={
        "invoice_ids": [ids["invoice_id"]], "parts": 3, "first_due": "2026-03-31",
        "reason": "失业"}),
    "GET /units/{unit_id}/installment-plans": lambda ids: Example(),
    "GET /payments/{payment_id}/receipt": lambda ids: Example(),
    "GET /payments/{payment_id}/receipt.pdf": lambda ids: Example(params={"layout": "ticket80"}),
    # Open (the code is an HMAC under billing's secret): not role-checked; a made-up code is 404.
    "GET /receipts/verify/{code}": lambda ids: Example(),
    "POST /payments/{payment_id}/e-invoice-requests": lambda ids: Example(json={"title": "个人"}),
    "PATCH /e-invoice-requests/{request_id}": lambda ids: Example(params={"status": "issued"}),
    "GET /e-invoice-requests/{request_id}": lambda ids: Example(),
    "GET /communities/{community_id}/reports/collection": lambda ids: Example(params=PERIOD),
    "GET /communities/{community_id}/reports/on-time": lambda ids: Example(params=PERIOD),
    "GET /communities/{community_id}/reports/aging": lambda ids: Example(params={"by": "building"}),
    "GET /communities/{community_id}/reports/recovery": lambda ids: Example(),
    "GET /audit": lambda ids: Example(params={"community_id": ids["community_id"]}),
}  # fmt: skip

BILLING = SecuredService(
    name="billing",
    settings=BillingSettings,
    create_app=_app,
    seed=seed,
    examples=EXAMPLES,
    # Company routes are checked against the company (404 for another one) and need a
    # company-level token (communities "*"): tested in services/billing/tests/integration/
    # test_tenancy.py.
    unscoped=frozenset(
        {
            "GET /companies/{company_id}",
            "PUT /companies/{company_id}",
            "PUT /companies/{company_id}/vacancy-rules/{city}",
            # Company level too (a company admin for every community): its 404s and 403s are
            # tested in services/billing/tests/integration/test_money_rules_http.py.
            "POST /communities/{community_id}/fee-schedules/import",
            "GET /audit",
            # No id in the request: each acts on every community of the caller's own scope
            # (another company's communities are never touched: test_billing_schedules_http).
            "POST /billing-runs/due",
            "POST /late-fee-assessments",
        }
    ),
)
