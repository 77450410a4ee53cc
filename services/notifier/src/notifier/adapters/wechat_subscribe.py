"""WeChat mini-program subscription messages (订阅消息) to the owner's openid.

``POST /cgi-bin/message/subscribe/send?access_token=...`` with ``touser``, ``template_id``,
``page``, ``miniprogram_state``, ``lang`` and ``data`` (``{keyword: {"value": ...}}``, each
value formatted to its keyword type's rule by :mod:`notifier.domain.wechat_fields`). Which
template, page and keywords a message type uses is configuration
(``WECHAT_SUBSCRIBE_TEMPLATES``), as the templates are chosen in the WeChat console.

Answers: 0 sent (the msgid; only the subscribe_msg_sent_event push proves delivery); 43101
the user refused or used up the subscription - final on this channel, so the dispatcher falls
back to the next one; 40001/42001/40014 the token - refreshed once and sent again; -1 busy
and 45009 limits - retried with backoff; anything else (40003 openid, 40037 template, 47003
values, 41030 page) - final on this channel.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from notifier.adapters.base import HTTP_ERRORS, Outbound, Outcome, SendResult, call, http_failure
from notifier.adapters.wechat_token import TOKEN_ERRORS, AccessToken, TokenError
from notifier.domain.wechat_fields import FieldError, template_data

TRANSIENT = frozenset({-1, 45009, 45047})
REFUSED = 43101


class WeChatSubscribe:
    provider = "wechat_subscribe"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: AccessToken,
        *,
        api_base: str,
        templates: dict[str, dict[str, Any]],
        miniprogram_state: str = "formal",
        lang: str = "zh_CN",
    ) -> None:
        self._session = session
        self._token = token
        self._base = api_base.rstrip("/")
        self._templates = templates
        self._state = miniprogram_state
        self._lang = lang

    def request_body(self, message: Outbound) -> dict[str, Any]:
        """The JSON to send; FieldError (or KeyError for a page placeholder) when it cannot
        be written for this template."""
        config = self._templates.get(message.message_type) or self._templates.get("default")
        if not config or not config.get("template_id"):
            raise FieldError(f"no subscription template for {message.message_type}")
        values: dict[str, Any] = message.context.get("wechat", {})
        body: dict[str, Any] = {
            "touser": message.address,
            "template_id": config["template_id"],
            "miniprogram_state": self._state,
            "lang": self._lang,
            "data": template_data(dict(config.get("data", {})), values),
        }
        if config.get("page"):
            body["page"] = str(config["page"]).format(**values)
        return body

    async def send(self, message: Outbound) -> SendResult:
        try:
            body = self.request_body(message)
        except (FieldError, KeyError, ValueError) as exc:
            return SendResult("failed", self.provider, error=f"cannot write the message: {exc}")
        try:
            token = await self._token.get()
            for attempt in (1, 2):
                response = await call(
                    self._session,
                    "POST",
                    f"{self._base}/cgi-bin/message/subscribe/send",
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
            proof = {"msgid": msgid, "template_id": str(body["template_id"])}
            return SendResult(outcome, self.provider, msgid, proof)
        error = f"{code}: {answer.get('errmsg', '')}"
        if code == REFUSED:
            error = f"{code}: the user refused or has no subscription left ({answer.get('errmsg')})"
        verdict: Outcome = "retry" if code in TRANSIENT else "failed"
        return SendResult(verdict, self.provider, error=error)
