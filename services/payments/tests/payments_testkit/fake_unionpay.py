"""A fake UnionPay 全渠道 5.1.0 gateway: checks the merchant's request signatures (certId and
SHA-256 hex then SHA256withRSA, as UnionPay does) and answers ``k=v&...`` without URL encoding,
signed with the UnionPay signing certificate of :class:`UnionPaySide` (in ``signPubKeyCert``).
Written from the 5.1.0 documentation with ``cryptography`` directly."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments_testkit.keys import Issued, rsa_sign, rsa_verify
from payments_testkit.unionpay import CST, MER_ID, UnionPaySide, consumption


def signed_text(fields: dict[str, str]) -> bytes:
    """SHA-256 (lower-case hex) of every field but ``signature``, sorted, ``k=v`` by ``&``."""
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest().encode()


class FakeUnionPay:
    def __init__(self, side: UnionPaySide, merchant_public: rsa.RSAPublicKey, cert_id: str) -> None:
        self.side = side
        self.merchant_public = merchant_public
        self.cert_id = cert_id
        self.orders: dict[str, dict[str, str]] = {}  # orderId -> the consumption request
        self.payments: dict[str, dict[str, str]] = {}  # orderId -> the back notification
        self.refunds: list[dict[str, str]] = []
        self.calls: list[tuple[str, str]] = []
        self.rejected_signatures = 0
        #: Sign answers with another certificate (not UnionPay's chain) / change them after.
        self.signer: Issued | None = None
        self.tamper = False
        self.app = Starlette(routes=[Route("/gateway/api/{name}", self.handle, methods=["POST"])])

    def answer(self, fields: dict[str, str], *, signed: bool = True) -> Response:
        if signed:
            who = self.signer or self.side.signer
            fields = {**fields, "signPubKeyCert": who.cert_pem.decode()}
            fields["signature"] = rsa_sign(who.key, signed_text(fields))
            if self.tamper:
                fields["txnAmt"] = "1"
        # As UnionPay writes answers: not URL-encoded.
        return Response("&".join(f"{k}={v}" for k, v in fields.items()).encode())

    def echo(self, request: dict[str, str], **more: str) -> dict[str, str]:
        keys = ("version", "encoding", "bizType", "txnTime", "txnType", "txnSubType")
        base = {k: request[k] for k in keys if k in request}
        return {
            **base,
            "signMethod": "01",
            "accessType": "0",
            "merId": MER_ID,
            "orderId": request.get("orderId", ""),
            **more,
        }

    def pay(self, order_id: str, paid_at: datetime | None = None) -> dict[str, str]:
        """The payer pays: the back notification UnionPay would send (queryId fixed now)."""
        order = self.orders[order_id]
        if order_id not in self.payments:
            self.payments[order_id] = consumption(
                order_id,
                int(order["txnAmt"]),
                txnTime=order["txnTime"],
                queryId=(paid_at or datetime.now(CST)).strftime("%Y%m%d%H%M%S")
                + secrets.token_hex(4).upper()[:7],
            )
        return self.payments[order_id]

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if (
            fields.get("certId") != self.cert_id
            or fields.get("signMethod") != "01"
            or fields.get("version") != "5.1.0"
            or fields.get("merId") != MER_ID
            or not rsa_verify(
                self.merchant_public, signed_text(fields), fields.get("signature", "")
            )
        ):
            self.rejected_signatures += 1
            return self.answer({"respCode": "11", "respMsg": "验证签名失败"}, signed=False)
        self.calls.append((name, fields.get("txnType", "")))
        kind = (name, fields.get("txnType"), fields.get("txnSubType"))
        if kind == ("appTransReq.do", "01", "01"):
            self.orders[fields["orderId"]] = fields
            tn = secrets.token_hex(10)
            return self.answer(self.echo(fields, respCode="00", respMsg="成功[0000000]", tn=tn))
        if kind == ("backTransReq.do", "01", "07"):
            self.orders[fields["orderId"]] = fields
            code = "https://qr.95516.com/00010000/" + secrets.token_hex(8)
            return self.answer(self.echo(fields, respCode="00", respMsg="成功", qrCode=code))
        if kind == ("backTransReq.do", "04", "00"):
            self.refunds.append(fields)
            return self.answer(
                self.echo(fields, respCode="00", respMsg="成功", queryId=secrets.token_hex(10))
            )
        if kind == ("queryTrans.do", "00", "00"):
            order = self.orders.get(fields["orderId"])
            # UnionPay finds a transaction by orderId and its txnTime together.
            if order is None or order["txnTime"] != fields["txnTime"]:
                return self.answer(self.echo(fields, respCode="34", respMsg="查无此交易"))
            paid = self.payments.get(fields["orderId"])
            if paid is None:
                return self.answer(self.echo(fields, respCode="34", respMsg="查无此交易"))
            extra: dict[str, Any] = {
                k: paid[k] for k in ("queryId", "txnAmt", "currencyCode", "traceNo", "settleDate")
            }
            answer = self.echo(
                fields,
                respCode="00",
                respMsg="成功",
                origRespCode="00",
                origRespMsg="成功",
                **extra,
            )
            answer["txnType"], answer["txnSubType"] = "01", "01"
            return self.answer(answer)
        return self.answer({"respCode": "12", "respMsg": f"unknown {kind}"}, signed=False)
