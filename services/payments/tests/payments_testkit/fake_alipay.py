"""A fake Alipay open-platform gateway (``/gateway.do``): checks the app's RSA2 request
signature as Alipay documents it (every parameter but ``sign``, empty values dropped, sorted,
``k=v`` by ``&``; ``sign_type`` is signed) and answers
``{"alipay_trade_<x>_response": {...}, "sign": "..."}`` signed over the exact text of the
response object with the Alipay key. Written with ``cryptography`` directly."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments_testkit.alipay import APP_ID, CST, SELLER_ID
from payments_testkit.keys import rsa_sign, rsa_verify

OK = {"code": "10000", "msg": "Success"}


def not_exist() -> dict[str, str]:
    return {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.TRADE_NOT_EXIST",
        "sub_msg": "交易不存在",
    }


class FakeAlipay:
    def __init__(self, alipay_key: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey) -> None:
        self.alipay_key = alipay_key
        self.app_public = app_public
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
        node = method.replace(".", "_") + "_response"
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        sign = rsa_sign(self.forge_with or self.alipay_key, text.encode())
        # Alipay's layout: the response object, then the sign, no re-serialisation.
        body = f'{{"{node}":{text},"sign":"{sign}"}}'
        return Response(body.encode(), media_type="application/json;charset=utf-8")

    def pay(self, out_trade_no: str, paid_at: datetime | None = None) -> dict[str, Any]:
        """The payer scans and pays."""
        trade = self.trades[out_trade_no]
        trade.update(status="TRADE_SUCCESS", scanned=True)
        trade.setdefault("paid_at", (paid_at or datetime.now(CST)).strftime("%Y-%m-%d %H:%M:%S"))
        return trade

    def scan(self, out_trade_no: str) -> None:
        """The payer scans the code but does not pay (yet): WAIT_BUYER_PAY."""
        self.trades[out_trade_no]["scanned"] = True

    async def handle(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        method = params.get("method", "")
        content = "&".join(
            f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != ""
        )
        if (
            params.get("app_id") != APP_ID
            or params.get("sign_type") != "RSA2"
            or not rsa_verify(self.app_public, content.encode(), params.get("sign", ""))
        ):
            self.rejected_signatures += 1
            error = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
                "sub_msg": "验签出错",
            }
            return Response(json.dumps({"error_response": error}, ensure_ascii=False).encode())
        biz = json.loads(params["biz_content"])
        self.calls.append((method, biz.get("out_trade_no", "")))
        out_trade_no = biz.get("out_trade_no", "")
        trade = self.trades.get(out_trade_no)
        if method in ("alipay.trade.precreate", "alipay.trade.create"):
            self.trades[out_trade_no] = {
                "biz": biz,
                "status": "WAIT_BUYER_PAY",
                "trade_no": "2026" + secrets.token_hex(12),
                "scanned": method == "alipay.trade.create",  # create makes the trade at once
            }
            if method == "alipay.trade.create":
                trade_no = self.trades[out_trade_no]["trade_no"]
                return self.answer(
                    method, {**OK, "out_trade_no": out_trade_no, "trade_no": trade_no}
                )
            qr = "https://qr.alipay.com/bax0" + secrets.token_hex(10)
            return self.answer(method, {**OK, "out_trade_no": out_trade_no, "qr_code": qr})
        if trade is None or not trade["scanned"]:
            # A precreated code nobody scanned: Alipay has no trade yet.
            return self.answer(method, not_exist())
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
                return self.answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                        "sub_msg": "交易状态不合法",
                    },
                )
            trade["status"] = "TRADE_CLOSED"
            return self.answer(
                method, {**OK, "trade_no": trade["trade_no"], "out_trade_no": out_trade_no}
            )
        if method == "alipay.trade.refund":
            if trade["status"] != "TRADE_SUCCESS":
                return self.answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                        "sub_msg": "交易状态不合法",
                    },
                )
            self.refunds.append(biz)
            refunded = sum(Decimal(r["refund_amount"]) for r in self.refunds)
            return self.answer(
                method,
                {
                    **OK,
                    "trade_no": trade["trade_no"],
                    "out_trade_no": out_trade_no,
                    "buyer_logon_id": "159****5620",
                    "fund_change": "Y",
                    "refund_fee": str(refunded),
                    "gmt_refund_pay": datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S"),
                    "buyer_user_id": SELLER_ID,
                },
            )
        return self.answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "X"})
