"""UnionPay 全渠道 (gateway 5.1.0), both sides of the wire.

* Requests: signed by the merchant's key named by ``certId``: SHA-256 (lower-case hex) of
  every field but ``signature``, sorted, ``k=v`` joined by ``&``, then SHA256withRSA
  (:func:`signed_text`, :func:`check_request`); refused with ``respCode=11`` unsigned.
* Answers and back notifications: the same signature with UnionPay's signing certificate,
  carried in ``signPubKeyCert`` (under UnionPay's root and intermediate CA) (:func:`sign`);
  answers are ``k=v&...`` without URL encoding, notifications form-encoded.
* A query finds a transaction by ``orderId`` and ``txnTime`` together.

:class:`UnionPaySide` and :func:`consumption` build notifications for tests;
:class:`FakeUnionPay` is the gateway with knobs for tests; :class:`UnionPayRoutes` is the
gateway of the demo's world.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from sandbox.keys import CST, UNIONPAY_ORG, Issued, digits, rsa_sign, rsa_verify, unionpay_chain
from sandbox.state import Order, WorldState, cst

#: The tests' merchant (UnionPay's test merchant number).
MER_ID = "777290058110048"
ORG = UNIONPAY_ORG
SUCCESS = "成功[0000000]"
_STAMP = "%Y%m%d%H%M%S"


def signed_text(fields: Mapping[str, str]) -> bytes:
    """SHA-256 (lower-case hex) of every field but ``signature``, sorted, ``k=v`` by ``&``."""
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest().encode()


def sign(fields: Mapping[str, str], key: rsa.RSAPrivateKey, cert_pem: str) -> dict[str, str]:
    """``fields`` signed by a UnionPay signing certificate (carried in ``signPubKeyCert``)."""
    signed = {**fields, "signPubKeyCert": cert_pem}
    signed["signature"] = rsa_sign(key, signed_text(signed))
    return signed


def check_request(
    fields: Mapping[str, str], mer_id: str, cert_id: str, merchant_public: rsa.RSAPublicKey
) -> bool:
    return (
        fields.get("version") == "5.1.0"
        and fields.get("signMethod") == "01"
        and fields.get("merId") == mer_id
        and fields.get("certId") == cert_id
        and rsa_verify(merchant_public, signed_text(fields), fields.get("signature", ""))
    )


def answer_text(fields: Mapping[str, str]) -> Response:
    """``k=v&...`` without URL encoding, as UnionPay writes answers."""
    text = "&".join(f"{k}={v}" for k, v in fields.items())
    return Response(text.encode(), 200, media_type="text/plain;charset=UTF-8")


def parse(raw: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


#: What an unsigned answer may say: a failure.
BAD_SIGNATURE = {"respCode": "11", "respMsg": "验证签名失败"}


def consumption(
    order_id: str,
    amount_fen: int,
    *,
    mer_id: str = MER_ID,
    paid_at: datetime | None = None,
    **overrides: str,
) -> dict[str, str]:
    """A 后台通知 of a consumption answered 00 (unsigned: :meth:`UnionPaySide.sign`)."""
    txn_time = cst(paid_at or datetime.now(CST)).strftime(_STAMP)
    params = {
        "version": "5.1.0",
        "encoding": "UTF-8",
        "signMethod": "01",
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "accessType": "0",
        "merId": mer_id,
        "orderId": order_id,
        "txnTime": txn_time,
        "txnAmt": str(amount_fen),
        "currencyCode": "156",
        "queryId": digits(21),
        "respCode": "00",
        "respMsg": SUCCESS,
        "traceNo": digits(6),
        "traceTime": txn_time[4:],
        "settleAmt": str(amount_fen),
        "settleCurrencyCode": "156",
        "settleDate": txn_time[4:8],
        "accNo": "6216***********" + digits(4),
        "payType": "0001",
        "reqReserved": "",
    }
    params.update(overrides)
    return params


@dataclass
class UnionPaySide:
    """UnionPay's test root and intermediate CA and its signing certificate."""

    root: Issued = field(init=False)
    middle: Issued = field(init=False)
    signer: Issued = field(init=False)

    def __post_init__(self) -> None:
        self.root, self.middle, self.signer = unionpay_chain()

    def sign(self, params: dict[str, str], signer: Issued | None = None) -> bytes:
        """A back notification's body (form-encoded), signed."""
        who = signer or self.signer
        return urlencode(sign(params, who.key, who.cert_pem.decode())).encode()


# ------------------------------------------------------------------------------------------
# tests


class FakeUnionPay:
    """The gateway for tests: ``pay`` plays the payer (the back notification is fixed then),
    ``signer`` signs answers with another certificate, ``tamper`` changes them after."""

    def __init__(
        self,
        side: UnionPaySide,
        merchant_public: rsa.RSAPublicKey,
        cert_id: str,
        *,
        mer_id: str = MER_ID,
    ) -> None:
        self.side = side
        self.merchant_public = merchant_public
        self.cert_id = cert_id
        self.mer_id = mer_id
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
            fields = sign(fields, who.key, who.cert_pem.decode())
            if self.tamper:
                fields["txnAmt"] = "1"
        return answer_text(fields)

    def echo(self, request: dict[str, str], **more: str) -> dict[str, str]:
        keys = ("version", "encoding", "bizType", "txnTime", "txnType", "txnSubType")
        base = {k: request[k] for k in keys if k in request}
        return {
            **base,
            "signMethod": "01",
            "accessType": "0",
            "merId": self.mer_id,
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
                mer_id=self.mer_id,
                txnTime=order["txnTime"],
                queryId=cst(paid_at or datetime.now(CST)).strftime(_STAMP) + digits(7),
            )
        return self.payments[order_id]

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        fields = parse(await request.body())
        if not check_request(fields, self.mer_id, self.cert_id, self.merchant_public):
            self.rejected_signatures += 1
            return self.answer(BAD_SIGNATURE, signed=False)
        self.calls.append((name, fields.get("txnType", "")))
        kind = (name, fields.get("txnType"), fields.get("txnSubType"))
        if kind == ("appTransReq.do", "01", "01"):
            self.orders[fields["orderId"]] = fields
            return self.answer(self.echo(fields, respCode="00", respMsg=SUCCESS, tn=digits(21)))
        if kind == ("backTransReq.do", "01", "07"):
            self.orders[fields["orderId"]] = fields
            code = "https://qr.95516.com/00010000/" + digits(20)
            return self.answer(self.echo(fields, respCode="00", respMsg=SUCCESS, qrCode=code))
        if kind == ("backTransReq.do", "04", "00"):
            self.refunds.append(fields)
            return self.answer(
                self.echo(fields, respCode="00", respMsg=SUCCESS, queryId=digits(21))
            )
        if kind == ("queryTrans.do", "00", "00"):
            order = self.orders.get(fields["orderId"])
            paid = self.payments.get(fields["orderId"])
            # UnionPay finds a transaction by orderId and its txnTime together.
            if order is None or order["txnTime"] != fields.get("txnTime") or paid is None:
                return self.answer(self.echo(fields, respCode="34", respMsg="查无此交易"))
            extra: dict[str, Any] = {
                k: paid[k] for k in ("queryId", "txnAmt", "currencyCode", "traceNo", "settleDate")
            }
            answer = self.echo(
                fields,
                respCode="00",
                respMsg=SUCCESS,
                origRespCode="00",
                origRespMsg=SUCCESS,
                **extra,
            )
            answer["txnType"], answer["txnSubType"] = "01", "01"
            return self.answer(answer)
        return self.answer(self.echo(fields, respCode="10", respMsg="不支持的交易"))


# ------------------------------------------------------------------------------------------
# the demo's world


class UnionPayRoutes(WorldState):
    """UnionPay at ``/gateway/api/*.do``: app and QR consumptions, refunds, queries."""

    def unionpay_routes(self) -> list[Route]:
        return [Route("/gateway/api/{name}", self._unionpay, methods=["POST"])]

    def _unionpay_signed(self, fields: dict[str, str]) -> dict[str, str]:
        return sign(
            fields, self.credentials.unionpay_sign_key, self.credentials.unionpay_sign_cert_pem
        )

    def unionpay_notification(
        self, order_id: str, amount_fen: int, paid_at: datetime, query_id: str
    ) -> tuple[bytes, dict[str, str]]:
        """5.1.0 后台通知 of a consumption answered 00 (:func:`consumption`), signed by
        UnionPay's signing certificate. ``txnTime`` is ``paid_at`` in Shanghai (payments
        takes it as the payment's instant)."""
        self._mark_paid("unionpay", order_id, amount_fen, paid_at, query_id)
        fields = consumption(
            order_id,
            amount_fen,
            mer_id=self.ids["unionpay"]["mer_id"],
            paid_at=paid_at,
            queryId=query_id,
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
        return urlencode(self._unionpay_signed(fields)).encode(), headers

    async def _unionpay(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = parse(await request.body())
        up = self.ids["unionpay"]
        merchant = self.credentials.unionpay_merchant_public
        if not check_request(form, up["mer_id"], up["sign_cert_id"], merchant):
            self._count("rejected_signatures.unionpay")
            # Unsigned: a failure is all an unsigned answer may say.
            return answer_text(BAD_SIGNATURE)
        self._count("requests.unionpay")
        if name == "frontTransReq.do":
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>银联在线支付（沙箱）</title>"
                "<p>银联在线支付（沙箱）：支付结果以后台通知为准。</p>"
            )
        echo: dict[str, str] = {
            k: form[k]
            for k in ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType",
                      "accessType", "merId", "orderId", "txnTime")
            if k in form
        }  # fmt: skip
        order_id, txn_type = form.get("orderId", ""), form.get("txnType", "")
        if name in ("appTransReq.do", "backTransReq.do") and txn_type == "01":
            try:
                fen = int(form.get("txnAmt", ""))
            except ValueError:
                fen = 0
            if fen <= 0 or not order_id or not form.get("backUrl"):
                return self._unionpay_signed_text({**echo, "respCode": "30", "respMsg": "报文错误"})
            with self._lock:
                order = self._orders.get(("unionpay", order_id))
                if order is not None and order.state == "SUCCESS":
                    return self._unionpay_signed_text(
                        {**echo, "respCode": "12", "respMsg": "重复交易"}
                    )
                self._orders[("unionpay", order_id)] = Order(
                    "unionpay", order_id, fen, txn_time=form.get("txnTime", "")
                )
            answer = {**echo, "respCode": "00", "respMsg": SUCCESS}
            if name == "appTransReq.do":
                answer["tn"] = digits(21)
            elif form.get("txnSubType") == "07":
                answer["qrCode"] = "https://qr.95516.com/00010000/" + digits(20)
            return self._unionpay_signed_text(answer)
        if name == "backTransReq.do" and txn_type == "04":  # 退货
            answer = {
                **echo,
                "origQryId": form.get("origQryId", ""),
                "txnAmt": form.get("txnAmt", ""),
                "queryId": digits(21),
                "respCode": "00",
                "respMsg": SUCCESS,
            }
            return self._unionpay_signed_text(answer)
        if name == "queryTrans.do":
            with self._lock:
                order = self._orders.get(("unionpay", order_id))
            # UnionPay finds a transaction by orderId and its txnTime together.
            if (
                order is None
                or order.state != "SUCCESS"
                or (order.txn_time and order.txn_time != form.get("txnTime"))
            ):
                return self._unionpay_signed_text(
                    {**echo, "respCode": "34", "respMsg": "查无此交易"}
                )
            paid = order.paid_at or datetime.now(CST)
            answer = {
                **echo,
                "respCode": "00",
                "respMsg": SUCCESS,
                "origRespCode": "00",
                "origRespMsg": SUCCESS,
                "queryId": order.transaction_id,
                "txnAmt": str(order.amount_fen),
                "currencyCode": "156",
                "txnTime": cst(paid).strftime("%Y%m%d%H%M%S"),
            }
            return self._unionpay_signed_text(answer)
        return self._unionpay_signed_text({**echo, "respCode": "10", "respMsg": "不支持的交易"})

    def _unionpay_signed_text(self, fields: dict[str, str]) -> Response:
        return answer_text(self._unionpay_signed(fields))
