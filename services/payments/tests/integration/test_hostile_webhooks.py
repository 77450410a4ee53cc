"""Hostile input at the gateways' webhooks (issue 16, "Hostile input"), on a real process.

Every notification here carries a valid signature (the test kit's fake gateways sign) yet is
malformed: a ``Wechatpay-Timestamp`` of "²" or 5,000 digits, a ``resource`` that is a string, a
nonce that is a number, fields missing or of the wrong type, amounts out of range, texts
PostgreSQL cannot hold, non-UTF-8 bytes, another merchant, app or seller, a refund notification
from another gateway than the payment's. Each answer is 4xx in the gateway's own format
(WeChat Pay: JSON ``{"code": "FAIL", "message": ...}``; Alipay: ``fail``; UnionPay: a non-200
status), never 5xx, and the database is exactly as before. Tables of known cases, then
hypothesis throwing generated malformed values at each field that matters."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payments_testkit.service import know_communities, order_on_account, wechat_env

from payments.domain.settlement import MAX_AMOUNT_FEN
from sandbox import alipay, unionpay
from sandbox.keys import new_key, public_base64, write
from sandbox.wechatpay import MCHID, WechatSide, refund, transaction

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ------------------------------------------------------------------------------------------
# Malformed values

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
NOT_TEXT = JSON.filter(lambda v: not isinstance(v, str))
#: Texts no gateway id may be: empty, longer than 64, or with a control or NUL character.
BAD_ID_TEXT = st.one_of(
    st.just(""),
    st.text(min_size=65, max_size=300),
    st.tuples(st.text(max_size=10), st.sampled_from(["\x00", "\x07", "\n", "\u2028"])).map(
        lambda t: t[0] + t[1] + "x"
    ),
)
BAD_ID = st.one_of(NOT_TEXT, BAD_ID_TEXT)
NOT_FEN = st.one_of(
    JSON.filter(lambda v: isinstance(v, bool) or not isinstance(v, int)),
    st.integers(max_value=0),
    st.integers(min_value=MAX_AMOUNT_FEN + 1),
)
BAD_CURRENCY = st.one_of(NOT_TEXT, st.just(""), st.text(min_size=9, max_size=40))


def _not_fen_text(text: str) -> bool:
    return not (text.isascii() and text.isdigit() and 0 < int(text or "0") <= MAX_AMOUNT_FEN)


def _not_yuan(text: str) -> bool:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return True
    return not value.is_finite() or not 0 < value * 100 <= MAX_AMOUNT_FEN


# ------------------------------------------------------------------------------------------
# The world: one process with the three gateways, an order, a paid WeChat Pay payment and a
# refund of it waiting for WeChat Pay's word.


@pytest.fixture
async def world(services, create_database, tmp_path, staff_auth):  # type: ignore[no-untyped-def]
    side, alipay_key, union = WechatSide(), new_key(), unionpay.UnionPaySide()
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        **wechat_env(side, tmp_path),
        alipay_app_id=alipay.APP_ID,
        alipay_seller_id=alipay.SELLER_ID,
        alipay_company_id="co-1",
        alipay_public_key_file=write(tmp_path / "alipay_pub.txt", public_base64(alipay_key)),
        unionpay_mer_id=unionpay.MER_ID,
        unionpay_company_id="co-1",
        unionpay_root_cert_file=write(tmp_path / "root.pem", union.root.cert_pem),
        unionpay_middle_cert_file=write(tmp_path / "middle.pem", union.middle.cert_pem),
    ).start()
    await know_communities(db)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        paid = await order_on_account(conn, http, proc.url, "u-paid", 100)
        body = side.body("TRANSACTION.SUCCESS", transaction(paid["out_trade_no"], 100))
        r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
        assert r.status_code == 204, r.text
        payment_id = await conn.fetchval("SELECT payment_id FROM payments")
        r = await http.post(
            f"/payments/{payment_id}/refunds", json={"amount_fen": 40, "reason": "多收"}
        )
        assert r.status_code == 201, r.text
        pending = await order_on_account(conn, http, proc.url, "u-open", 300)
    client = httpx.Client(timeout=30)  # sync: hypothesis drives plain functions
    yield {
        "http": client,
        "url": proc.url,
        "conn": conn,
        "wechat": side,
        "alipay_key": alipay_key,
        "unionpay": union,
        "paid": paid,
        "pending": pending,
        "out_refund_no": r.json()["out_refund_no"],
    }
    _close(client)
    await conn.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Everything a notification could change."""
    tables = ("payments", "gateway_transactions", "payment_exceptions", "refunds", "outbox")
    state: dict[str, Any] = {}
    for table in tables:
        rows = await conn.fetch(f"SELECT * FROM {table}")
        state[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    state["orders"] = [
        tuple(r) for r in await conn.fetch("SELECT order_id, status FROM payment_orders")
    ]
    return state


def send(http: httpx.Client, url: str, content: bytes, headers: dict[str, Any]) -> httpx.Response:
    """Sync on purpose: hypothesis drives plain functions (the service is another process)."""
    return http.post(url, content=content, headers=headers)


def _close(http: httpx.Client) -> None:
    http.close()


def wechat_refused(r: httpx.Response, what: object) -> None:
    assert 400 <= r.status_code < 500, f"{what!r}: {r.status_code} {r.text}"
    answer = r.json()
    assert answer["code"] == "FAIL" and isinstance(answer["message"], str), what


def text_refused(r: httpx.Response, what: object) -> None:
    assert 400 <= r.status_code < 500, f"{what!r}: {r.status_code} {r.text}"
    assert r.text == "fail", what


# ------------------------------------------------------------------------------------------
# WeChat Pay


def _wechat_post(world: dict[str, Any]) -> Callable[..., httpx.Response]:
    side: WechatSide = world["wechat"]

    def post(body: bytes, **header_overrides: str | bytes) -> httpx.Response:
        headers: dict[str, Any] = {**side.headers(body), **header_overrides}
        return world["http"].post(  # type: ignore[no-any-return]
            f"{world['url']}/webhooks/wechatpay", content=body, headers=headers
        )

    return post


def _envelope(side: WechatSide, resource: Any, **fields: Any) -> bytes:
    envelope = {
        "id": secrets.token_hex(8),
        "create_time": "2026-03-05T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": resource,
        **fields,
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


def _signed_with_timestamp(side: WechatSide, body: bytes, timestamp: bytes) -> dict[str, Any]:
    from sandbox.keys import rsa_sign

    nonce = secrets.token_hex(16)
    signature = rsa_sign(side.public_key, timestamp + f"\n{nonce}\n".encode() + body + b"\n")
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": side.public_key_id,
        "Content-Type": "application/json",
    }


async def test_wechatpay_malformed_notifications_are_4xx_fail_and_change_nothing(
    world: dict[str, Any],
) -> None:
    side: WechatSide = world["wechat"]
    post = _wechat_post(world)
    otn = world["pending"]["out_trade_no"]
    before = await snapshot(world["conn"])
    good = transaction(otn, 300)
    body = side.body("TRANSACTION.SUCCESS", good)

    # Signed timestamps that are no Unix time: "²" (latin-1 0xB2, a digit to str.isdigit), 5,000
    # digits (more than int() takes), full-width digits, a sign.
    for timestamp in (b"\xb2", b"1" * 5000, "１７".encode(), b"-1700000000", b"1e9"):
        r = send(
            world["http"],
            f"{world['url']}/webhooks/wechatpay",
            body,
            _signed_with_timestamp(side, body, timestamp),
        )
        wechat_refused(r, timestamp[:10])

    resource = side.resource(good)
    cases: dict[str, bytes] = {
        "resource is a string": _envelope(side, "AAAA"),
        "resource is a list": _envelope(side, [resource]),
        "nonce is a number": _envelope(side, {**resource, "nonce": 123456789012}),
        "ciphertext is a number": _envelope(side, {**resource, "ciphertext": 1}),
        "associated_data is an object": _envelope(side, {**resource, "associated_data": {}}),
        "no resource": json.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS"}).encode(),
        "event_type is a number": _envelope(side, resource, event_type=7),
        "no event_type": json.dumps({"id": "x", "resource": resource}).encode(),
        "a JSON list": b"[1, 2, 3]",
        "not JSON": b'{"resource": ',
        "not UTF-8": b"\xff\xfe\x00{}",
        "deeply nested": b"[" * 100_000 + b"]" * 100_000,
        "empty": b"",
    }
    for name, resource_data in {
        "mchid missing": {k: v for k, v in good.items() if k != "mchid"},
        "mchid of another merchant": {**good, "mchid": "1900000999"},
        "appid of another app": {**good, "appid": "wx0000000000000000"},
        "appid missing": {k: v for k, v in good.items() if k != "appid"},
        "decrypts to a list": [good],
        "amount is a string": {**good, "amount": "300"},
        "total is a string": {**good, "amount": {**good["amount"], "total": "300"}},
        "total is a float": {**good, "amount": {**good["amount"], "total": 300.0}},
        "total is infinite": {**good, "amount": {**good["amount"], "total": float("inf")}},
        "total is huge": {**good, "amount": {**good["amount"], "total": 10**30}},
        "total is negative": {**good, "amount": {**good["amount"], "total": -300}},
        "transaction_id is a number": {**good, "transaction_id": 4200000001},
        "transaction_id holds NUL": {**good, "transaction_id": "4200\x00001"},
        "out_trade_no is too long": {**good, "out_trade_no": "P" * 5000},
        "success_time has no zone": {**good, "success_time": "2026-03-05T10:00:00"},
        "success_time is a number": {**good, "success_time": 1772676000},
        "currency is an object": {**good, "amount": {**good["amount"], "currency": {}}},
    }.items():
        cases[name] = _envelope(side, side.resource(resource_data))  # type: ignore[arg-type]
    refunded = refund(world["paid"]["out_trade_no"], world["out_refund_no"], 40, 100)
    for name, refund_data in {
        "refund amount is a string": {**refunded, "amount": {**refunded["amount"], "refund": "40"}},
        "out_refund_no is a number": {**refunded, "out_refund_no": 5},
        "refund of another merchant": {**refunded, "mchid": "1900000999"},
        "refund without mchid": {k: v for k, v in refunded.items() if k != "mchid"},
    }.items():
        cases[name] = _envelope(
            side, side.resource(refund_data, "refund"), event_type="REFUND.SUCCESS"
        )
    for name, content in cases.items():
        wechat_refused(post(content), name)

    @FUZZ
    @given(
        st.one_of(
            st.tuples(st.sampled_from(["transaction_id", "out_trade_no"]), BAD_ID),
            st.tuples(st.just("total"), NOT_FEN),
            st.tuples(st.just("currency"), BAD_CURRENCY),
            st.tuples(st.just("success_time"), JSON),
            st.tuples(st.just("amount"), JSON.filter(lambda v: not isinstance(v, dict))),
            st.tuples(st.just("mchid"), JSON.filter(lambda v: v != MCHID)),
            st.tuples(st.just("resource"), JSON.filter(lambda v: not isinstance(v, dict))),
            st.tuples(st.just("nonce"), NOT_TEXT),
            st.tuples(st.just("event_type"), NOT_TEXT),
        )
    )
    def fuzz(case: tuple[str, Any]) -> None:
        field, value = case
        data = transaction(otn, 300)
        envelope_fields: dict[str, Any] = {}
        if field in ("total", "currency"):
            data["amount"][field] = value
        elif field == "success_time" and isinstance(value, str):
            data[field] = value + "?"  # never an ISO time with its zone
        elif field in ("resource", "nonce", "event_type"):
            envelope_fields[field] = value
        else:
            data[field] = value
        resource = side.resource(data)
        if field == "nonce":
            resource["nonce"] = envelope_fields.pop("nonce")
        if "resource" in envelope_fields:
            resource = envelope_fields.pop("resource")
        wechat_refused(post(_envelope(side, resource, **envelope_fields)), case)

    fuzz()
    assert await snapshot(world["conn"]) == before


# ------------------------------------------------------------------------------------------
# Alipay


async def test_alipay_malformed_notifications_are_4xx_fail_and_change_nothing(
    world: dict[str, Any],
) -> None:
    key = world["alipay_key"]
    otn = world["pending"]["out_trade_no"]
    before = await snapshot(world["conn"])
    http: httpx.Client = world["http"]
    url = f"{world['url']}/webhooks/alipay"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def post(params: dict[str, str]) -> httpx.Response:
        return send(http, url, alipay.signed_form(params, key), form)

    good = alipay.notification(otn, "3.00")
    cases: dict[str, dict[str, str]] = {
        "seller_id missing": {k: v for k, v in good.items() if k != "seller_id"},
        "another seller": {**good, "seller_id": "2088000000000000"},
        "another app": {**good, "app_id": "2021000000000000"},
        "total_amount not money": {**good, "total_amount": "三元"},
        "total_amount negative": {**good, "total_amount": "-3.00"},
        "total_amount huge": {**good, "total_amount": "1" + "0" * 30},
        "total_amount exponent": {**good, "total_amount": "1e999999999"},
        "trade_no missing": {k: v for k, v in good.items() if k != "trade_no"},
        "trade_no holds NUL": {**good, "trade_no": "2026\x00"},
        "trade_no too long": {**good, "trade_no": "2" * 5000},
        "gmt_payment not a time": {**good, "gmt_payment": "yesterday"},
        "currency too long": {**good, "trans_currency": "CNYCNYCNYCNY"},
        # A refund notification for a refund of a WeChat Pay payment.
        "refund of another gateway's payment": {
            **good,
            "out_trade_no": world["paid"]["out_trade_no"],
            "out_biz_no": world["out_refund_no"],
            "refund_fee": "0.40",
            "gmt_refund": "2026-03-05 10:00:00.123",
        },
        "refund_fee not money": {**good, "out_biz_no": world["out_refund_no"], "refund_fee": "x"},
    }
    for name, params in cases.items():
        text_refused(post(params), name)
    # Not UTF-8 (and signed as received); a parameter given twice.
    raw = alipay.signed_form(good, key)
    text_refused(send(http, url, raw + b"&subject=%FF%FE", form), "not UTF-8")
    text_refused(send(http, url, b"\xff\xfe=\x00", form), "bytes")
    text_refused(send(http, url, raw + b"&trade_no=1", form), "twice")

    @FUZZ
    @given(
        st.one_of(
            st.tuples(st.just("total_amount"), st.text(max_size=40).filter(_not_yuan)),
            st.tuples(st.sampled_from(["trade_no", "out_trade_no"]), BAD_ID_TEXT),
            st.tuples(st.just("gmt_payment"), st.text(min_size=1, max_size=40)),
            st.tuples(st.just("trans_currency"), st.text(min_size=9, max_size=40)),
            st.tuples(
                st.just("seller_id"), st.text(max_size=40).filter(lambda v: v != alipay.SELLER_ID)
            ),
            st.tuples(st.just("app_id"), st.text(max_size=40).filter(lambda v: v != alipay.APP_ID)),
        )
    )
    def fuzz(case: tuple[str, str]) -> None:
        field, value = case
        params = alipay.notification(otn, "3.00")
        params[field] = value.replace("\x00", "") if field == "gmt_payment" else value
        if field == "gmt_payment":
            params[field] += "?"  # never a time in Alipay's layout
        text_refused(post(params), case)

    fuzz()
    assert await snapshot(world["conn"]) == before


# ------------------------------------------------------------------------------------------
# UnionPay


async def test_unionpay_malformed_notifications_are_4xx_and_change_nothing(
    world: dict[str, Any],
) -> None:
    side: unionpay.UnionPaySide = world["unionpay"]
    otn = world["pending"]["out_trade_no"]
    before = await snapshot(world["conn"])
    http: httpx.Client = world["http"]
    url = f"{world['url']}/webhooks/unionpay"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def post(params: dict[str, str]) -> httpx.Response:
        return send(http, url, side.sign(params), form)

    good = unionpay.consumption(otn, 300)
    cases: dict[str, dict[str, str]] = {
        "merId missing": {k: v for k, v in good.items() if k != "merId"},
        "another merchant": {**good, "merId": "777000000000000"},
        "txnAmt not digits": {**good, "txnAmt": "3.00"},
        "txnAmt full-width": {**good, "txnAmt": "３００"},
        "txnAmt huge": {**good, "txnAmt": "9" * 5000},
        "txnAmt zero": {**good, "txnAmt": "0"},
        "queryId missing": {k: v for k, v in good.items() if k != "queryId"},
        "queryId holds NUL": {**good, "queryId": "Q\x00"},
        "txnTime not a time": {**good, "txnTime": "²"},
        "currencyCode missing": {k: v for k, v in good.items() if k != "currencyCode"},
        "version other": {**good, "version": "5.0.0"},
        # A refund (txnType 04) of a WeChat Pay payment's refund.
        "refund of another gateway's payment": {
            **good,
            "txnType": "04",
            "orderId": world["out_refund_no"],
            "txnAmt": "40",
        },
    }
    for name, params in cases.items():
        text_refused(post(params), name)
    signed = side.sign(good)
    text_refused(send(http, url, signed + b"&x=%FF", form), "not UTF-8 value")
    text_refused(send(http, url, b"\xff\xfe", form), "not UTF-8")
    text_refused(send(http, url, b"a", form), "not a form")

    @FUZZ
    @given(
        st.one_of(
            st.tuples(st.just("txnAmt"), st.text(max_size=30).filter(_not_fen_text)),
            st.tuples(st.sampled_from(["queryId", "orderId"]), BAD_ID_TEXT),
            st.tuples(st.just("txnTime"), st.text(min_size=1, max_size=30)),
            st.tuples(st.just("currencyCode"), st.text(min_size=9, max_size=30)),
            st.tuples(
                st.just("merId"), st.text(max_size=30).filter(lambda v: v != unionpay.MER_ID)
            ),
        )
    )
    def fuzz(case: tuple[str, str]) -> None:
        field, value = case
        params = unionpay.consumption(otn, 300)
        params[field] = value + "?" if field == "txnTime" else value
        text_refused(post(params), case)

    fuzz()
    assert await snapshot(world["conn"]) == before
