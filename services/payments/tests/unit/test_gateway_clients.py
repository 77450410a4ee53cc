"""Pure parts of the gateway clients: UnionPay's answer format and txnTime, Alipay's request
signing string, and what an expired order does to a late payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.adapters.alipay_client import request_signing_string
from payments.adapters.unionpay_client import UnionPayError, parse_answer, txn_time
from payments.domain.orders import new_out_trade_no
from payments.domain.settlement import Accept, GatewayReport, OrderState, Review, settle


def test_unionpay_answers_are_not_url_encoded_and_may_nest() -> None:
    text = (
        "respCode=00&respMsg=成功[0000000]&signature=ab+c/d==&reserved={a=1&b=2}"
        "&signPubKeyCert=-----BEGIN CERTIFICATE-----\r\nMIIB+/==\r\n-----END CERTIFICATE-----"
    )
    assert parse_answer(text) == {
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "signature": "ab+c/d==",
        "reserved": "{a=1&b=2}",
        "signPubKeyCert": "-----BEGIN CERTIFICATE-----\r\nMIIB+/==\r\n-----END CERTIFICATE-----",
    }
    assert parse_answer("") == {}
    assert parse_answer("empty=&x=1") == {"empty": "", "x": "1"}


def test_unionpay_txn_time_comes_from_the_order_number() -> None:
    at = datetime(2026, 3, 5, 2, 4, 5, tzinfo=UTC)  # 10:04:05 in Shanghai
    assert txn_time(new_out_trade_no(at)) == "20260305100405"
    with pytest.raises(UnionPayError):
        txn_time("R2603051004059ABCDEF")


def test_alipay_request_signing_keeps_sign_type_and_drops_empty_values() -> None:
    params = {"sign": "x", "sign_type": "RSA2", "app_id": "1", "notify_url": "", "method": "m"}
    assert request_signing_string(params) == "app_id=1&method=m&sign_type=RSA2"


def test_a_payment_for_an_expired_order_goes_to_review() -> None:
    expires = datetime(2026, 3, 5, 10, 30, tzinfo=UTC)
    report = GatewayReport("wechatpay", "wechat_pay", "42", "P1", 100, "CNY", expires)
    order = OrderState("ord-1", 100, "CNY", "expired", expires, None)
    assert isinstance(settle(order, report), Review)
    pending = OrderState("ord-1", 100, "CNY", "pending", expires, None)
    assert settle(pending, report) == Accept("ord-1")
    late = GatewayReport("wechatpay", "wechat_pay", "42", "P1", 100, "CNY", expires + timedelta(1))
    assert isinstance(settle(pending, late), Review)
