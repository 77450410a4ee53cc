"""SMS providers: Alibaba Cloud (``dysmsapi`` 2017-05-25, RPC signature v1.0) and Tencent Cloud
(``sms`` 2021-01-11, TC3-HMAC-SHA256).

Each verifies the request's signature with ``hashlib``/``hmac`` as the provider documents it,
independently of notifier's adapters, and answers in the provider's format:

* Alibaba: HMAC-SHA1 (key ``secret&``) of ``METHOD&%2F&percent(canonical query)``, the
  parameters sorted and POP-percent-encoded (RFC 3986 unreserved kept, space ``%20``, ``*``
  ``%2A``); ``Timestamp`` within 15 minutes, ``SignatureNonce`` used once; the sign name and
  template code must be the account's (when configured), the numbers Chinese mobiles and
  ``TemplateParam`` a JSON object of strings.
* Tencent: TC3-HMAC-SHA256 over the canonical request, the key derived from
  ``TC3<SecretKey>`` through the date, ``sms`` and ``tc3_request``.

:class:`SmsProvider` holds what a provider accepted and how it misbehaves (delay, a rate
limit, numbers that fail for good or a few times); :class:`AlibabaSms` and
:class:`TencentSms` are the servers (``.app``). The demo's world mounts the same Alibaba
server (:class:`AlibabaRoutes`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.state import WorldState, json_response

PHONE = re.compile(r"^(?:\+?86)?1\d{10}$")
#: Alibaba's SendDate and SendTime are Beijing time.
CHINA = timezone(timedelta(hours=8))
#: How far Alibaba lets a request's Timestamp be from its clock.
MAX_SKEW_S = 900


@dataclass
class SmsProvider:
    """What an SMS provider accepted, and how it misbehaves."""

    delay_s: float = 0.0
    rate_limit: int | None = None  # requests per rolling second before throttling
    fail_phones: set[str] = field(default_factory=set)  # permanent error
    flaky_phones: dict[str, int] = field(default_factory=dict)  # transient errors left
    sent: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    throttled: int = 0
    _recent: deque[float] = field(default_factory=deque)
    _biz_seq: int = field(default_factory=lambda: secrets.randbelow(10**6))

    def next_biz_id(self) -> str:
        """An Alibaba ``BizId`` (18 digits and ``^0``), unique as Alibaba's are: a sequence
        number, then the millisecond. Six random digits before the millisecond were not: the
        replies to a batch's concurrent requests share their millisecond, and one ``make
        demo`` in twenty or so gave two messages one id (notifier's unique provider id)."""
        self._biz_seq = (self._biz_seq + 1) % 10**6
        return f"{self._biz_seq:06d}{int(time.time() * 1000) % 10**12:012d}^0"

    def over_rate(self) -> bool:
        if self.rate_limit is None:
            return False
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        self._recent.append(now)
        return len(self._recent) > self.rate_limit

    def verdict(self, phone: str) -> str:
        """'ok', 'throttle', 'transient' or 'permanent' for this phone number."""
        if self.over_rate():
            self.throttled += 1
            return "throttle"
        if phone in self.fail_phones:
            return "permanent"
        if self.flaky_phones.get(phone, 0) > 0:
            self.flaky_phones[phone] -= 1
            return "transient"
        return "ok"

    def stats(self) -> dict[str, int]:
        out_ids = [m["out_id"] for m in self.sent]
        return {
            "sent": len(out_ids),
            "distinct": len(set(out_ids)),
            "bad_signatures": self.bad_signatures,
            "throttled": self.throttled,
        }


def pop_encode(value: str) -> str:
    """Alibaba Cloud POP percent-encoding: RFC 3986 unreserved kept, everything else %XX."""
    return quote(value, safe="-_.~")


def alibaba_signature(method: str, params: dict[str, str], secret: str) -> str:
    """RPC signature v1.0 of ``params`` (``Signature`` left out)."""
    signed = {k: v for k, v in params.items() if k != "Signature"}
    canonical = "&".join(f"{pop_encode(k)}={pop_encode(signed[k])}" for k in sorted(signed))
    to_sign = f"{method}&{pop_encode('/')}&{pop_encode(canonical)}"
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def sms_reports(messages: list[dict[str, Any]], sent_at: datetime) -> list[dict[str, Any]]:
    """Alibaba Cloud SMS delivery reports (SmsReport, as its HTTP push sends them) for the
    SMS among ``messages`` (the world's): each delivered a few seconds after ``sent_at``."""
    china = sent_at.astimezone(timezone(timedelta(hours=8)))  # Beijing time, no DST
    fmt = "%Y-%m-%d %H:%M:%S"
    return [
        {
            "phone_number": m["to"],
            "send_time": china.strftime(fmt),
            "report_time": (china + timedelta(seconds=8)).strftime(fmt),
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": m["ref"],
            "out_id": "",
        }
        for m in messages
        if m.get("channel") == "sms" and m.get("ref")
    ]


#: ``on_accept(phone, template_code, params, biz_id)``; ``on_refuse(signature: bool)``.
OnAccept = Callable[[str, str, dict[str, str], str], None]
OnRefuse = Callable[[bool], None]


class AlibabaSms:
    """Alibaba Cloud SMS ``SendSms``. ``access_key_id``, ``sign_name`` and ``template_codes``
    None: any is the account's."""

    def __init__(
        self,
        state: SmsProvider,
        secret: str,
        *,
        access_key_id: str | None = None,
        sign_name: str | None = None,
        template_codes: Collection[str] | None = None,
        on_accept: OnAccept | None = None,
        on_refuse: OnRefuse | None = None,
    ) -> None:
        self.state = state
        self.secret = secret
        self.access_key_id = access_key_id
        self.sign_name = sign_name
        self.template_codes = template_codes
        self.on_accept = on_accept
        self.on_refuse = on_refuse
        self._nonces: dict[str, float] = {}  # SignatureNonce → monotonic first use
        self.app = Starlette(
            routes=[
                Route("/", self.handle, methods=["POST"]),
                Route("/stats", self.stats, methods=["GET"]),
            ]
        )

    async def stats(self, request: Request) -> Response:
        return json_response(self.state.stats())

    def _refuse(self, status: int, code: str, message: str, *, signature: bool) -> Response:
        if signature:
            self.state.bad_signatures += 1
        if self.on_refuse is not None:
            self.on_refuse(signature)
        request_id = str(uuid.uuid4()).upper()
        return json_response({"RequestId": request_id, "Code": code, "Message": message}, status)

    async def handle(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            pairs = []
        if request.url.query:
            pairs += parse_qsl(request.url.query, keep_blank_values=True)
        form = dict(pairs)
        if self.access_key_id is not None and form.get("AccessKeyId") != self.access_key_id:
            return self._refuse(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
                signature=True,
            )
        params = {k: v for k, v in form.items() if k != "Signature"}
        expected = alibaba_signature(request.method, params, self.secret)
        if (
            params.get("SignatureMethod") != "HMAC-SHA1"
            or params.get("SignatureVersion") != "1.0"
            or not hmac.compare_digest(expected, form.get("Signature", ""))
        ):
            return self._refuse(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
                signature=True,
            )
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self._refuse(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
                signature=False,
            )
        if abs((datetime.now(UTC) - stamp.replace(tzinfo=UTC)).total_seconds()) > MAX_SKEW_S:
            return self._refuse(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
                signature=True,
            )
        nonce = params.get("SignatureNonce", "")
        now = time.monotonic()
        if len(self._nonces) > 100_000:
            self._nonces = {n: t for n, t in self._nonces.items() if now - t < MAX_SKEW_S}
        used = not nonce or nonce in self._nonces
        self._nonces.setdefault(nonce, now)
        if used:
            return self._refuse(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
                signature=True,
            )
        if params.get("Action") == "QuerySendDetails" and params.get("Version") == "2017-05-25":
            return self._query(params)
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._refuse(
                400,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                signature=False,
            )
        return await self._send(params)

    async def _send(self, params: dict[str, str]) -> Response:
        request_id = str(uuid.uuid4()).upper()

        def answer(code: str, message: str, **more: str) -> Response:
            return json_response(
                {"RequestId": request_id, "Code": code, "Message": message, **more}
            )

        def refuse(code: str, message: str) -> Response:
            if self.on_refuse is not None:
                self.on_refuse(False)
            return answer(code, message)

        phones = [p.strip() for p in params.get("PhoneNumbers", "").split(",") if p.strip()]
        verdict = self.state.verdict(params.get("PhoneNumbers", ""))  # counted on arrival
        if self.state.delay_s:
            await asyncio.sleep(self.state.delay_s)
        if verdict == "throttle":
            return answer("Throttling.User", "Request was denied due to user flow control.")
        if verdict == "transient":
            return answer("isp.SYSTEM_ERROR", "isp.SYSTEM_ERROR")
        if verdict == "permanent":
            return refuse("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if self.sign_name is not None and params.get("SignName") != self.sign_name:
            return refuse("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = params.get("TemplateCode", "")
        if self.template_codes is not None and template not in self.template_codes:
            return refuse("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        if not phones or not all(PHONE.match(p) for p in phones):
            return refuse("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        biz_id = self.state.next_biz_id()
        at = datetime.now(UTC).astimezone(CHINA)
        for phone in phones:
            self.state.sent.append(
                {
                    "send_date": at.strftime("%Y%m%d"),
                    "send_time": at.strftime("%Y-%m-%d %H:%M:%S"),
                    "phone": phone,
                    "template": template,
                    "sign": params.get("SignName"),
                    "params": dict(values),
                    "out_id": params.get("OutId"),
                    "id": biz_id,
                }
            )
            if self.on_accept is not None:
                self.on_accept(phone, template, dict(values), biz_id)
        return answer("OK", "OK", BizId=biz_id)

    def _query(self, params: dict[str, str]) -> Response:
        """``QuerySendDetails``: one number's messages of one day (Beijing time), a page at a
        time, each with the ``OutId`` it was sent with; optionally one ``BizId``."""
        request_id = str(uuid.uuid4()).upper()
        phone = params.get("PhoneNumber", "")
        day = params.get("SendDate", "")
        try:
            size, page = int(params.get("PageSize", "")), int(params.get("CurrentPage", ""))
        except ValueError:
            size = page = 0
        if not PHONE.match(phone) or not re.fullmatch(r"\d{8}", day):
            code = "isv.INVALID_PARAMETERS" if PHONE.match(phone) else "isv.MOBILE_NUMBER_ILLEGAL"
            return json_response({"RequestId": request_id, "Code": code, "Message": code})
        if not 1 <= size <= 50 or page < 1:
            return json_response(
                {
                    "RequestId": request_id,
                    "Code": "isv.INVALID_PARAMETERS",
                    "Message": "PageSize 1-50, CurrentPage from 1",
                }
            )
        mine = [
            m
            for m in self.state.sent
            if m["phone"] == phone
            and m.get("send_date") == day
            and (not params.get("BizId") or m["id"] == params["BizId"])
        ]
        shown = mine[(page - 1) * size : page * size]
        details = [
            {
                "PhoneNum": m["phone"],
                "SendStatus": 3,
                "ErrCode": "DELIVERED",
                "TemplateCode": m["template"],
                "Content": "",
                "SendDate": m["send_time"],
                "ReceiveDate": m["send_time"],
                "OutId": m["out_id"] or "",
            }
            for m in shown
        ]
        return json_response(
            {
                "RequestId": request_id,
                "Code": "OK",
                "Message": "OK",
                "TotalCount": len(mine),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details},
            }
        )


def alibaba_app(state: SmsProvider, secret: str, **options: Any) -> Starlette:
    return AlibabaSms(state, secret, **options).app


def tc3_signature(
    secret_key: str, service: str, timestamp: int, canonical_request: str
) -> tuple[str, str]:
    """The TC3-HMAC-SHA256 signature and its credential scope."""
    day = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    scope = f"{day}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
    k = hmac.new(("TC3" + secret_key).encode(), day.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), scope


class TencentSms:
    """Tencent Cloud SMS ``SendSms``."""

    def __init__(self, state: SmsProvider, secret_id: str, secret_key: str) -> None:
        self.state = state
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app = Starlette(routes=[Route("/", self.handle, methods=["POST"])])

    @staticmethod
    def _error(code: str, message: str) -> Response:
        error = {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}
        return json_response({"Response": error})

    def _authorized(self, request: Request, payload: bytes) -> bool:
        h = request.headers
        auth = h.get("authorization", "")
        stamp = h.get("x-tc-timestamp", "")
        if not (stamp.isascii() and stamp.isdigit()) or "SignedHeaders=" not in auth:
            return False
        ts = int(stamp)
        if abs(time.time() - ts) > 300:
            return False
        signed_headers = auth.split("SignedHeaders=")[1].split(",")[0]
        try:
            canonical_headers = "".join(
                f"{name}:{h[name].strip().lower() if name == 'x-tc-action' else h[name].strip()}\n"
                for name in signed_headers.split(";")
            )
        except KeyError:
            return False
        digest = hashlib.sha256(payload).hexdigest()
        canonical = f"POST\n/\n\n{canonical_headers}\n{signed_headers}\n{digest}"
        expected, scope = tc3_signature(self.secret_key, "sms", ts, canonical)
        return f"Credential={self.secret_id}/{scope}" in auth and auth.endswith(
            f"Signature={expected}"
        )

    async def handle(self, request: Request) -> Response:
        payload = await request.body()
        if not self._authorized(request, payload):
            self.state.bad_signatures += 1
            return self._error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            )
        body = json.loads(payload)
        phone = body["PhoneNumberSet"][0]
        verdict = self.state.verdict(phone)  # on arrival, as a provider counts its rate limit
        if self.state.delay_s:
            await asyncio.sleep(self.state.delay_s)
        if verdict == "throttle":
            return self._error("RequestLimitExceeded", "请求的次数超过了频率限制。")
        code = {
            "ok": "Ok",
            "transient": "InternalError",
            "permanent": "InvalidParameterValue.IncorrectPhoneNumber",
        }[verdict]
        serial = f"2640:{uuid.uuid4().hex}"
        if verdict == "ok":
            self.state.sent.append(
                {
                    "phone": phone,
                    "template": body["TemplateId"],
                    "sign": body["SignName"],
                    "params": body["TemplateParamSet"],
                    "out_id": body.get("SessionContext"),
                    "id": serial,
                }
            )
        status = {
            "SerialNo": serial,
            "PhoneNumber": phone,
            "Fee": 1,
            "Code": code,
            "Message": "send success" if code == "Ok" else code,
            "IsoCode": "CN",
        }
        return json_response(
            {"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}}
        )


def tencent_app(state: SmsProvider, secret_id: str, secret_key: str) -> Starlette:
    return TencentSms(state, secret_id, secret_key).app


# ------------------------------------------------------------------------------------------
# the demo's world


class AlibabaRoutes(WorldState):
    """Alibaba Cloud SMS at ``/alibaba/`` (:class:`AlibabaSms`, the account's sign name and
    template codes); what it accepts becomes the world's messages."""

    sms_reports = staticmethod(sms_reports)

    def alibaba_routes(self) -> list[Route]:
        sms = self.ids["alibaba"]
        self.alibaba = AlibabaSms(
            SmsProvider(),
            sms["access_key_secret"],
            access_key_id=sms["access_key_id"],
            sign_name=sms["sign_name"],
            template_codes=set(sms["template_codes"].values()),
            on_accept=self._sms_accepted,
            on_refuse=self._sms_refused,
        )
        return [
            Route("/alibaba", self.alibaba.handle, methods=["POST"]),
            Route("/alibaba/", self.alibaba.handle, methods=["POST"]),
        ]

    def _sms_accepted(self, phone: str, template: str, params: dict[str, str], ref: str) -> None:
        self.alibaba.state.sent.clear()  # the world's messages keep them
        self._accept("sms", phone, template, params, None, self._kinds.get(template), ref)

    def _sms_refused(self, signature: bool) -> None:
        self._count("rejected_signatures.alibaba" if signature else "rejected.alibaba")

    @property
    def receipt_callback_token(self) -> str:
        """The secret of the delivery-report callback URL configured at the SMS provider
        (derived from the account's secret, so sandboxes made before it have one too)."""
        secret = self.ids["alibaba"]["access_key_secret"]
        return hashlib.sha256(f"sms-report:{secret}".encode()).hexdigest()[:32]
