"""UnionPay 全渠道 5.1.0 client: signed requests, answers verified like back notifications.

Requests are form posts. ``signMethod`` 01: every field except ``signature``, sorted, ``k=v``
joined by ``&``; its SHA-256 in lower-case hex is signed with SHA256withRSA by the merchant's
signing key; ``certId`` names that key's certificate. Answers are ``k=v&...`` without URL
encoding (values may hold ``{...}`` groups with ``&`` and ``=`` inside), signed by UnionPay with
the certificate in ``signPubKeyCert``, which must chain to the configured root and intermediate
(``unionpay_notify.verify_notification``). An unsigned answer is believed only as a failure.

Endpoints: ``appTransReq`` (a ``tn`` for the UnionPay/QuickPass app), ``backTransReq`` (QR code
申码, refunds), ``queryTrans`` (status, by ``orderId`` and the order's ``txnTime``) and
``frontTransReq`` (the browser posts the signed form itself: nothing is called from here).
Consumption orders have no close: the gateway refuses payment after ``payTimeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from payments.adapters.crypto import sign_sha256_rsa
from payments.adapters.keys import UnionPayKeys
from payments.adapters.results import CodePayResult, QueryResult
from payments.adapters.unionpay_notify import CURRENCIES, signing_digest, verify_notification
from payments.domain.orders import SHANGHAI
from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport

FRONT = "/gateway/api/frontTransReq.do"
APP = "/gateway/api/appTransReq.do"
BACK = "/gateway/api/backTransReq.do"
QUERY = "/gateway/api/queryTrans.do"
#: respCode / origRespCode meaning "being processed, ask again later".
PROCESSING = ("03", "04", "05")
NOT_FOUND = "34"


class UnionPayError(Exception):
    """UnionPay refused the request (its respCode and respMsg)."""


def parse_answer(text: str) -> dict[str, str]:
    """``k=v&k=v`` as UnionPay writes answers: no URL encoding; a value may be a ``{...}``
    group that contains ``&`` and ``=``; the first ``=`` ends the key."""
    fields: dict[str, str] = {}
    key: str | None = None
    start, depth = 0, 0
    for i, ch in enumerate(text):
        if key is None:
            if ch == "=":
                key, start = text[start:i], i + 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch == "&" and depth == 0:
            fields[key], key, start = text[start:i], None, i + 1
    if key is not None:
        fields[key] = text[start:]
    return fields


def txn_time(out_trade_no: str) -> str:
    """The order's ``txnTime`` (Shanghai ``YYYYMMDDhhmmss``): ``out_trade_no`` carries it
    (``P`` + yymmddHHMMSS + 7 characters, see ``domain.orders``), so a query finds the order."""
    stamp = out_trade_no[1:13]
    if not (out_trade_no.startswith("P") and stamp.isdigit()):
        raise UnionPayError(f"{out_trade_no} is not an order number payments made")
    return "20" + stamp


def _shanghai(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


@dataclass
class UnionPayClient:
    http: httpx.AsyncClient  # base_url: the gateway (https://gateway.95516.com)
    keys: UnionPayKeys
    back_url: str
    front_url: str

    def signed(self, fields: dict[str, str]) -> dict[str, str]:
        assert self.keys.private_key is not None
        params = {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "signMethod": "01",
            "accessType": "0",
            "merId": self.keys.mer_id,
            "certId": self.keys.sign_cert_id,
            **fields,
        }
        params["signature"] = sign_sha256_rsa(self.keys.private_key, signing_digest(params))
        return params

    async def call(self, path: str, fields: dict[str, str]) -> dict[str, str]:
        response = await self.http.post(
            path,
            data=self.signed(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
        if response.status_code != 200:
            raise UnionPayError(f"HTTP {response.status_code}")
        answer = parse_answer(response.text)
        if "signature" not in answer:
            # Unsigned: not to be believed, except as a failure.
            code = answer.get("respCode", "??")
            raise UnionPayError(f"{code}: {answer.get('respMsg', 'unsigned answer')}"[:200])
        verify_notification(self.keys, answer, datetime.now(UTC))
        return answer

    def _consume(self, order: Any, channel_type: str) -> dict[str, str]:
        return {
            "txnType": "01",
            "txnSubType": "01",
            "bizType": "000201",
            "channelType": channel_type,
            "orderId": order["out_trade_no"],
            "txnTime": txn_time(order["out_trade_no"]),
            "txnAmt": str(order["amount_fen"]),
            "currencyCode": "156",
            "payTimeout": _shanghai(order["expires_at"]),
            "backUrl": self.back_url,
        }

    async def prepay(self, order: Any, scene: str, openid: str | None) -> dict[str, Any]:
        """``app``: a ``tn`` for the app's SDK; ``native``/``qr``: a QR code (申码) the payer
        scans with a UnionPay app; ``wap``/``jsapi``: the signed form the payer's browser
        posts to ``frontTransReq``."""
        if scene == "app":
            answer = await self.call(APP, self._consume(order, "08"))
            self._succeeded(answer)
            return {"tn": answer["tn"]}
        if scene in ("native", "qr"):
            fields = {**self._consume(order, "08"), "txnSubType": "07", "bizType": "000000"}
            answer = await self.call(BACK, fields)
            self._succeeded(answer)
            return {"qr_code": answer["qrCode"]}
        fields = {**self._consume(order, "08"), "frontUrl": self.front_url}
        url = str(self.http.base_url).rstrip("/") + FRONT
        return {"action": url, "method": "POST", "fields": self.signed(fields)}

    @staticmethod
    def _succeeded(answer: dict[str, str]) -> None:
        if answer.get("respCode") != "00":
            raise UnionPayError(f"{answer.get('respCode')}: {answer.get('respMsg')}"[:200])

    async def query(self, out_trade_no: str) -> QueryResult:
        """respCode 00: ``origRespCode`` is the payment's result (00 paid, 03/04/05 still in
        progress, else failed); respCode 34: UnionPay has no such transaction."""
        answer = await self.call(
            QUERY,
            {
                "txnType": "00",
                "txnSubType": "00",
                "bizType": "000000",
                "channelType": "07",
                "orderId": out_trade_no,
                "txnTime": txn_time(out_trade_no),
            },
        )
        code = answer.get("respCode")
        if code == NOT_FOUND:
            return QueryResult("not_found", None)
        if code != "00":
            raise UnionPayError(f"{code}: {answer.get('respMsg')}"[:200])
        if answer.get("orderId") != out_trade_no:
            raise UnionPayError("the answer is about another order")
        orig = answer.get("origRespCode", "")
        if orig in PROCESSING:
            return QueryResult("PROCESSING", None)
        if orig != "00":
            return QueryResult(f"FAILED_{orig}", None)
        report = GatewayReport(
            gateway="unionpay",
            channel="unionpay",
            transaction_id=answer["queryId"],
            out_trade_no=out_trade_no,
            amount_fen=int(answer["txnAmt"]),
            currency=CURRENCIES.get(answer.get("currencyCode", "156"), answer["currencyCode"]),
            paid_at=datetime.strptime(answer["txnTime"], "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI),
        )
        return QueryResult("SUCCESS", report)

    async def pay_with_code(self, order: Any, auth_code: str) -> CodePayResult:
        return CodePayResult("failed", None, "UnionPay payment codes are not taken here")

    async def reverse(self, out_trade_no: str) -> bool:
        return False

    async def close(self, order: Any) -> bool:
        """Nothing to call: a consumption order ends at its ``payTimeout`` (the order's expiry,
        sent when it was created), after which UnionPay refuses to pay it."""
        return True

    async def refund(self, payment: Any, refund: Any) -> RefundReport | None:
        """退货 (txnType 04) of the original ``queryId``; the back notification confirms it."""
        answer = await self.call(
            BACK,
            {
                "txnType": "04",
                "txnSubType": "00",
                "bizType": "000201",
                "channelType": "07",
                "orderId": refund["out_refund_no"],
                "origQryId": payment["gateway_transaction_id"],
                "txnTime": _shanghai(datetime.now(UTC)),
                "txnAmt": str(refund["amount_fen"]),
                "currencyCode": "156",
                "backUrl": self.back_url,
            },
        )
        code = answer.get("respCode")
        if code != "00" and code not in PROCESSING:
            raise UnionPayError(f"{code}: {answer.get('respMsg')}"[:200])
        return None
