"""A fake WeChat Pay API v3 server: checks the merchant's request signatures (as WeChat does)
and signs its answers with the WeChat Pay public-key mode key."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments_testkit.keys import rsa_sign, rsa_verify
from payments_testkit.wechat import CST, MCHID, WechatSide, transaction

_AUTH = re.compile(r'(\w+)="([^"]*)"')


class FakeWechatPay:
    def __init__(self, side: WechatSide, merchant_public: rsa.RSAPublicKey) -> None:
        self.side = side
        self.merchant_public = merchant_public
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.rejected_signatures = 0
        # Scripts for the payment-code flow, by auth code.
        self.codepay_script: dict[str, list[str]] = {}
        self.reversed: list[str] = []
        self.refunds: list[dict[str, Any]] = []
        self.closed: list[str] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    def answer(self, status: int, data: dict[str, Any] | None) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode() if data is not None else b""
        ts, nonce = str(int(time.time())), secrets.token_hex(8)
        signature = rsa_sign(self.side.public_key, f"{ts}\n{nonce}\n".encode() + body + b"\n")
        headers = {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.side.public_key_id,
            "Content-Type": "application/json",
        }
        return Response(body, status_code=status, headers=headers)

    def paid(self, out_trade_no: str) -> dict[str, Any]:
        order = self.orders[out_trade_no]
        if "transaction" not in order:
            order["transaction"] = transaction(
                out_trade_no, order["amount"]["total"], success_time=datetime.now(CST)
            )
        return order["transaction"]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        auth = request.headers.get("authorization", "")
        fields = dict(_AUTH.findall(auth))
        message = (
            (
                f"{request.method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n"
            ).encode()
            + body
            + b"\n"
        )
        if (
            not auth.startswith("WECHATPAY2-SHA256-RSA2048 ")
            or fields.get("mchid") != MCHID
            or not rsa_verify(self.merchant_public, message, fields.get("signature", ""))
        ):
            self.rejected_signatures += 1
            return self.answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        self.calls.append((request.method, request.url.path))
        data = json.loads(body) if body else {}
        p = request.url.path
        if p in ("/v3/pay/transactions/native", "/v3/pay/transactions/jsapi"):
            self.orders[data["out_trade_no"]] = data
            if p.endswith("native"):
                return self.answer(
                    200, {"code_url": "weixin://wxpay/bizpayurl?pr=" + secrets.token_hex(4)}
                )
            return self.answer(200, {"prepay_id": "wx" + secrets.token_hex(14)})
        if p == "/v3/pay/transactions/codepay":
            self.orders[data["out_trade_no"]] = data
            script = self.codepay_script.setdefault(data["payer"]["auth_code"], ["SUCCESS"])
            step = script.pop(0)
            data["script"] = script
            if step == "SUCCESS":
                return self.answer(200, self.paid(data["out_trade_no"]))
            if step == "HTTP500":
                return Response(b"", status_code=500)
            return self.answer(202, {"code": step, "message": "需要用户输入支付密码"})
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/(\w+)/close", p)
        if m and request.method == "POST":
            order = self.orders.get(m.group(1))
            if data.get("mchid") != MCHID:
                return self.answer(400, {"code": "PARAM_ERROR", "message": "mchid"})
            if order is not None and "transaction" in order:
                return self.answer(400, {"code": "ORDERPAID", "message": "订单已支付"})
            if order is None:
                return self.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            self.closed.append(m.group(1))
            order["closed"] = True
            return self.answer(204, None)
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/(\w+)", p)
        if m and request.method == "GET":
            order = self.orders.get(m.group(1))
            if order is None:
                return self.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            if order.get("closed"):
                return self.answer(
                    200, {"out_trade_no": m.group(1), "trade_state": "CLOSED", "mchid": MCHID}
                )
            script = order.get("script") or order.setdefault("query_script", ["SUCCESS"])
            state = script.pop(0) if script else "SUCCESS"
            if state == "SUCCESS" or order.get("paid_by_owner"):
                return self.answer(200, self.paid(m.group(1)))
            return self.answer(
                200, {"out_trade_no": m.group(1), "trade_state": state, "mchid": MCHID}
            )
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/(\w+)/reverse", p)
        if m:
            self.reversed.append(m.group(1))
            return self.answer(204, None)
        if p == "/v3/refund/domestic/refunds":
            self.refunds.append(data)
            return self.answer(
                200,
                {
                    "refund_id": "5030" + secrets.token_hex(8),
                    "out_refund_no": data["out_refund_no"],
                    "status": "PROCESSING",
                    "amount": data["amount"],
                },
            )
        return self.answer(404, {"code": "NOT_FOUND", "message": p})
