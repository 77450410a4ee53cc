"""WeChat official account template messages (模板消息) to the owner's openid.

The access token is shared (:mod:`notifier.adapters.wechat_token`); a rejected token is
refreshed once and the message sent again. The msgid is kept and the message is sent, not
delivered: only the push (TEMPLATESENDJOBFINISH success) proves delivery.
"""

from __future__ import annotations

import aiohttp

from notifier.adapters.base import HTTP_ERRORS, Outbound, Outcome, SendResult, call, http_failure
from notifier.adapters.wechat_token import TOKEN_ERRORS, AccessToken, TokenError

TRANSIENT = {-1, 45009, 45047}  # system busy, API frequency limits


class WeChatTemplate:
    provider = "wechat"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: AccessToken,
        *,
        api_base: str,
        template_ids: dict[str, str],
    ) -> None:
        self._session = session
        self._token = token
        self._base = api_base.rstrip("/")
        self._template_ids = template_ids

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
            token = await self._token.get()
            for attempt in (1, 2):
                response = await call(
                    self._session,
                    "POST",
                    f"{self._base}/cgi-bin/message/template/send",
                    params={"access_token": token},
                    json_body=body,
                )
                if response.status != 200:
                    return http_failure(self.provider, response.status, response.text)
                answer = response.json()
                if attempt == 1 and answer.get("errcode", 0) in TOKEN_ERRORS:
                    token = await self._token.refresh(token)
                    continue
                break
        except (*HTTP_ERRORS, TokenError) as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        code = int(answer.get("errcode", 0))
        if code == 0:
            msgid = str(answer.get("msgid", ""))
            # Accepted by the API is not delivered: the push event (the delivery receipt)
            # makes it delivered (issue 18 rule 3; entrypoints.http_wechat_push).
            outcome: Outcome = "sent"
            return SendResult(outcome, self.provider, msgid, {"msgid": msgid})
        verdict: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(verdict, self.provider, error=f"{code}: {answer.get('errmsg', '')}")
