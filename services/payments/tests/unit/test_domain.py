"""Pure rules: orders, settlement decisions, refunds, receipts, QR, files, reconciliation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from payments.domain.bank_files import parse_withholding_file
from payments.domain.orders import (
    OrderError,
    new_out_trade_no,
    order_expiry,
    terms_for_invoices,
)
from payments.domain.owed import OpenInvoice
from payments.domain.qr import qr_signature, qr_valid
from payments.domain.receipts import receipt_number
from payments.domain.reconciliation import Recorded, reconcile
from payments.domain.refunds import RefundError, check_refund
from payments.domain.settlement import Accept, GatewayReport, OrderState, Review, settle
from payments.domain.statements import parse_alipay_bill, parse_wechat_bill
from payments.service_layer.codepay import channel_of_auth_code

NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def test_out_trade_no_fits_every_gateway() -> None:
    no = new_out_trade_no(NOW)
    assert len(no) == 20 and no.isalnum() and no.startswith("P260305100000")
    assert new_out_trade_no(NOW) != no


def test_order_amount_comes_from_open_invoices_of_the_unit() -> None:
    invoices = {
        "a": OpenInvoice("a", "c", "u", "p", 100),
        "b": OpenInvoice("b", "c", "u", "p", 250),
        "x": OpenInvoice("x", "c", "other", "p", 5),
    }
    day = date(2026, 3, 5)
    assert terms_for_invoices(["a", "b"], invoices, "u", day).amount_fen == 350
    for ids in (["a", "a"], ["zzz"], ["x"], []):
        with pytest.raises(OrderError):
            terms_for_invoices(ids, invoices, "u", day)
    with pytest.raises(OrderError):
        order_expiry(NOW, timedelta(days=2))


def _report(**kw: object) -> GatewayReport:
    data: dict[str, object] = dict(
        gateway="wechatpay",
        channel="wechat_pay",
        transaction_id="t",
        out_trade_no="o",
        amount_fen=100,
        currency="CNY",
        paid_at=NOW,
    )
    data.update(kw)
    return GatewayReport(**data)  # type: ignore[arg-type]


def test_settlement_accepts_only_the_exact_open_order() -> None:
    order = OrderState("ord", 100, "CNY", "pending", NOW + timedelta(minutes=5), None)
    assert settle(order, _report()) == Accept("ord")
    assert isinstance(settle(None, _report()), Review)
    cases = {
        "amount_mismatch": (order, _report(amount_fen=99)),
        "currency": (order, _report(currency="USD")),
        "expired_order": (order, _report(paid_at=NOW + timedelta(minutes=6))),
        "already_paid": (OrderState("ord", 100, "CNY", "paid", NOW, "pay-1"), _report()),
    }
    for reason, (o, r) in cases.items():
        decision = settle(o, r)
        assert isinstance(decision, Review) and decision.reason == reason


def test_refunds_never_exceed_what_is_left() -> None:
    check_refund(1000, 400, 600, "double payment")
    with pytest.raises(RefundError):
        check_refund(1000, 400, 601, "double payment")
    with pytest.raises(RefundError):
        check_refund(1000, 0, 10, " ")


def test_receipts_qr_and_payment_codes() -> None:
    assert receipt_number("c-1", NOW.date(), 7) == "SJ-c-1-20260305-000007"
    sig = qr_signature(b"k", "u-1")
    assert qr_valid(b"k", "u-1", sig) and not qr_valid(b"k", "u-2", sig)
    assert channel_of_auth_code("134567890123456789") == "wechat_pay"
    assert channel_of_auth_code("28763443825664394") == "alipay"
    assert channel_of_auth_code("99999") is None


def test_bank_file_rows_and_errors() -> None:
    text = (
        "batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
        "result,bank_reference,debited_at,failure_reason\n"
        "B1,1,c,u,p,i1|i2,275.80,CNY,SUCCESS,R1,2026-03-05 10:00:00,\n"
        "B1,2,c,u,p,,abc,CNY,SUCCESS,R2,2026-03-05 10:00:00,\n"
        "B1,3,c,u,p,,1.00,CNY,SUCCESS,R3,05/03/2026,\n"
    )
    debits, errors = parse_withholding_file(text)
    assert [(d.amount_fen, d.invoice_ids) for d in debits] == [(27580, ("i1", "i2"))]
    assert [(e.line, e.column) for e in errors] == [(3, "amount"), (4, "debited_at")]


WECHAT_BILL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
    "`2026-03-05 10:00:00,`wx1,`1900000109,`0,`,`4200001,`P1,`o1,`NATIVE,`SUCCESS,`CMC,`CNY,"
    "`275.80,`0.00,`0,`0,`0.00,`0.00,`,`,`物业费,`,`1.65000,`0.60%,`275.80,`0.00,`\n"
    "`2026-03-05 11:00:00,`wx1,`1900000109,`0,`,`4200002,`P2,`o2,`NATIVE,`SUCCESS,`CMC,`CNY,"
    "`100.00,`0.00,`0,`0,`0.00,`0.00,`,`,`物业费,`,`0.60000,`0.60%,`100.00,`0.00,`\n"
    "`2026-03-05 12:00:00,`wx1,`1900000109,`0,`,`4200001,`P1,`o1,`NATIVE,`REFUND,`CMC,`CNY,"
    "`0.00,`0.00,`5030001,`R1,`25.80,`0.00,`ORIGINAL,`SUCCESS,`物业费,`,`-0.15000,`0.60%,"
    "`0.00,`25.80,`\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`3,`375.80,`25.80,`0.00,`2.10000,`375.80,`25.80\n"
)


def test_wechat_bill_reconciled_against_records() -> None:
    rows = parse_wechat_bill(WECHAT_BILL)
    assert [(r.kind, r.reference, r.amount_fen) for r in rows] == [
        ("payment", "4200001", 27580),
        ("payment", "4200002", 10000),
        ("refund", "R1", 2580),
    ]
    summary = reconcile(
        rows,
        [
            Recorded("payment", "4200001", 27580),
            Recorded("payment", "4200002", 9999),
            Recorded("payment", "4200009", 500),
        ],
    )
    results = {(ln.kind, ln.reference): ln.result for ln in summary.lines}
    assert results == {
        ("payment", "4200001"): "matched",
        ("payment", "4200002"): "amount_mismatch",
        ("payment", "4200009"): "missing_at_gateway",
        ("refund", "R1"): "missing_here",
    }
    assert summary.fee_fen == 165 + 60 - 15


def test_alipay_bill_reads_trades_and_refunds() -> None:
    text = (
        "#支付宝业务明细查询\n#账号：[20881234567890120156]\n#起始日期：[2026年03月05日 00:00:00]\n"
        "#-----------------------------------------业务明细列表----------------------------------------\n"
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
        "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
        "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
        "退款批次号/请求号,服务费（元）,分润（元）,备注\n"
        "2026030522001,P1,交易,物业费,2026-03-05 10:00:00,2026-03-05 10:00:05,,,,,a***@x.com,"
        "275.80,275.80,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-1.65,0.00,\n"
        "2026030522001,P1,退款,物业费,2026-03-05 12:00:00,2026-03-05 12:00:01,,,,,a***@x.com,"
        "-25.80,-25.80,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1,0.15,0.00,\n"
        "#-----------------------------------------业务明细列表结束------------------------------------\n"
        "#交易合计：1笔，商家实收：275.80元，服务费：-1.65元\n"
        "#导出时间：[2026年03月06日 09:00:00]\n"
    )
    rows = parse_alipay_bill(text)
    assert [(r.kind, r.reference, r.amount_fen, r.fee_fen) for r in rows] == [
        ("payment", "2026030522001", 27580, 165),
        ("refund", "R1", 2580, -15),
    ]
