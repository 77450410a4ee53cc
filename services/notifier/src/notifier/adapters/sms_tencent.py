"""Tencent Cloud SMS (API 3.0, SendSms 2021-01-11) signed with TC3-HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from notifier.adapters.base import Outbound, Outcome, SendResult, http_failure

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
TRANSIENT = {"RequestLimitExceeded", "InternalError", "LimitExceeded.AppGlobalDailyLimit"}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def authorization(
    secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int
) -> str:
    """The ``Authorization`` header value for one request (TC3-HMAC-SHA256)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signed_headers = "content-type;host;x-tc-action"
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{ACTION.lower()}\n",
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{day}/{SERVICE}/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), SERVICE), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


class TencentSms:
    provider = "tencent"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        region: str,
        sign_name: str,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._host = urlsplit(endpoint).netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._app_id = sdk_app_id
        self._region = region
        self._sign_name = sign_name

    def _phone(self, address: str) -> str:
        return address if address.startswith("+") else f"+86{address}"

    async def send(self, message: Outbound) -> SendResult:
        template_id = message.template_codes.get(self.provider)
        if not template_id:
            return SendResult("failed", self.provider, error="no Tencent SMS template id")
        body = {
            "PhoneNumberSet": [self._phone(message.address)],
            "SmsSdkAppId": self._app_id,
            "SignName": self._sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": list(message.sms_params.values()),
            "SessionContext": message.notification_id,
        }
        payload = json.dumps(body, ensure_ascii=False).encode()
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "Authorization": authorization(
                self._secret_id, self._secret_key, self._host, payload, timestamp
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self._host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": self._region,
        }
        try:
            async with self._session.post(
                self._endpoint, data=payload, headers=headers
            ) as response:
                status, text = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        if status != 200:
            return http_failure(self.provider, status, text)
        answer = json.loads(text).get("Response", {})
        if "Error" in answer:
            code = str(answer["Error"].get("Code", ""))
            outcome: Outcome = "retry" if code in TRANSIENT else "failed"
            return SendResult(
                outcome,
                self.provider,
                error=f"{code}: {answer['Error'].get('Message', '')}",
                throttled=code == "RequestLimitExceeded",  # the API's per-second limit
            )
        status = (answer.get("SendStatusSet") or [{}])[0]
        if status.get("Code") == "Ok":
            serial = str(status["SerialNo"])
            proof = {"serial_no": serial, "request_id": str(answer.get("RequestId", ""))}
            return SendResult("sent", self.provider, serial, proof)
        code = str(status.get("Code", "unknown"))
        verdict: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(verdict, self.provider, error=f"{code}: {status.get('Message', '')}")
