"""WeChat Pay API v3, both sides of the wire.

* Requests: the merchant's ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  timestamp="…",serial_no="…",signature="…"``, SHA256withRSA over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the merchant's API key; refused
  (401 ``SIGN_ERROR``) when the mchid or the certificate serial is not the merchant's, the
  timestamp is more than 5 minutes off or the signature does not verify
  (:func:`verify_request`).
* Answers and notifications: ``Wechatpay-Timestamp/-Nonce/-Signature/-Serial`` over
  ``TIMESTAMP\\nNONCE\\nBODY\\n``, with the WeChat Pay public-key key (``Wechatpay-Serial`` is
  the ``PUB_KEY_ID_…``) or the platform certificate's key (its serial) (:func:`signed_headers`).
* Notifications: ``resource`` encrypted with AEAD_AES_256_GCM under the APIv3 key
  (:func:`encrypt_resource`), in the documented envelope (:func:`envelope`).

:class:`WechatSide`, :func:`transaction` and :func:`refund` build notifications for tests;
:class:`FakeWechatPay` is the gateway with scripts for tests; :class:`WechatPayRoutes` is the
gateway of the demo's world.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.keys import CST, Issued, digits, issue, new_key, rsa_sign, rsa_verify
from sandbox.state import Order, WorldState, cst

SCHEME = "WECHATPAY2-SHA256-RSA2048"
#: The tests' merchant (WeChat's documentation's examples).
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD"
#: How far the request's timestamp may be from the gateway's clock.
MAX_SKEW_S = 300
_AUTH = re.compile(r'(\w+)="([^"]*)"')
_OUT_TRADE_NO = r"[A-Za-z0-9_*|-]{6,32}"


def _compact(data: Any) -> bytes:
    # WeChat's own JSON layout, deliberately not Python's default separators.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def verify_request(
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    mchid: str,
    merchant_public: rsa.RSAPublicKey,
    merchant_serial: str | None,
) -> str | None:
    """None when WeChat Pay accepts the merchant's request signature, else the message of its
    401 ``SIGN_ERROR`` (``merchant_serial`` None: any certificate serial)."""
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    fields = dict(_AUTH.findall(rest))
    timestamp = fields.get("timestamp", "")
    if scheme != SCHEME or not fields.get("nonce_str") or not fields.get("signature"):
        return "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"
    if fields.get("mchid") != mchid:
        return "错误的签名，验签失败"
    if merchant_serial is not None and fields.get("serial_no", "").upper() != (
        merchant_serial.upper()
    ):
        return "商户证书序列号有误。请使用签名私钥匹配的证书序列号"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or (
        abs(time.time() - int(timestamp)) > MAX_SKEW_S
    ):
        return "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
    message = f"{method}\n{path_and_query}\n{timestamp}\n{fields['nonce_str']}\n".encode()
    if not rsa_verify(merchant_public, message + body + b"\n", fields["signature"]):
        return "错误的签名，验签失败"
    return None


def request_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def order_problem(
    kind: str, data: dict[str, Any], *, appid: str, mchid: str
) -> tuple[str, str] | None:
    """Why WeChat Pay refuses an order (``kind``: native, jsapi, codepay) with 400: the code
    and message; None when it takes it."""
    amount = data.get("amount") or {}
    total = amount.get("total") if isinstance(amount, dict) else None
    raw_payer = data.get("payer")
    payer: dict[str, Any] = raw_payer if isinstance(raw_payer, dict) else {}
    if data.get("appid") != appid or data.get("mchid") != mchid:
        return ("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    if not re.fullmatch(_OUT_TRADE_NO, str(data.get("out_trade_no", ""))):
        return ("PARAM_ERROR", "out_trade_no格式错误")
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
        return ("PARAM_ERROR", "amount.total必须为正整数")
    if kind != "codepay" and not str(data.get("notify_url", "")).startswith("http"):
        return ("PARAM_ERROR", "notify_url格式错误")
    if kind == "jsapi" and not payer.get("openid"):
        return ("PARAM_ERROR", "JSAPI支付必须传openid")
    if kind == "codepay" and not str(payer.get("auth_code", "")).isdigit():
        return ("PARAM_ERROR", "付款码格式错误")
    return None


def signed_headers(
    key: rsa.RSAPrivateKey, serial: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """WeChat Pay's signature of an answer or a notification."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(16).upper()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa_sign(key, f"{ts}\n{nonce}\n".encode() + body + b"\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SCHEME,
    }


def encrypt_resource(apiv3_key: bytes, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """A notification's ``resource``: AEAD_AES_256_GCM, the kind as associated data."""
    nonce = secrets.token_urlsafe(9)[:12]
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), _compact(data), kind.encode())
    return {
        "original_type": kind,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": kind,
        "nonce": nonce,
    }


def envelope(
    apiv3_key: bytes,
    event_type: str,
    data: dict[str, Any],
    *,
    at: datetime | None = None,
    notification_id: str | None = None,
) -> bytes:
    """The body WeChat Pay posts to ``notify_url``."""
    kind = "refund" if event_type.startswith("REFUND.") else "transaction"
    summary = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功"}.get(
        event_type, "通知"
    )
    return _compact(
        {
            "id": notification_id or str(uuid.uuid4()),
            "create_time": cst(at or datetime.now(CST)).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": encrypt_resource(apiv3_key, data, kind),
        }
    )


# ------------------------------------------------------------------------------------------
# tests: WeChat Pay's keys and notifications


@dataclass
class WechatSide:
    """WeChat Pay's keys: a platform certificate and a WeChat Pay public key, plus APIv3 key."""

    apiv3_key: bytes = field(default_factory=lambda: secrets.token_hex(16).encode())
    platform: Issued = field(default_factory=lambda: issue("Tenpay.com platform"))
    public_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    public_key_id: str = "PUB_KEY_ID_0119000001092025010100000000000001"

    def resource(
        self, data: dict[str, Any], associated_data: str = "transaction"
    ) -> dict[str, Any]:
        return encrypt_resource(self.apiv3_key, data, associated_data)

    def body(
        self, event_type: str, data: dict[str, Any], *, notification_id: str | None = None
    ) -> bytes:
        return envelope(self.apiv3_key, event_type, data, notification_id=notification_id)

    def headers(
        self,
        body: bytes,
        *,
        mode: str = "public_key",
        timestamp: int | None = None,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:
        """Sign ``timestamp\\nnonce\\nbody\\n`` with the platform key or the public-key key."""
        if mode == "platform":
            signer, default_serial = self.platform.key, self.platform.serial_hex
        else:
            signer, default_serial = self.public_key, self.public_key_id
        headers = signed_headers(key or signer, serial or default_serial, body, timestamp=timestamp)
        return {**headers, "Content-Type": "application/json"}


def transaction(
    out_trade_no: str,
    amount_fen: int,
    *,
    transaction_id: str | None = None,
    currency: str = "CNY",
    success_time: datetime | None = None,
    mchid: str = MCHID,
    appid: str = APPID,
    trade_type: str = "NATIVE",
    openid: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
) -> dict[str, Any]:
    """A decrypted TRANSACTION.SUCCESS resource (and a query's answer for a paid order)."""
    return {
        "mchid": mchid,
        "appid": appid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id or "4200" + digits(24),
        "trade_type": trade_type,
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": cst(success_time or datetime.now(CST)).isoformat(timespec="seconds"),
        "payer": {"openid": openid},
        "amount": {
            "total": amount_fen,
            "payer_total": amount_fen,
            "currency": currency,
            "payer_currency": currency,
        },
    }


def refund(
    out_trade_no: str,
    out_refund_no: str,
    refund_fen: int,
    total_fen: int,
    *,
    status: str = "SUCCESS",
    mchid: str = MCHID,
    transaction_id: str | None = None,
    success_time: datetime | None = None,
) -> dict[str, Any]:
    """A decrypted REFUND.SUCCESS (or REFUND.ABNORMAL/CLOSED) resource."""
    return {
        "mchid": mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id or "4200" + digits(24),
        "out_refund_no": out_refund_no,
        "refund_id": "50" + digits(27),
        "refund_status": status,
        "success_time": cst(success_time or datetime.now(CST)).isoformat(timespec="seconds"),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": total_fen,
            "refund": refund_fen,
            "payer_total": total_fen,
            "payer_refund": refund_fen,
        },
    }


def now_utc() -> datetime:
    return datetime.now(UTC)


class FakeWechatPay:
    """The gateway for tests, with scripts: the payment-code flow by auth code
    (``codepay_script``: ``SUCCESS``, ``USERPAYING``, ``HTTP500``...), an order's successive
    query answers (``query_script``). Requests are checked by :func:`verify_request`; answers
    signed with the public-key key (``mode="platform"``: the platform certificate's)."""

    def __init__(
        self,
        side: WechatSide,
        merchant_public: rsa.RSAPublicKey,
        *,
        merchant_serial: str | None = MERCHANT_SERIAL,
        mode: str = "public_key",
    ) -> None:
        self.side = side
        self.merchant_public = merchant_public
        self.merchant_serial = merchant_serial
        self.mode = mode
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.rejected_signatures = 0
        self.codepay_script: dict[str, list[str]] = {}
        self.reversed: list[str] = []
        self.refunds: list[dict[str, Any]] = []
        self.closed: list[str] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    def answer(self, status: int, data: dict[str, Any] | None) -> Response:
        body = _compact(data) if data is not None else b""
        headers = self.side.headers(body, mode=self.mode)
        headers["Request-ID"] = secrets.token_hex(16)
        if data is None:
            headers.pop("Content-Type")
        return Response(body, status_code=status, headers=headers)

    def paid(self, out_trade_no: str) -> dict[str, Any]:
        order = self.orders[out_trade_no]
        if "transaction" not in order:
            order["transaction"] = transaction(
                out_trade_no, order["amount"]["total"], success_time=datetime.now(CST)
            )
        return order["transaction"]  # type: ignore[no-any-return]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        refused = verify_request(
            request.method,
            request_path(request),
            request.headers,
            body,
            mchid=MCHID,
            merchant_public=self.merchant_public,
            merchant_serial=self.merchant_serial,
        )
        if refused is not None:
            self.rejected_signatures += 1
            return self.answer(401, {"code": "SIGN_ERROR", "message": refused})
        self.calls.append((request.method, request.url.path))
        data = json.loads(body) if body else {}
        p = request.url.path
        kind = p.rsplit("/", 1)[1]
        if p.startswith("/v3/pay/transactions/") and kind in ("native", "jsapi", "codepay"):
            problem = order_problem(kind, data, appid=APPID, mchid=MCHID)
            if problem is not None:
                return self.answer(400, {"code": problem[0], "message": problem[1]})
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
        m = re.fullmatch(rf"/v3/pay/transactions/out-trade-no/({_OUT_TRADE_NO})/close", p)
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
        m = re.fullmatch(rf"/v3/pay/transactions/out-trade-no/({_OUT_TRADE_NO})", p)
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
        m = re.fullmatch(rf"/v3/pay/transactions/out-trade-no/({_OUT_TRADE_NO})/reverse", p)
        if m:
            self.reversed.append(m.group(1))
            return self.answer(204, None)
        if p == "/v3/refund/domestic/refunds":
            self.refunds.append(data)
            return self.answer(
                200,
                {
                    "refund_id": "50" + digits(27),
                    "out_refund_no": data["out_refund_no"],
                    "status": "PROCESSING",
                    "amount": data["amount"],
                },
            )
        return self.answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "资源不存在"})


# ------------------------------------------------------------------------------------------
# the demo's world


class WechatPayRoutes(WorldState):
    """WeChat Pay at ``/v3/...``: orders (native, JSAPI, payment code), queries, close and
    reverse, refunds; answers signed with the public-key key and the platform certificate's
    key in turn (as during a key switch)."""

    _switch = 0

    def wechatpay_routes(self) -> list[Route]:
        return [Route("/v3/{path:path}", self._wechatpay, methods=["GET", "POST"])]

    def _wechatpay_transaction(self, order: Order) -> dict[str, Any]:
        wx = self.ids["wechatpay"]
        openid = order.openid or "o" + hashlib.sha256(order.out_trade_no.encode()).hexdigest()[:27]
        return transaction(
            order.out_trade_no,
            order.amount_fen,
            transaction_id=order.transaction_id,
            success_time=order.paid_at,
            mchid=wx["mchid"],
            appid=wx["appid"],
            trade_type=order.trade_type,
            openid=openid,
        )

    def _wechatpay_signer(self) -> tuple[rsa.RSAPrivateKey, str]:
        """The public-key key and the platform certificate's key, in turn (a key switch)."""
        with self._lock:
            self._switch += 1
            use_public_key = self._switch % 2 == 1
        if use_public_key:
            return self.credentials.wechatpay_pub_key, self.ids["wechatpay"]["public_key_id"]
        return self.credentials.wechatpay_platform_key, self.credentials.wechatpay_platform_serial

    def _wechatpay_headers(self, body: bytes) -> dict[str, str]:
        return signed_headers(*self._wechatpay_signer(), body)

    def _wechatpay_envelope(
        self, event_type: str, data: dict[str, Any], at: datetime
    ) -> tuple[bytes, dict[str, str]]:
        body = envelope(self.credentials.apiv3_key, event_type, data, at=at)
        headers = self._wechatpay_headers(body)
        headers["Content-Type"] = "application/json"
        return body, headers

    def wechatpay_notification(
        self, out_trade_no: str, amount_fen: int, paid_at: datetime, transaction_id: str
    ) -> tuple[bytes, dict[str, str]]:
        """TRANSACTION.SUCCESS as WeChat Pay posts it to ``/webhooks/wechatpay``: the resource
        encrypted with the APIv3 key, signed now (``Wechatpay-Timestamp`` is the real time);
        ``success_time`` is ``paid_at`` in +08:00. Later queries of the order answer SUCCESS."""
        order = self._mark_paid("wechatpay", out_trade_no, amount_fen, paid_at, transaction_id)
        data = self._wechatpay_transaction(order)
        data["amount"] = {**data["amount"], "total": amount_fen, "payer_total": amount_fen}
        data["transaction_id"] = transaction_id
        data["success_time"] = cst(paid_at).isoformat(timespec="seconds")
        return self._wechatpay_envelope("TRANSACTION.SUCCESS", data, paid_at)

    def wechatpay_refund_notification(
        self,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        refunded_at: datetime,
    ) -> tuple[bytes, dict[str, str]]:
        """REFUND.SUCCESS for a refund payments asked for (``out_refund_no`` is payments')."""
        with self._lock:
            order = self._orders.get(("wechatpay", out_trade_no))
            txn = order.transaction_id if order and order.transaction_id else None
        data = refund(
            out_trade_no,
            out_refund_no,
            refund_fen,
            total_fen,
            mchid=self.ids["wechatpay"]["mchid"],
            transaction_id=txn,
            success_time=refunded_at,
        )
        return self._wechatpay_envelope("REFUND.SUCCESS", data, refunded_at)

    def _wechatpay_answer(self, status: int, data: dict[str, Any] | None) -> Response:
        body = _compact(data) if data is not None else b""
        headers = self._wechatpay_headers(body)
        headers["Request-ID"] = secrets.token_hex(16)
        if data is None:
            return Response(b"", status, headers=headers)
        return Response(body, status, headers=headers, media_type="application/json")

    def _wechatpay_refusal(self, request: Request, body: bytes) -> str | None:
        wx = self.ids["wechatpay"]
        return verify_request(
            request.method,
            request_path(request),
            request.headers,
            body,
            mchid=wx["mchid"],
            merchant_public=self.credentials.wechatpay_merchant_public,
            merchant_serial=wx["merchant_serial_no"],
        )

    async def _wechatpay(self, request: Request) -> Response:
        body = await request.body()
        refused = self._wechatpay_refusal(request, body)
        if refused is not None:
            self._count("rejected_signatures.wechatpay")
            return self._wechatpay_answer(401, {"code": "SIGN_ERROR", "message": refused})
        self._count("requests.wechatpay")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._wechatpay_answer(400, {"code": "PARAM_ERROR", "message": "请求体格式错误"})
        path = request.url.path
        wx = self.ids["wechatpay"]
        if request.method == "POST" and path in (
            "/v3/pay/transactions/native",
            "/v3/pay/transactions/jsapi",
            "/v3/pay/transactions/codepay",
        ):
            return self._wechatpay_order(path.rsplit("/", 1)[1], data)
        m = re.fullmatch(rf"/v3/pay/transactions/out-trade-no/({_OUT_TRADE_NO})(/\w+)?", path)
        if m:
            out_trade_no, action = m.group(1), m.group(2)
            with self._lock:
                order = self._orders.get(("wechatpay", out_trade_no))
            if action is None and request.method == "GET":
                if request.query_params.get("mchid") != wx["mchid"]:
                    return self._wechatpay_answer(
                        400, {"code": "PARAM_ERROR", "message": "mchid错误"}
                    )
                if order is None:
                    return self._wechatpay_answer(
                        404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                    )
                if order.state == "SUCCESS":
                    return self._wechatpay_answer(200, self._wechatpay_transaction(order))
                desc = {"NOTPAY": "订单未支付", "CLOSED": "订单已关闭"}.get(order.state, "")
                return self._wechatpay_answer(
                    200,
                    {
                        "mchid": wx["mchid"],
                        "appid": wx["appid"],
                        "out_trade_no": out_trade_no,
                        "trade_state": order.state,
                        "trade_state_desc": desc,
                        "amount": {"total": order.amount_fen, "currency": "CNY"},
                    },
                )
            if action in ("/close", "/reverse") and request.method == "POST":
                if data.get("mchid") != wx["mchid"]:
                    return self._wechatpay_answer(
                        400, {"code": "PARAM_ERROR", "message": "mchid错误"}
                    )
                if order is not None and order.state == "SUCCESS" and action == "/close":
                    return self._wechatpay_answer(
                        400, {"code": "ORDERPAID", "message": "订单已支付"}
                    )
                if order is not None and order.state != "SUCCESS":
                    with self._lock:
                        order.state = "CLOSED"
                if action == "/close":
                    return self._wechatpay_answer(204, None)
                return self._wechatpay_answer(200, {"recall": "N" if order is None else "Y"})
        if request.method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._wechatpay_refund(data)
        return self._wechatpay_answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "资源不存在"})

    def _wechatpay_order(self, kind: str, data: dict[str, Any]) -> Response:
        wx = self.ids["wechatpay"]
        out_trade_no = str(data.get("out_trade_no", ""))
        amount = data.get("amount") or {}
        total = amount.get("total") if isinstance(amount, dict) else None
        raw_payer = data.get("payer")
        payer: dict[str, Any] = raw_payer if isinstance(raw_payer, dict) else {}
        problem = order_problem(kind, data, appid=wx["appid"], mchid=wx["mchid"])
        if problem:
            return self._wechatpay_answer(400, {"code": problem[0], "message": problem[1]})
        assert isinstance(total, int)
        with self._lock:
            order = self._orders.get(("wechatpay", out_trade_no))
            if order is not None and order.state == "SUCCESS":
                return self._wechatpay_answer(400, {"code": "ORDERPAID", "message": "该订单已支付"})
            if order is not None and order.amount_fen != total:
                return self._wechatpay_answer(
                    400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
                )
            order = self._orders[("wechatpay", out_trade_no)] = Order(
                "wechatpay",
                out_trade_no,
                total,
                trade_type={"native": "NATIVE", "jsapi": "JSAPI", "codepay": "MICROPAY"}[kind],
                openid=payer.get("openid"),
            )
            if kind == "codepay":  # the payer's wallet pays at once
                order.state, order.paid_at = "SUCCESS", datetime.now(CST)
                order.transaction_id = "4200" + digits(24)
        if kind == "codepay":
            return self._wechatpay_answer(200, self._wechatpay_transaction(order))
        if kind == "native":
            return self._wechatpay_answer(
                200, {"code_url": "weixin://wxpay/bizpayurl?pr=" + secrets.token_urlsafe(6)[:7]}
            )
        return self._wechatpay_answer(200, {"prepay_id": "wx" + digits(8) + secrets.token_hex(10)})

    def _wechatpay_refund(self, data: dict[str, Any]) -> Response:
        raw_amount = data.get("amount")
        amount: dict[str, Any] = raw_amount if isinstance(raw_amount, dict) else {}
        refund, total = amount.get("refund"), amount.get("total")
        if (
            not data.get("out_refund_no")
            or not (data.get("out_trade_no") or data.get("transaction_id"))
            or not isinstance(refund, int)
            or not isinstance(total, int)
            or not 0 < refund <= total
        ):
            return self._wechatpay_answer(400, {"code": "PARAM_ERROR", "message": "参数错误"})
        return self._wechatpay_answer(
            200,
            {
                "refund_id": "50" + digits(27),
                "out_refund_no": data["out_refund_no"],
                "transaction_id": data.get("transaction_id") or "4200" + digits(24),
                "out_trade_no": data.get("out_trade_no", ""),
                "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱",
                "create_time": datetime.now(CST).isoformat(timespec="seconds"),
                "status": "PROCESSING",
                "amount": {
                    "total": total,
                    "refund": refund,
                    "payer_total": total,
                    "payer_refund": refund,
                    "currency": "CNY",
                },
            },
        )
