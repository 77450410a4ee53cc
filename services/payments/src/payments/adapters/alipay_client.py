"""Alipay open-platform client: RSA2-signed form requests, verified JSON answers.

Requests: every parameter except ``sign`` and those with empty values (``sign_type`` is
signed), sorted, ``k=v&``, SHA256withRSA with the app key. Answers:
``{"<method>_response": {...}, "sign": "..."}``; the signature covers the exact text of the
response object, so it is cut out of the raw body, not re-serialised. A request Alipay cannot
take at all is answered in ``error_response``, one it cannot authenticate in the method's node
without a signature: both are believed only as failures (``AlipayError``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from payments.adapters.crypto import VerificationError, sign_sha256_rsa, verify_sha256_rsa
from payments.adapters.keys import AlipayKeys
from payments.adapters.results import CodePayResult, QueryResult
from payments.domain.orders import SHANGHAI
from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport
from propfee.money import format_yuan, yuan_to_fen


class AlipayError(Exception):
    pass


def response_text(raw: str, node: str) -> str:
    """The exact JSON text of ``node`` in the raw answer (what Alipay signed)."""
    marker = f'"{node}":'
    start = raw.index(marker) + len(marker)
    while raw[start] in " \t\r\n":
        start += 1
    _, end = json.JSONDecoder().raw_decode(raw, start)
    return raw[start:end]


def request_signing_string(params: dict[str, str]) -> str:
    """What an open-API request signs: not ``sign``, not empty values; ``sign_type`` is in."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


@dataclass
class AlipayClient:
    http: httpx.AsyncClient
    url: str
    keys: AlipayKeys
    notify_url: str

    def signed_params(self, method: str, biz: dict[str, Any], now: datetime) -> dict[str, str]:
        assert self.keys.app_private_key is not None
        params = {
            "app_id": self.keys.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "notify_url": self.notify_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        message = request_signing_string(params).encode()
        params["sign"] = sign_sha256_rsa(self.keys.app_private_key, message)
        return params

    async def call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        params = self.signed_params(method, biz, datetime.now(SHANGHAI))
        response = await self.http.post(self.url, data=params)
        response.raise_for_status()
        raw = response.text
        node = method.replace(".", "_") + "_response"
        answer: dict[str, Any] = json.loads(raw)
        if node not in answer:
            # Unsigned or not, an error answer is only ever believed as a failure.
            error = answer.get("error_response") or {}
            code, sub = error.get("code"), error.get("sub_code")
            raise AlipayError(f"{code} {sub}: {error.get('sub_msg')}")
        sign = answer.get("sign")
        if not sign:
            # Alipay does not sign a refusal of a request it could not authenticate (a bad
            # app id or signature: code 40001/40002/20001 in the method's own node). Believed
            # only as a failure; a success must be signed.
            body = answer[node] if isinstance(answer[node], dict) else {}
            if body.get("code") not in (None, "10000"):
                raise AlipayError(
                    f"{body.get('code')} {body.get('sub_code')}: {body.get('sub_msg')}"
                )
            raise VerificationError("Alipay answer is not signed")
        verify_sha256_rsa(self.keys.alipay_public_key, response_text(raw, node).encode(), sign)
        data: dict[str, Any] = answer[node]
        return data

    async def prepay(self, order: Any, scene: str, openid: str | None) -> dict[str, Any]:
        """``jsapi`` (Alipay mini program / life account): alipay.trade.create for the payer
        (``payer_openid``: an open_id, or a user id 2088...), answering the ``trade_no`` that
        my.tradePay takes. Otherwise 当面付 precreate: a QR code the payer scans."""
        if scene == "jsapi":
            if not openid:
                raise AlipayError("alipay.trade.create needs the payer's id (payer_openid)")
            buyer = "buyer_id" if openid.startswith("2088") else "buyer_open_id"
            data = await self.call("alipay.trade.create", {**self._biz(order), buyer: openid})
            if data.get("code") != "10000":
                raise AlipayError(f"{data.get('sub_code')}: {data.get('sub_msg')}")
            return {"trade_no": data["trade_no"]}
        data = await self.call("alipay.trade.precreate", self._biz(order))
        if data.get("code") != "10000":
            raise AlipayError(f"{data.get('sub_code')}: {data.get('sub_msg')}")
        return {"qr_code": data["qr_code"]}

    def _biz(self, order: Any) -> dict[str, Any]:
        return {
            "out_trade_no": order["out_trade_no"],
            "total_amount": format_yuan(order["amount_fen"]),
            "subject": "物业费",
            "time_expire": order["expires_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        }

    def _report(self, data: dict[str, Any], fallback: datetime) -> GatewayReport:
        paid = data.get("send_pay_date")
        return GatewayReport(
            gateway="alipay",
            channel="alipay",
            transaction_id=data["trade_no"],
            out_trade_no=data["out_trade_no"],
            amount_fen=yuan_to_fen(data["total_amount"]),
            currency=data.get("trans_currency") or "CNY",
            paid_at=datetime.strptime(paid, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
            if paid
            else fallback,
        )

    async def query(self, out_trade_no: str) -> QueryResult:
        data = await self.call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if data.get("code") != "10000":
            return QueryResult(str(data.get("sub_code", "UNKNOWN")), None)
        state = str(data.get("trade_status"))
        paid = state in ("TRADE_SUCCESS", "TRADE_FINISHED")
        return QueryResult(state, self._report(data, datetime.now(SHANGHAI)) if paid else None)

    async def pay_with_code(self, order: Any, auth_code: str) -> CodePayResult:
        """条码支付: 10000 paid; 10003 waiting for the payer; 20000 unknown; 40004 failed."""
        biz = {**self._biz(order), "scene": "bar_code", "auth_code": auth_code}
        data = await self.call("alipay.trade.pay", biz)
        code = data.get("code")
        if code == "10000":
            return CodePayResult("paid", self._report(data, datetime.now(SHANGHAI)))
        if code in ("10003", "20000"):
            return CodePayResult("unknown", None)
        return CodePayResult("failed", None, f"{data.get('sub_code')}: {data.get('sub_msg')}")

    async def reverse(self, out_trade_no: str) -> bool:
        data = await self.call("alipay.trade.cancel", {"out_trade_no": out_trade_no})
        return data.get("code") == "10000"

    async def close(self, order: Any) -> bool:
        """alipay.trade.close: True when the trade is closed, or Alipay never created it (a
        precreated code nobody scanned); False otherwise (e.g. paid meanwhile: query again)."""
        data = await self.call("alipay.trade.close", {"out_trade_no": order["out_trade_no"]})
        return data.get("code") == "10000" or data.get("sub_code") == "ACQ.TRADE_NOT_EXIST"

    async def refund(self, payment: Any, refund: Any) -> RefundReport | None:
        """Alipay answers refunds synchronously: fund_change Y means the money moved."""
        data = await self.call(
            "alipay.trade.refund",
            {
                "out_trade_no": payment["out_trade_no"],
                "refund_amount": format_yuan(refund["amount_fen"]),
                "refund_reason": refund["reason"][:80],
                "out_request_no": refund["out_refund_no"],
            },
        )
        if data.get("code") != "10000":
            raise AlipayError(f"{data.get('sub_code')}: {data.get('sub_msg')}")
        if data.get("fund_change") != "Y":
            return None
        return RefundReport(
            out_refund_no=refund["out_refund_no"],
            gateway_refund_id=data.get("trade_no", ""),
            succeeded=True,
            amount_fen=refund["amount_fen"],
            at=datetime.now(SHANGHAI),
            gateway="alipay",
        )
