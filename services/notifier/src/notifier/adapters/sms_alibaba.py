"""Alibaba Cloud SMS (Dysmsapi 2017-05-25, SendSms and QuerySendDetails), RPC style with
signature version 1.0.

Signature: HMAC-SHA1 with key ``AccessKeySecret + "&"`` over
``POST&%2F&`` + percent-encode(the sorted, percent-encoded query), base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import aiohttp

from notifier.adapters.base import Outbound, Outcome, SendResult, http_failure

#: Error codes worth retrying (throttling, provider trouble); the rest are final.
TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL",
    "Throttling.User",
    "SignatureNonceUsed",
    "isp.SYSTEM_ERROR",
}

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: QuerySendDetails takes the day of sending in Beijing time (``SendDate``, yyyyMMdd).
CHINA = timezone(timedelta(hours=8))
#: QuerySendDetails' largest page.
PAGE = 50


class LookupFailed(Exception):
    """The provider could not say whether it accepted a message."""


def percent_encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def sign(params: dict[str, str], secret: str, method: str = "POST") -> str:
    return sign_query(canonical_query(params), secret, method)


def sign_query(query: str, secret: str, method: str = "POST") -> str:
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AlibabaSms:
    provider = "alibaba"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name

    def request_params(self, message: Outbound, now: datetime | None = None) -> dict[str, str]:
        params = self._unsigned(message, now)
        params["Signature"] = sign(params, self._secret)
        return params

    def request_body(self, message: Outbound, now: datetime | None = None) -> bytes:
        """The form body as sent: the canonical query that was signed, then its Signature
        (one encoding pass instead of two; any order of form fields is valid)."""
        query = canonical_query(self._unsigned(message, now))
        signature = sign_query(query, self._secret)
        return f"{query}&Signature={percent_encode(signature)}".encode()

    def _unsigned(self, message: Outbound, now: datetime | None) -> dict[str, str]:
        return self._common("SendSms", now) | {
            "OutId": message.notification_id,
            "PhoneNumbers": message.address,
            "SignName": self._sign_name,
            "TemplateCode": message.template_codes.get(self.provider, ""),
            "TemplateParam": json.dumps(message.sms_params, ensure_ascii=False),
        }

    def _common(self, action: str, now: datetime | None) -> dict[str, str]:
        return {
            "AccessKeyId": self._key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }

    async def lookup(self, notification_id: str, phone: str, since: datetime) -> SendResult | None:
        """Did Alibaba accept our message ``notification_id`` (its ``OutId``) for ``phone``
        since ``since``? ``QuerySendDetails`` lists a number's messages of one day (Beijing
        time), each with the OutId it was sent with. The message as the provider has it, None
        when it has none; raises :class:`LookupFailed` when it cannot say."""
        days = sorted({d.astimezone(CHINA).strftime("%Y%m%d") for d in (since, datetime.now(UTC))})
        for day in days:
            page = 1
            while True:
                query = canonical_query(
                    self._common("QuerySendDetails", None)
                    | {
                        "PhoneNumber": phone,
                        "SendDate": day,
                        "PageSize": str(PAGE),
                        "CurrentPage": str(page),
                    }
                )
                body = f"{query}&Signature={percent_encode(sign_query(query, self._secret))}"
                try:
                    async with self._session.post(
                        self._endpoint, data=body.encode(), headers=_FORM
                    ) as response:
                        status, text = response.status, await response.text()
                    answer = json.loads(text)
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    raise LookupFailed(f"{type(exc).__name__}: {exc}") from exc
                if status != 200 or not isinstance(answer, dict) or answer.get("Code") != "OK":
                    raise LookupFailed(f"HTTP {status}: {text[:200]}")
                details = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
                for d in details:
                    if d.get("OutId") == notification_id:
                        proof = {
                            "out_id": notification_id,
                            "send_date": str(d.get("SendDate", "")),
                            "send_status": str(d.get("SendStatus", "")),
                            "request_id": str(answer.get("RequestId", "")),
                            "found_by": "QuerySendDetails",
                        }
                        return SendResult("sent", self.provider, None, proof)
                if page * PAGE >= int(answer.get("TotalCount") or 0):
                    break
                page += 1
        return None

    async def send(self, message: Outbound) -> SendResult:
        if not message.template_codes.get(self.provider):
            return SendResult("failed", self.provider, error="no Alibaba SMS template code")
        try:
            async with self._session.post(
                self._endpoint, data=self.request_body(message), headers=_FORM
            ) as response:
                status, text = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        if status == 429 or status >= 500:
            return http_failure(self.provider, status, text)
        try:
            answer = json.loads(text)  # errors (HTTP 400, 403) carry a JSON Code too
        except ValueError:
            return http_failure(self.provider, status, text)
        if not isinstance(answer, dict):
            return http_failure(self.provider, status, text)
        code = str(answer.get("Code", ""))
        if code == "OK":
            biz_id = str(answer["BizId"])
            proof = {"biz_id": biz_id, "request_id": str(answer.get("RequestId", ""))}
            return SendResult("sent", self.provider, biz_id, proof)
        outcome: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(
            outcome,
            self.provider,
            error=f"{code}: {answer.get('Message', '')}",
            throttled=code.startswith("Throttling."),
        )
