"""The receipt over billing's HTTP API (real PostgreSQL and Kafka): 40 months paid at once by
WeChat Pay print as a 收款收据 whose every month has its fee items and amounts, late fees and
prepayment, adding up to the payment in figures and in 大写, over several pages; a counter
payment names its cashier, and a part refunded shows on its next copy; the second download is a reprint; the 80 mm ticket fits; the
printed code verifies publicly (a forged one is 404) without the payer's name; another
company's token cannot download it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from billing.app import create_app
from billing.service_layer import payments
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import PaymentReceived, PaymentRefunded
from services.billing.tests import receipt_reading as read
from tests.support import pdf_layout
from tests.support.auth import bearer, staff_token, trust
from tests.support.billing_api import SCHEDULE_ITEMS

pytestmark = pytest.mark.integration

C = "c-receipts"
BASE_URL = "https://pay.example.cn"
ISSUED = datetime(2026, 1, 5, 2, tzinfo=UTC)
PAID = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in Hangzhou
MONTHS = [date(2023 + n // 12, n % 12 + 1, 1) for n in range(40)]  # 2023-01 .. 2026-04
TRANSACTION = "4200001234202603101234567890"


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_receipts")


@pytest.fixture
def http(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> Iterator[TestClient]:
    settings = BillingSettings(
        database_url=billing_db,
        kafka_bootstrap_servers=kafka,
        topic_prefix=test_prefix,
        public_base_url=BASE_URL,
        receipt_secret="receipts-test-secret",
    )
    with TestClient(trust(create_app(settings), dev_issuer)) as client:
        for _ in range(100):
            if client.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        yield client


def _admin(issuer: DevIssuer, company: str = "co") -> dict[str, str]:
    # Bills issued as of January on the simulation clock: only the service role acts then.
    return bearer(staff_token(issuer, [Role.company_admin, Role.service], company_id=company))


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _setup(http: TestClient, admin: dict[str, str]) -> tuple[str, str]:
    community = {
        "company_id": "co", "company_name": "杭州示例物业服务有限公司", "name": "阳光花园",
        "city": "杭州", "late_fee_daily_rate": "0.0001", "service_phone": "0571-88886666",
    }  # fmt: skip
    _ok(http.put(f"/communities/{C}", json=community, headers=admin))
    version = {
        "published_on": "2022-11-01", "effective_from": "2022-12-01",
        "approval_ref": "杭价〔2022〕7号", "pricing_type": "政府指导价", "items": SCHEDULE_ITEMS,
    }  # fmt: skip
    history = {"approval_ref": "公司批复〔2024〕1号", "versions": [version]}
    _ok(http.post(f"/communities/{C}/fee-schedules/import", json=history, headers=admin), 201)
    unit = _ok(
        http.post(
            "/units",
            json={"community_id": C, "building": "9栋", "entrance": "2单元", "room": "502",
                  "floor_area_m2": "98.50", "owner": {"name": "王小明", "phone": "13812345678"}},
            headers=admin,
        ),
        201,
    )  # fmt: skip
    payer = next(p["party_id"] for p in unit["parties"] if p["pays"])
    for month in MONTHS:
        body = {
            "unit_id": unit["unit_id"], "period_start": str(month), "period_end": str(_end(month)),
            "due_date": str(_end(month)), "issued_at": ISSUED.isoformat(),
            "lines": [{"fee_item": "property_fee", "quantity": "98.50"},
                      {"fee_item": "parking", "quantity": "1"}],
        }  # fmt: skip
        _ok(http.post("/invoices", json=body, headers=admin), 201)
    return unit["unit_id"], payer


def _pay(http: TestClient, event: PaymentReceived) -> None:
    """The payment as billing records it from payments.payment-received (in the app's loop)."""
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def record() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await payments.record_payment(conn, event, None)  # type: ignore[arg-type]

    http.portal.call(record)  # type: ignore[union-attr]


def _db(dsn: str, sql: str, *args: Any) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


def test_a_receipt_prints_every_month_paid_verifies_and_stays_with_its_company(
    http: TestClient, billing_db: str, dev_issuer: DevIssuer
) -> None:
    admin = _admin(dev_issuer)
    unit_id, payer = _setup(http, admin)
    wechat = PaymentReceived(
        payment_id="pay-wechat", community_id=C, unit_id=unit_id, payer_party_id=payer,
        amount_fen=2_400_000, channel="wechat_pay", gateway="wechatpay",
        gateway_transaction_id=TRANSACTION, paid_at=PAID, received_at=PAID,
    )  # fmt: skip
    _pay(http, wechat)

    first = http.get("/payments/pay-wechat/receipt.pdf", headers=admin)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    pdf = first.content
    rows = read.check(pdf)  # adds up in figures and 大写, seal, link, layout, fonts
    assert read.total_fen(pdf) == 2_400_000

    # Every month paid, with each fee item and its amount as invoiced.
    invoiced = _db(
        billing_db,
        "SELECT i.period_start, l.fee_item, l.amount_fen FROM invoice_lines l "
        "JOIN invoices i USING (invoice_id) WHERE i.unit_id = $1",
        unit_id,
    )
    names = {"property_fee": "物业服务费", "parking": "车位管理费"}
    for line in invoiced:
        period = f"{line['period_start'].year}年{line['period_start'].month}月"
        assert read.Row(names[line["fee_item"]], period, line["amount_fen"]) in rows, period
    # Late fees as their own lines, each as allocated; the rest as prepayment.
    allocated = _db(
        billing_db,
        "SELECT i.period_start, sum(a.amount_fen)::bigint AS fen FROM allocations a "
        "JOIN invoices i USING (invoice_id) WHERE a.payment_id = 'pay-wechat' "
        "AND a.component = 'late_fee' GROUP BY 1 HAVING sum(a.amount_fen) > 0",
    )
    late = [r for r in rows if r.item == "违约金"]
    assert len(late) == len(allocated) == 38  # March and April 2026 were not due yet
    assert {(r.period, r.fen) for r in late} == {
        (f"{a['period_start'].year}年{a['period_start'].month}月", a["fen"]) for a in allocated
    }
    credit = _db(billing_db, "SELECT credit_fen FROM account_credits")[0]["credit_fen"]
    assert credit > 0 and read.Row("预存款", "—", credit) in rows

    text = read.flat(pdf)
    for field in (
        "杭州示例物业服务有限公司收款收据", "收据编号R2026-0000001", "收款日期2026年3月10日10:30",
        "付款人王小明", "房号阳光花园9栋2单元502", "支付方式微信支付", f"交易流水号{TRANSACTION}",
        "收款人—", "打印原件", "0571-88886666",
    ):  # fmt: skip
        assert field in text, field
    assert "REPRINT" not in text
    pages = pdf_layout.pages(pdf)
    assert len(pages) >= 3  # 121 lines
    assert all("R2026-0000001" in p.text for p in pages)

    # The printed code verifies, publicly, without the payer's name.
    code = read.verification_code(pdf)
    assert f"{BASE_URL}/receipts/verify/{code}" in text
    verified = http.get(f"/receipts/verify/{code}")  # no token
    assert verified.status_code == 200, verified.text
    assert verified.json() == {
        "receipt_no": "R2026-0000001", "company_name": "杭州示例物业服务有限公司",
        "community_name": "阳光花园", "room": "9栋2单元502", "paid_on": "2026-03-10",
        "amount_fen": 2_400_000, "amount_yuan": "24000.00", "refunded_fen": 0,
    }  # fmt: skip
    assert "王小明" not in verified.text
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")
    assert http.get(f"/receipts/verify/{forged}").status_code == 404
    assert http.get("/receipts/verify/R2026-0000001").status_code in (404, 422)

    # Another company's token cannot download it, nor count as a copy.
    stranger = _admin(dev_issuer, company="co-2")
    assert http.get("/payments/pay-wechat/receipt.pdf", headers=stranger).status_code == 404
    assert http.get("/payments/pay-wechat/receipt", headers=stranger).status_code == 404

    # The second download is a reprint; so is the cashier's ticket, which fits 80 mm.
    again = http.get("/payments/pay-wechat/receipt.pdf", headers=admin).content
    assert "重印（第2次打印）" in read.flat(again)
    assert all("重印 / REPRINT" in p.text for p in pdf_layout.pages(again))
    assert read.verification_code(again) == code
    ticket = http.get(
        "/payments/pay-wechat/receipt.pdf", params={"layout": "ticket80"}, headers=admin
    ).content
    assert all(abs(p.width - 80 * pdf_layout.MM) < 0.5 for p in pdf_layout.pages(ticket))
    assert read.check(ticket) == rows
    assert "重印（第3次打印）" in read.flat(ticket)
    bad = http.get("/payments/pay-wechat/receipt.pdf", params={"layout": "a5"}, headers=admin)
    assert bad.status_code == 422


def test_a_counter_receipt_names_its_cashier(
    http: TestClient, billing_db: str, dev_issuer: DevIssuer
) -> None:
    admin = _admin(dev_issuer)
    unit_id, payer = _setup(http, admin)
    cash = PaymentReceived(
        payment_id="pay-cash", community_id=C, unit_id=unit_id, payer_party_id=payer,
        amount_fen=27_580, channel="cash", gateway="counter", paid_at=PAID, received_at=PAID,
        cashier="李收银",
    )  # fmt: skip
    _pay(http, cash)
    pdf = http.get("/payments/pay-cash/receipt.pdf", headers=admin).content
    rows = read.check(pdf)
    # The oldest month first, its fee items in billing order: part of the property fee.
    assert rows == [read.Row("物业服务费", "2023年1月", 27_580)]
    text = read.flat(pdf)
    assert "收款人李收银" in text and "支付方式现金" in text and "交易流水号—" in text
    assert "合计（大写）人民币贰佰柒拾伍元捌角整" in text
    stored = _db(billing_db, "SELECT cashier, downloads FROM receipts")
    assert [(r["cashier"], r["downloads"]) for r in stored] == [("李收银", 1)]

    # Part of it refunded: the copy still adds up to the money received, the refund shown;
    # the verification says what was refunded.
    refund = PaymentRefunded(
        refund_id="rfd-1", payment_id="pay-cash", community_id=C, unit_id=unit_id,
        payer_party_id=payer, amount_fen=10_000, reason="多收", refunded_at=PAID + timedelta(days=1),
    )  # fmt: skip
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def record() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await payments.record_refund(conn, refund, None)  # type: ignore[arg-type]

    http.portal.call(record)  # type: ignore[union-attr]
    copy = http.get("/payments/pay-cash/receipt.pdf", headers=admin).content
    assert read.check(copy) == [
        read.Row("物业服务费", "2023年1月", 17_580),
        read.Row("已退款或转出", "—", 10_000),
    ]
    assert "重印（第2次打印）" in read.flat(copy)
    verified = http.get(f"/receipts/verify/{read.verification_code(copy)}").json()
    assert verified["amount_fen"] == 27_580 and verified["refunded_fen"] == 10_000
