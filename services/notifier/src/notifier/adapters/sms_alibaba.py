"""Alibaba Cloud SMS (Dysmsapi 2017-05-25, SendSms), RPC style with signature version 1.0.

Signature: HMAC-SHA1 with key ``AccessKeySecret + "&"`` over
``POST&%2F&`` + percent-encode(the sorted, percent-encoded query), base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from notifier.adapters.base import Outbound, Outcome, SendResult, http_failure

#: Error codes worth retrying (throttling, provider trouble); the rest are final.
TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL",
    "Throttling.User",
    "SignatureNonceUsed",
    "isp.SYSTEM_ERROR",
}


def percent_encode(value: str) -> str:
    return quote(value, safe="~")


def sign(params: dict[str, str], secret: str, method: str = "POST") -> str:
    query = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AlibabaSms:
    provider = "alibaba"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name

    def request_params(self, message: Outbound, now: datetime | None = None) -> dict[str, str]:
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.notification_id,
            "PhoneNumbers": message.address,
            "RegionId": "cn-hangzhou",
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "TemplateCode": message.template_codes.get(self.provider, ""),
            "TemplateParam": json.dumps(message.sms_params, ensure_ascii=False),
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = sign(params, self._secret)
        return params

    async def send(self, message: Outbound) -> SendResult:
        if not message.template_codes.get(self.provider):
            return SendResult("failed", self.provider, error="no Alibaba SMS template code")
        try:
            response = await self._client.post(self._endpoint, data=self.request_params(message))
        except httpx.HTTPError as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        if response.status_code == 429 or response.status_code >= 500:
            return http_failure(self.provider, response.status_code, response.text)
        try:
            answer = response.json()  # errors (HTTP 400, 403) carry a JSON Code too
        except ValueError:
            return http_failure(self.provider, response.status_code, response.text)
        code = str(answer.get("Code", ""))
        if code == "OK":
            biz_id = str(answer["BizId"])
            proof = {"biz_id": biz_id, "request_id": str(answer.get("RequestId", ""))}
            return SendResult("sent", self.provider, biz_id, proof)
        outcome: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(outcome, self.provider, error=f"{code}: {answer.get('Message', '')}")
