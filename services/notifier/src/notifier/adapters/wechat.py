"""WeChat official account template messages to the owner's openid.

The access token (``/cgi-bin/token``) is cached until shortly before it expires and fetched
again when WeChat says it is invalid (40001, 42001).
"""

from __future__ import annotations

import time

import httpx

from notifier.adapters.base import Outbound, Outcome, SendResult, http_failure

TOKEN_ERRORS = {40001, 40014, 42001}
TRANSIENT = {-1, 45009, 45047}  # system busy, API frequency limits


class WeChatTemplate:
    provider = "wechat"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_base: str,
        app_id: str,
        app_secret: str,
        template_ids: dict[str, str],
    ) -> None:
        self._client = client
        self._base = api_base.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._template_ids = template_ids
        self._token: str | None = None
        self._expires = 0.0

    async def _access_token(self, refresh: bool = False) -> str:
        if self._token is None or refresh or time.monotonic() >= self._expires:
            response = await self._client.get(
                f"{self._base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self._app_id,
                    "secret": self._secret,
                },
            )
            answer = response.json()
            if "access_token" not in answer:
                raise RuntimeError(f"token refused: {answer.get('errcode')} {answer.get('errmsg')}")
            self._token = str(answer["access_token"])
            self._expires = time.monotonic() + int(answer.get("expires_in", 7200)) - 300
        return self._token

    async def send(self, message: Outbound) -> SendResult:
        template_id = self._template_ids.get(message.message_type) or self._template_ids.get(
            "default"
        )
        if not template_id:
            return SendResult("failed", self.provider, error="no WeChat template id configured")
        body = {
            "touser": message.address,
            "template_id": template_id,
            "url": str(message.context.get("pay_link", "")),
            "data": {
                "first": {"value": message.subject},
                **{k: {"value": v} for k, v in message.sms_params.items()},
                "remark": {"value": message.body},
            },
        }
        try:
            for refresh in (False, True):
                token = await self._access_token(refresh)
                response = await self._client.post(
                    f"{self._base}/cgi-bin/message/template/send",
                    params={"access_token": token},
                    json=body,
                )
                if response.status_code != 200:
                    return http_failure(self.provider, response.status_code, response.text)
                answer = response.json()
                if answer.get("errcode", 0) not in TOKEN_ERRORS:
                    break
        except (httpx.HTTPError, RuntimeError) as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        code = int(answer.get("errcode", 0))
        if code == 0:
            msgid = str(answer.get("msgid", ""))
            return SendResult("delivered", self.provider, msgid, {"msgid": msgid})
        outcome: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(outcome, self.provider, error=f"{code}: {answer.get('errmsg', '')}")
