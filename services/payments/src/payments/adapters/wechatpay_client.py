"""WeChat Pay API v3 client: signed requests (WECHATPAY2-SHA256-RSA2048), verified answers.

Request signature: SHA256withRSA with the merchant key over
``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``. Answers are signed by WeChat Pay like
notifications and verified the same way before anything in them is believed.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.adapters.crypto import sign_sha256_rsa
from payments.adapters.results import CodePayResult, QueryResult
from payments.adapters.wechatpay_notify import WechatPayKeys, verify_signed
from payments.adapters.wechatpay_resources import refund_report, transaction_report
from payments.domain.refunds import RefundReport


class GatewayError(Exception):
    """The gateway answered with an error (the code and message are the gateway's)."""


@dataclass
class WechatPayClient:
    http: httpx.AsyncClient
    keys: WechatPayKeys
    merchant_key: rsa.RSAPrivateKey
    merchant_serial: str
    appid: str
    notify_url: str

    def authorization(self, method: str, path: str, body: str) -> str:
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"{method}\n{path}\n{ts}\n{nonce}\n{body}\n".encode()
        signature = sign_sha256_rsa(self.merchant_key, message)
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{self.keys.mchid}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{ts}",serial_no="{self.merchant_serial}"'
        )

    async def call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload else ""
        response = await self.http.request(
            method,
            path,
            content=body.encode() or None,
            headers={
                "Authorization": self.authorization(method, path, body),
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        if response.status_code >= 500:
            raise GatewayError(f"HTTP {response.status_code}")
        verify_signed(self.keys, response.headers, response.content, datetime.now(UTC))
        data = response.json() if response.content else {}
        return response.status_code, data

    def _order_body(self, order: Any) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "mchid": self.keys.mchid,
            "description": "物业费",
            "out_trade_no": order["out_trade_no"],
            "time_expire": order["expires_at"].isoformat(timespec="seconds"),
            "notify_url": self.notify_url,
            "amount": {"total": order["amount_fen"], "currency": "CNY"},
        }

    async def prepay(self, order: Any, scene: str, openid: str | None) -> dict[str, Any]:
        """JSAPI (in WeChat, needs the payer's openid) or Native (a code_url to show as QR)."""
        body = self._order_body(order)
        if scene == "jsapi":
            if not openid:
                raise GatewayError("JSAPI needs the payer's openid")
            body["payer"] = {"openid": openid}
        kind = "jsapi" if scene == "jsapi" else "native"
        status, data = await self.call("POST", f"/v3/pay/transactions/{kind}", body)
        if status != 200:
            raise GatewayError(f"{data.get('code')}: {data.get('message')}")
        if kind == "native":
            return {"code_url": data["code_url"]}
        return self.jsapi_params(data["prepay_id"])

    def jsapi_params(self, prepay_id: str) -> dict[str, Any]:
        """What the page passes to WeixinJSBridge: signed with the merchant key."""
        ts, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        message = f"{self.appid}\n{ts}\n{nonce}\n{package}\n".encode()
        return {
            "appId": self.appid,
            "timeStamp": ts,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": sign_sha256_rsa(self.merchant_key, message),
        }

    async def query(self, out_trade_no: str) -> QueryResult:
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.keys.mchid}"
        status, data = await self.call("GET", path)
        if status == 404:
            return QueryResult("not_found", None)
        if status != 200:
            raise GatewayError(f"{data.get('code')}: {data.get('message')}")
        state = str(data.get("trade_state", "UNKNOWN"))
        return QueryResult(state, transaction_report(data))

    async def pay_with_code(self, order: Any, auth_code: str) -> CodePayResult:
        """付款码: the cashier scans the payer's code. SUCCESS, USERPAYING or an error."""
        body = self._order_body(order)
        body.pop("notify_url")
        body.pop("time_expire")
        body["payer"] = {"auth_code": auth_code}
        status, data = await self.call("POST", "/v3/pay/transactions/codepay", body)
        if status == 200 and data.get("trade_state") == "SUCCESS":
            return CodePayResult("paid", transaction_report(data))
        if data.get("code") in ("USERPAYING", "SYSTEM_ERROR", "BANK_ERROR") or status == 202:
            return CodePayResult("unknown", None)
        return CodePayResult("failed", None, f"{data.get('code')}: {data.get('message')}")

    async def reverse(self, out_trade_no: str) -> bool:
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse"
        status, _ = await self.call("POST", path, {"mchid": self.keys.mchid, "appid": self.appid})
        return status in (200, 204)

    async def close(self, order: Any) -> bool:
        """关闭订单: 204 when closed; anything else (paid meanwhile, an error) is False."""
        path = f"/v3/pay/transactions/out-trade-no/{order['out_trade_no']}/close"
        status, _ = await self.call("POST", path, {"mchid": self.keys.mchid})
        return status == 204

    async def refund(self, payment: Any, refund: Any) -> RefundReport | None:
        """Ask for the refund; the notification (REFUND.SUCCESS) confirms it later."""
        body = {
            "out_trade_no": payment["out_trade_no"],
            "out_refund_no": refund["out_refund_no"],
            "reason": refund["reason"][:80],
            "notify_url": self.notify_url,
            "amount": {
                "refund": refund["amount_fen"],
                "total": payment["amount_fen"],
                "currency": "CNY",
            },
        }
        status, data = await self.call("POST", "/v3/refund/domestic/refunds", body)
        if status != 200:
            raise GatewayError(f"{data.get('code')}: {data.get('message')}")
        if data.get("status") in ("CLOSED", "ABNORMAL"):
            data["refund_status"] = data["status"]
            return refund_report(data, datetime.now(UTC))
        return None
