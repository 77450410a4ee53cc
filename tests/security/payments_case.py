"""payments as a case of the security tests: a world of three communities (their companies
learnt from billing.community-updated, an invoice from billing.invoice-issued, a counter
payment, an order, an exception for finance, a discrepancy from a statement) and one valid
request per operation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from payments.app import create_app
from payments.domain.settlement import GatewayReport
from payments.entrypoints.events import HANDLERS
from payments.service_layer.gateway_payments import record_gateway_payment
from payments.settings import PaymentsSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.cloudevents import CloudEvent
from propfee.consumer import EventContext
from propfee.events import CommunityUpdated, Event, InvoiceIssued, InvoiceLine, PayLinkIssued
from propfee.pay_links import new_token
from propfee.settings import ServiceSettings
from tests.security.cases import Example, Ids, SecuredService, World
from tests.support.auth import bearer

AT = datetime(2026, 3, 5, 2, tzinfo=UTC)
BILL_DATE = "2026-03-05"
WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
)
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注\n"
)
#: The merchant accounts: WeChat Pay's is the first company's, Alipay's the other company's
#: (gateway-level records belong to the company owning the account).
ACCOUNTS = {
    "wechatpay_mchid": "1900000109",
    "wechatpay_company_id": "co-1",
    "alipay_app_id": "2021000117650139",
    "alipay_company_id": "co-2",
}
BANK_HEADER = (
    "batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
    "result,bank_reference,debited_at,failure_reason\n"
)


def _statement(txn: str) -> bytes:
    """A WeChat Pay statement of BILL_DATE with one trade payments never recorded."""
    return (
        WECHAT_HEADER
        + f"`{BILL_DATE} 10:05:00,`wxd678efh567hg6787,`1900000109,`0,`,`{txn},`otn-{txn},"
        "`oUpF8uMu,`NATIVE,`SUCCESS,`CMC,`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`物业费,`,"
        "`0.01,`0.60%,`1.00,`0.00,`\n"
    ).encode()


def _alipay_statement(txn: str) -> bytes:
    """An Alipay statement of BILL_DATE with one trade payments never recorded."""
    return (
        ALIPAY_HEADER
        + f"{txn}\t,otn-{txn}\t,交易,物业费,{BILL_DATE} 10:00:00,{BILL_DATE} 10:06:00,,,,,"
        "159****5620,1.00,1.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.01,0.00,\n"
    ).encode()


STATEMENTS = {"wechatpay": _statement, "alipay": _alipay_statement}


def _settings(**overrides: object) -> PaymentsSettings:
    return PaymentsSettings(**{**ACCOUNTS, **overrides})  # type: ignore[arg-type]


def _bank_file(ids: Ids) -> bytes:
    c = ids["community_id"]
    return (
        BANK_HEADER
        + f"B-{c},0001,{c},{ids['unit_id']},{ids['party_id']},,1.00,CNY,SUCCESS,BANK-{c},"
        f"{BILL_DATE} 10:00:00,\n"
    ).encode()


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(settings)


def _ok(r: object) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 300, r.text  # type: ignore[attr-defined]


def _feed(http: TestClient, *events: Event) -> None:
    """Events through payments' real handlers, in the app's loop, as its consumer runs them."""
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def handle() -> None:
        for event in events:
            envelope = CloudEvent.new(
                type=event.ce_type(), source=event.ce_source(), subject="s",
                data=event.to_json(), time=AT,
            )  # fmt: skip
            context = EventContext(envelope=envelope, topic=event.topic(), partition=0, offset=0)
            async with runtime.pool.acquire() as conn, conn.transaction():
                await HANDLERS[type(event)](conn, event, context)  # type: ignore[arg-type]

    http.portal.call(handle)  # type: ignore[union-attr]


def _hold(http: TestClient, out_trade_no: str, txn: str) -> str:
    """A gateway payment of the wrong amount for the order: an exception for finance."""
    runtime = http.app.state.runtime  # type: ignore[attr-defined]
    report = GatewayReport("wechatpay", "wechat_pay", txn, out_trade_no, 1, "CNY", AT)

    async def record() -> str:
        async with runtime.pool.acquire() as conn, conn.transaction():
            recorded = await record_gateway_payment(conn, report, AT)
        assert recorded.outcome == "exception", recorded
        return recorded.record_id

    return http.portal.call(record)  # type: ignore[union-attr, no-any-return]


def _seed_community(
    http: TestClient,
    issuer: DevIssuer,
    company: str,
    community: str,
    tag: str,
    gateway: str = "wechatpay",
) -> Ids:
    unit, party, invoice = f"{community}-u1", f"{community}-p1", f"inv-{community}"
    # A pay link signed with the settings' (development) secret, as the notifier makes it.
    token = new_token(_settings().pay_link_key())
    _feed(
        http,
        CommunityUpdated(
            community_id=community, company_id=company, company_name=f"物业{company}",
            name=f"小区{tag}", city="杭州", updated_at=AT,
        ),
        InvoiceIssued(
            invoice_id=invoice, community_id=community, building_id="b-1", unit_id=unit,
            payer_party_id=party, period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
            due_date=date(2026, 3, 31),
            lines=[InvoiceLine(fee_item="property", description="物业费", quantity="1",
                               unit_price_fen=27_580, amount_fen=27_580)],
            total_fen=27_580, issued_at=AT, room_label=f"{tag}-3-201",
        ),
        PayLinkIssued(
            token=token, community_id=community, unit_id=unit, party_id=party,
            occasion=f"{invoice}:reminder:friendly", issued_at=AT,
            expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        ),
    )  # fmt: skip
    admin = bearer(issuer.mint("seed", [Role.company_admin, Role.finance], company, "*"))
    r = http.post(
        "/payments/counter",
        headers={**admin, "Idempotency-Key": f"seed-{community}"},
        json={"community_id": community, "unit_id": unit, "payer_party_id": party,
              "amount_fen": 10_000, "channel": "cash", "received_by": "cashier-1"},
    )  # fmt: skip
    _ok(r)
    payment = r.json()
    # A refund above the second-approval threshold, asked by "seed": waiting for another.
    r = http.post(
        "/payments/counter",
        headers={**admin, "Idempotency-Key": f"seed-large-{community}"},
        json={"community_id": community, "unit_id": unit, "payer_party_id": party,
              "amount_fen": 80_000, "channel": "cash", "received_by": "cashier-1"},
    )  # fmt: skip
    _ok(r)
    r = http.post(f"/payments/{r.json()['payment_id']}/refunds", headers=admin,
                  json={"amount_fen": 60_000, "reason": "多收退回"})  # fmt: skip
    _ok(r)
    assert r.json()["status"] == "pending_approval", r.text
    refund_id = r.json()["refund_id"]
    r = http.post(
        "/orders",
        headers=admin,
        json={"unit_id": unit, "channel": "wechat_pay", "community_id": community,
              "payer_party_id": party, "amount_fen": 5_000},
    )  # fmt: skip
    _ok(r)
    order = r.json()
    exception_id = _hold(http, order["out_trade_no"], f"tx-exc-{community}")
    txn = f"tx-missing-{community}"
    _ok(http.post(f"/reconciliation/{gateway}/{BILL_DATE}", headers=admin,
                  content=STATEMENTS[gateway](txn)))  # fmt: skip
    r = http.get("/discrepancies", headers=admin)
    _ok(r)
    discrepancy_id = next(d["discrepancy_id"] for d in r.json()["items"] if d["reference"] == txn)
    return {
        "community_id": community,
        "unit_id": unit,
        "party_id": party,
        "invoice_id": invoice,
        "payment_id": payment["payment_id"],
        "receipt_no": payment["receipt_no"],
        "order_id": order["order_id"],
        "exception_id": exception_id,
        "discrepancy_id": discrepancy_id,
        "refund_id": refund_id,
        "gateway": gateway,
        "merchant_id": ACCOUNTS["wechatpay_mchid" if gateway == "wechatpay" else "alipay_app_id"],
        "bill_date": BILL_DATE,
        "txn": txn,
        "token": token,
    }


def seed(http: TestClient, issuer: DevIssuer, run: str) -> World:
    return World(
        company_id="co-1",
        mine=_seed_community(http, issuer, "co-1", f"{run}-a", "A"),
        other=_seed_community(http, issuer, "co-1", f"{run}-b", "B"),
        foreign_company_id="co-2",
        foreign=_seed_community(http, issuer, "co-2", f"{run}-x", "X", "alipay"),
    )


EXAMPLES = {
    "POST /payments/counter": lambda ids: Example(
        json={"community_id": ids["community_id"], "unit_id": ids["unit_id"],
              "payer_party_id": ids["party_id"], "amount_fen": 100, "channel": "cash"},
        headers={"Idempotency-Key": f"sec-{ids['community_id']}"}),
    "GET /payments/{payment_id}": lambda ids: Example(),
    "GET /receipts/{receipt_no}": lambda ids: Example(),
    "POST /orders": lambda ids: Example(json={
        "unit_id": ids["unit_id"], "channel": "wechat_pay", "invoice_ids": [ids["invoice_id"]]}),
    "POST /orders/expire": lambda ids: Example(json={}),
    "GET /orders/{order_id}": lambda ids: Example(),
    "POST /orders/{order_id}/query": lambda ids: Example(),
    "POST /payments/scan": lambda ids: Example(json={
        "unit_id": ids["unit_id"], "auth_code": "134567890123456789",
        "community_id": ids["community_id"], "payer_party_id": ids["party_id"],
        "amount_fen": 100}),
    "GET /exceptions": lambda ids: Example(),
    "POST /exceptions/{exception_id}/resolve": lambda ids: Example(
        json={"resolution": "dismissed", "note": "退回业主，线下处理"}),
    "POST /payments/{payment_id}/refunds": lambda ids: Example(
        json={"amount_fen": 1, "reason": "多收退回"}),
    "GET /payments/{payment_id}/refunds": lambda ids: Example(),
    "POST /refunds/{refund_id}/approval": lambda ids: Example(json={"decision": "approve"}),
    "GET /communities/{community_id}/refunds": lambda ids: Example(
        params={"status": "pending_approval"}),
    "GET /units/{unit_id}/qr": lambda ids: Example(),
    "POST /pay-links/{token}/revoke": lambda ids: Example(json={"reason": "发错住户"}),
    "GET /units/{unit_id}/pay-links": lambda ids: Example(),
    "POST /bank-withholding/files": lambda ids: Example(
        content=_bank_file(ids), headers={"Content-Type": "text/csv"}),
    # A transaction id is the gateway's, not a tenant's: the same in every world.
    "POST /reconciliation/{gateway}/{bill_date}": lambda ids: Example(
        params={"merchant_id": ids["merchant_id"]},
        content=STATEMENTS[ids["gateway"]]("tx-security-statement"),
        headers={"Content-Type": "text/csv"}),
    "GET /discrepancies": lambda ids: Example(),
    "POST /discrepancies/{discrepancy_id}/resolve": lambda ids: Example(
        json={"note": "网关对账单延迟，已核实"}),
    "GET /reports/daily-close": lambda ids: Example(params={"day": BILL_DATE}),
    "GET /reports/cashier-day": lambda ids: Example(params={"day": BILL_DATE}),
    "GET /reports/totals": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "GET /audit": lambda ids: Example(params={"community_id": ids["community_id"]}),
}  # fmt: skip

PAYMENTS = SecuredService(
    name="payments",
    settings=_settings,
    create_app=_app,
    seed=seed,
    examples=EXAMPLES,
    unscoped=frozenset({
        "POST /orders/expire",
        "GET /exceptions",
        "POST /reconciliation/{gateway}/{bill_date}",
        "GET /discrepancies",
        "POST /discrepancies/{discrepancy_id}/resolve",
        "GET /reports/daily-close",
        "GET /reports/cashier-day",
        "GET /audit",
    }),
)  # fmt: skip
