"""Alipay open platform (``gateway.do``), both sides of the wire.

* Requests: RSA2 (SHA256withRSA) over every parameter but ``sign``, empty values left out,
  sorted, ``k=v`` joined by ``&`` (``sign_type`` is signed) (:func:`request_content`).
* Answers: ``{"alipay_trade_<x>_response":{...},"sign":"..."}``, signed over the exact text
  of the response object (:func:`answer_body`); ``error_response`` when the method is unknown.
  A request Alipay cannot authenticate (unknown app, bad signature: 40002 ``isv.*``) is
  answered in the method's node too, but without ``sign`` (as Alipay does: SDK issues
  fzlee/alipay#20, #60).
* Asynchronous notifications: form-encoded, RSA2 over every parameter but ``sign`` and
  ``sign_type``, empty values kept, sorted (:func:`notification_content`).

:func:`notification` and :func:`signed_form` build notifications for tests; :class:`FakeAlipay`
is the gateway with knobs for tests; :class:`AlipayRoutes` is the gateway of the demo's world.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.keys import CST, alnum, digits, rsa_sign, rsa_verify
from sandbox.state import Order, WorldState, cst, yuan

#: The tests' app (Alipay's documentation's sandbox examples).
APP_ID = "2021000117650139"
SELLER_ID = "2088102177846880"
OK = {"code": "10000", "msg": "Success"}
METHODS = frozenset(
    {
        "alipay.trade.precreate",
        "alipay.trade.create",
        "alipay.trade.pay",
        "alipay.trade.query",
        "alipay.trade.cancel",
        "alipay.trade.close",
        "alipay.trade.refund",
    }
)
_TIME = "%Y-%m-%d %H:%M:%S"


def request_content(params: Mapping[str, str]) -> bytes:
    """What the app signs in a request: ``sign_type`` included, empty values left out."""
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != ""
    ).encode()


def notification_content(params: Mapping[str, str]) -> bytes:
    """What Alipay signs in a notification: ``sign`` and ``sign_type`` left out, empty kept."""
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type")
    ).encode()


def answer_body(method: str, data: dict[str, Any], key: rsa.RSAPrivateKey | None) -> bytes:
    """Alipay's layout: the response object, then the sign over its exact text (none when
    ``key`` is None)."""
    node = method.replace(".", "_") + "_response" if method in METHODS else "error_response"
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if key is None:
        return f'{{"{node}":{text}}}'.encode()
    return f'{{"{node}":{text},"sign":"{rsa_sign(key, text.encode())}"}}'.encode()


def answer(method: str, data: dict[str, Any], key: rsa.RSAPrivateKey | None) -> Response:
    return Response(answer_body(method, data, key), media_type="application/json;charset=utf-8")


def failure(sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


def invalid(sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}


BAD_SIGNATURE = invalid(
    "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"
)


def parse_request(raw: bytes, query: str) -> dict[str, str]:
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        form = {}
    return form | dict(parse_qsl(query, keep_blank_values=True))


#: Refusals of a request Alipay could not authenticate: answered unsigned.
UNSIGNED = frozenset({"isv.invalid-app-id", "isv.invalid-signature-type", "isv.invalid-signature"})


def check_request(
    form: Mapping[str, str], app_id: str, app_public: rsa.RSAPublicKey
) -> dict[str, str] | None:
    """None when Alipay accepts the request's app and signature, else the error it answers
    (unsigned when its ``sub_code`` is in :data:`UNSIGNED`)."""
    if form.get("app_id") != app_id:
        return invalid("isv.invalid-app-id", "无效的AppID参数")
    if form.get("method", "") not in METHODS:
        return invalid("isv.invalid-method", "不存在的方法名")
    if form.get("sign_type") != "RSA2":
        return invalid("isv.invalid-signature-type", "无效的签名类型")
    if not rsa_verify(app_public, request_content(form), form.get("sign", "")):
        return BAD_SIGNATURE
    return None


def fen_of(amount: str) -> int:
    """``"12.30"`` → 1230; ValueError unless a positive amount in yuan with at most 2 decimals."""
    whole, _, cents = amount.partition(".")
    if len(cents) > 2 or not whole.isdigit() or (cents and not cents.isdigit()):
        raise ValueError(amount)
    fen = int(whole) * 100 + int((cents + "00")[:2])
    if fen <= 0:
        raise ValueError(amount)
    return fen


def notification(
    out_trade_no: str,
    total_amount: str,
    *,
    app_id: str = APP_ID,
    seller_id: str = SELLER_ID,
    paid_at: datetime | None = None,
    trade_no: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """A TRADE_SUCCESS 异步通知's parameters (unsigned: :func:`signed_form` signs them)."""
    paid = cst(paid_at or datetime.now(CST))
    trade_no = trade_no or paid.strftime("%Y%m%d") + digits(20)
    params = {
        "gmt_create": (paid - timedelta(seconds=40)).strftime(_TIME),
        "charset": "utf-8",
        "seller_email": "",  # an empty value: kept in the signed string
        "subject": "物业费",
        "buyer_id": "2088" + hashlib.sha256(trade_no.encode()).hexdigest()[:12].upper(),
        "invoice_amount": total_amount,
        "notify_id": "2026" + secrets.token_hex(14),
        "fund_bill_list": json.dumps(
            [{"amount": total_amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
        ),
        "notify_type": "trade_status_sync",
        "trade_status": "TRADE_SUCCESS",
        "receipt_amount": total_amount,
        "app_id": app_id,
        "buyer_pay_amount": total_amount,
        "notify_time": paid.strftime(_TIME),
        "point_amount": "0.00",
        "total_amount": total_amount,
        "seller_id": seller_id,
        "trade_no": trade_no,
        "auth_app_id": app_id,
        "gmt_payment": paid.strftime(_TIME),
        "out_trade_no": out_trade_no,
        "version": "1.0",
    }
    params.update(overrides)
    return params


def signed_form(params: dict[str, str], key: rsa.RSAPrivateKey) -> bytes:
    """The notification's body, signed with Alipay's key."""
    signed = {**params, "sign_type": "RSA2", "sign": rsa_sign(key, notification_content(params))}
    return urlencode(signed).encode()


# ------------------------------------------------------------------------------------------
# tests


class FakeAlipay:
    """The gateway for tests: trades by ``out_trade_no`` (``pay``/``scan`` play the payer),
    ``calls`` and ``refunds`` recorded, ``forge_with`` signs answers with another key."""

    def __init__(
        self,
        alipay_key: rsa.RSAPrivateKey,
        app_public: rsa.RSAPublicKey,
        *,
        app_id: str = APP_ID,
    ) -> None:
        self.alipay_key = alipay_key
        self.app_public = app_public
        self.app_id = app_id
        #: out_trade_no -> {"biz": ..., "status": WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_CLOSED,
        #: "trade_no": ..., "scanned": bool}
        self.trades: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.refunds: list[dict[str, Any]] = []
        self.rejected_signatures = 0
        #: Sign answers with this key instead of Alipay's (a forged answer).
        self.forge_with: rsa.RSAPrivateKey | None = None
        self.app = Starlette(routes=[Route("/gateway.do", self.handle, methods=["POST"])])

    def answer(self, method: str, data: dict[str, Any]) -> Response:
        return answer(method, data, self.forge_with or self.alipay_key)

    def pay(self, out_trade_no: str, paid_at: datetime | None = None) -> dict[str, Any]:
        """The payer scans and pays."""
        trade = self.trades[out_trade_no]
        trade.update(status="TRADE_SUCCESS", scanned=True)
        trade.setdefault("paid_at", cst(paid_at or datetime.now(CST)).strftime(_TIME))
        return trade

    def scan(self, out_trade_no: str) -> None:
        """The payer scans the code but does not pay (yet): WAIT_BUYER_PAY."""
        self.trades[out_trade_no]["scanned"] = True

    async def handle(self, request: Request) -> Response:
        params = parse_request(await request.body(), request.url.query)
        method = params.get("method", "")
        refused = check_request(params, self.app_id, self.app_public)
        if refused is not None:
            self.rejected_signatures += 1
            key = None if refused["sub_code"] in UNSIGNED else self.alipay_key
            return answer(method, refused, key)
        biz = json.loads(params["biz_content"])
        out_trade_no = biz.get("out_trade_no", "")
        self.calls.append((method, out_trade_no))
        trade = self.trades.get(out_trade_no)
        if method in ("alipay.trade.precreate", "alipay.trade.create"):
            try:  # the same amount rule as the demo's gateway
                fen_of(str(biz.get("total_amount", "")))
            except ValueError:
                return self.answer(method, failure("ACQ.INVALID_PARAMETER", "参数无效"))
            self.trades[out_trade_no] = {
                "biz": biz,
                "status": "WAIT_BUYER_PAY",
                "trade_no": datetime.now(CST).strftime("%Y%m%d") + digits(20),
                "scanned": method == "alipay.trade.create",  # create makes the trade at once
            }
            if method == "alipay.trade.create":
                trade_no = self.trades[out_trade_no]["trade_no"]
                return self.answer(
                    method, {**OK, "out_trade_no": out_trade_no, "trade_no": trade_no}
                )
            qr = "https://qr.alipay.com/bax0" + alnum(20).lower()
            return self.answer(method, {**OK, "out_trade_no": out_trade_no, "qr_code": qr})
        if trade is None or not trade["scanned"]:
            # A precreated code nobody scanned: Alipay has no trade yet.
            return self.answer(method, failure("ACQ.TRADE_NOT_EXIST", "交易不存在"))
        if method == "alipay.trade.query":
            data = {
                **OK,
                "trade_no": trade["trade_no"],
                "out_trade_no": out_trade_no,
                "buyer_logon_id": "159****5620",
                "trade_status": trade["status"],
                "total_amount": trade["biz"]["total_amount"],
                "buyer_pay_amount": trade["biz"]["total_amount"],
            }
            if trade["status"] == "TRADE_SUCCESS":
                data["send_pay_date"] = trade["paid_at"]
            return self.answer(method, data)
        if method == "alipay.trade.close":
            if trade["status"] != "WAIT_BUYER_PAY":
                return self.answer(method, failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"))
            trade["status"] = "TRADE_CLOSED"
            return self.answer(
                method, {**OK, "trade_no": trade["trade_no"], "out_trade_no": out_trade_no}
            )
        if method == "alipay.trade.refund":
            if trade["status"] != "TRADE_SUCCESS":
                return self.answer(method, failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"))
            self.refunds.append(biz)
            # refund_fee: the trade's refunded total so far, as Alipay documents it.
            refunded = sum(
                Decimal(r["refund_amount"])
                for r in self.refunds
                if r.get("out_trade_no") == out_trade_no
            )
            return self.answer(
                method,
                {
                    **OK,
                    "trade_no": trade["trade_no"],
                    "out_trade_no": out_trade_no,
                    "buyer_logon_id": "159****5620",
                    "fund_change": "Y",
                    "refund_fee": f"{refunded:.2f}",
                    "gmt_refund_pay": datetime.now(CST).strftime(_TIME),
                    "buyer_user_id": SELLER_ID,
                },
            )
        return self.answer(method, failure("ACQ.SYSTEM_ERROR", "系统错误"))


# ------------------------------------------------------------------------------------------
# the demo's world


class AlipayRoutes(WorldState):
    """Alipay at ``/alipay/gateway.do``: precreate, pay (payment code), query, cancel, close,
    refund."""

    def alipay_routes(self) -> list[Route]:
        return [Route("/alipay/gateway.do", self._alipay, methods=["POST"])]

    def alipay_notification(
        self, out_trade_no: str, amount_fen: int, paid_at: datetime, trade_no: str
    ) -> tuple[bytes, dict[str, str]]:
        """TRADE_SUCCESS 异步通知 (:func:`notification`, :func:`signed_form`); ``gmt_payment``
        is ``paid_at``. Later queries of the trade answer TRADE_SUCCESS."""
        self._mark_paid("alipay", out_trade_no, amount_fen, paid_at, trade_no)
        ali = self.ids["alipay"]
        params = notification(
            out_trade_no,
            yuan(amount_fen),
            app_id=ali["app_id"],
            seller_id=ali["seller_id"],
            paid_at=paid_at,
            trade_no=trade_no,
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return signed_form(params, self.credentials.alipay_key), headers

    def _alipay_answer(self, method: str, data: dict[str, Any]) -> Response:
        return answer(method, data, self.credentials.alipay_key)

    async def _alipay(self, request: Request) -> Response:
        form = parse_request(await request.body(), request.url.query)
        method = form.get("method", "")
        refused = check_request(
            form, self.ids["alipay"]["app_id"], self.credentials.alipay_app_public
        )
        if refused is not None:
            if refused["sub_code"] in UNSIGNED:
                self._count("rejected_signatures.alipay")
                return answer(method, refused, None)
            return self._alipay_answer(method, refused)
        try:
            datetime.strptime(form.get("timestamp", ""), _TIME)
            biz = json.loads(form.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self._alipay_answer(method, invalid("isv.invalid-parameter", "参数无效"))
        self._count("requests.alipay")
        return self._alipay_method(method, biz)

    def _alipay_method(self, method: str, biz: dict[str, Any]) -> Response:
        out_trade_no = str(biz.get("out_trade_no", ""))
        not_exist = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        }
        with self._lock:
            order = self._orders.get(("alipay", out_trade_no))
        if method == "alipay.trade.create":  # the demo's payments does not use it
            return self._alipay_answer(method, failure("ACQ.ACCESS_FORBIDDEN", "无权限使用接口"))
        if method in ("alipay.trade.precreate", "alipay.trade.pay"):
            try:
                fen = fen_of(str(biz["total_amount"]))
                if not (out_trade_no and biz.get("subject")):
                    raise ValueError
            except (KeyError, ValueError):
                return self._alipay_answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.INVALID_PARAMETER",
                        "sub_msg": "参数无效",
                    },
                )
            with self._lock:
                if order is not None and order.state == "SUCCESS":
                    return self._alipay_answer(
                        method,
                        {
                            "code": "40004",
                            "msg": "Business Failed",
                            "sub_code": "ACQ.TRADE_HAS_SUCCESS",
                            "sub_msg": "交易已被支付",
                        },
                    )
                order = self._orders[("alipay", out_trade_no)] = Order("alipay", out_trade_no, fen)
                if method == "alipay.trade.pay":
                    order.state, order.paid_at = "SUCCESS", datetime.now(CST)
                    order.transaction_id = datetime.now(CST).strftime("%Y%m%d") + digits(20)
            if method == "alipay.trade.precreate":
                return self._alipay_answer(
                    method,
                    {
                        "code": "10000",
                        "msg": "Success",
                        "out_trade_no": out_trade_no,
                        "qr_code": "https://qr.alipay.com/bax0" + alnum(20).lower(),
                    },
                )
            return self._alipay_answer(
                method, {"code": "10000", "msg": "Success", **self._alipay_trade(order)}
            )
        if order is None or (order.state == "NOTPAY" and method != "alipay.trade.cancel"):
            # A precreated code nobody has scanned yet is no trade at Alipay.
            return self._alipay_answer(method, not_exist)
        if method == "alipay.trade.query":
            if order.state == "SUCCESS":
                answer = {"code": "10000", "msg": "Success", **self._alipay_trade(order)}
            else:
                status = "TRADE_CLOSED" if order.state == "CLOSED" else "WAIT_BUYER_PAY"
                answer = {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": out_trade_no,
                    "trade_status": status,
                    "total_amount": yuan(order.amount_fen),
                }
            return self._alipay_answer(method, answer)
        if method in ("alipay.trade.cancel", "alipay.trade.close"):
            if order.state == "SUCCESS" and method == "alipay.trade.close":
                return self._alipay_answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                        "sub_msg": "交易状态不合法",
                    },
                )
            action = "refund" if order.state == "SUCCESS" else "close"
            with self._lock:
                order.state = "CLOSED"
            answer = {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no}
            if method == "alipay.trade.cancel":
                answer |= {"retry_flag": "N", "action": action}
            return self._alipay_answer(method, answer)
        # alipay.trade.refund
        try:
            refund_fen = fen_of(str(biz.get("refund_amount", "")))
        except ValueError:
            return self._alipay_answer(method, failure("ACQ.INVALID_PARAMETER", "参数无效"))
        with self._lock:
            if order.state != "SUCCESS":
                return self._alipay_answer(
                    method, failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
                )
            if order.refunded_fen + refund_fen > order.amount_fen:
                return self._alipay_answer(
                    method, failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
                )
            order.refunded_fen += refund_fen
            refunded = order.refunded_fen
        return self._alipay_answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": order.transaction_id,
                "out_trade_no": out_trade_no,
                "buyer_logon_id": "159****5620",
                "fund_change": "Y",
                "refund_fee": yuan(refunded),  # the trade's refunded total so far
                "gmt_refund_pay": datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    @staticmethod
    def _alipay_trade(order: Order) -> dict[str, Any]:
        paid = order.paid_at or datetime.now(CST)
        amount = yuan(order.amount_fen)
        return {
            "trade_no": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": "159****5620",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": amount,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "send_pay_date": paid.strftime("%Y-%m-%d %H:%M:%S"),
            "gmt_payment": paid.strftime("%Y-%m-%d %H:%M:%S"),
        }
