"""The channel adapters of one process, built from the settings, each behind its provider's
token bucket (buckets are per process: with N replicas, configure rate / N)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from notifier.adapters.app_push import AppPushWebhook
from notifier.adapters.base import ChannelAdapter, Outbound, SendResult, TokenBucket
from notifier.adapters.email_smtp import SmtpEmail
from notifier.adapters.letters_pdf import PrintedLetters
from notifier.adapters.sms_alibaba import AlibabaSms
from notifier.adapters.sms_tencent import TencentSms
from notifier.adapters.wechat import WeChatTemplate
from notifier.adapters.wechat_subscribe import WeChatSubscribe
from notifier.adapters.wechat_token import AccessToken
from notifier.settings import NotifierSettings


@dataclass
class Route:
    adapter: ChannelAdapter
    bucket: TokenBucket | None

    #: Sends of one message in one call while the provider throttles it, and the wait after
    #: its first throttle (doubled after each): 0.1 + 0.2 + 0.4 + 0.8 s outlast the provider's
    #: rolling second, so a message is given back as a retry only when throttling goes on.
    THROTTLE_TRIES = 5
    THROTTLE_WAIT_S = 0.1

    async def send(
        self, message: Outbound, *, start_by: float | None = None, timeout: float | None = None
    ) -> SendResult | None:
        """Send through the provider's bucket. ``None``: not sent, ``start_by`` (a
        ``time.monotonic()`` instant) passed while waiting for a token. A throttled answer
        accepted nothing: the bucket slows down (:meth:`TokenBucket.throttled`), and the
        message waits and goes again with a later token, so a throttle costs a moment, not
        a retry minutes later. Every other answer is returned as it is."""
        result: SendResult | None = None
        for attempt in range(self.THROTTLE_TRIES):
            if self.bucket is not None:
                await self.bucket.acquire()
            if start_by is not None and time.monotonic() > start_by:
                return None
            result = await asyncio.wait_for(self.adapter.send(message), timeout)
            if not (result.throttled and self.bucket is not None):
                return result
            self.bucket.throttled()
            if attempt + 1 < self.THROTTLE_TRIES:
                await asyncio.sleep(self.THROTTLE_WAIT_S * 2**attempt)
        return result


class Channels:
    def __init__(
        self,
        routes: dict[str, Route],
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.routes = routes
        self._session = session

    def route(self, channel: str) -> Route | None:
        return self.routes.get(channel)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @classmethod
    def from_settings(cls, s: NotifierSettings) -> Channels:
        """Call with the event loop running (the HTTP session binds to it)."""
        # One keep-alive pool for every HTTP provider: sends are limited to send_concurrency
        # by the dispatcher, plus a WeChat token fetch while they wait for it.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.send_concurrency + 2),
            timeout=aiohttp.ClientTimeout(total=s.provider_timeout_s),
        )
        sms: ChannelAdapter
        if s.sms_provider == "tencent":
            sms = TencentSms(
                session,
                endpoint=s.tencent_endpoint,
                secret_id=s.tencent_secret_id,
                secret_key=s.tencent_secret_key.get_secret_value(),
                sdk_app_id=s.tencent_sms_sdk_app_id,
                region=s.tencent_region,
                sign_name=s.sms_sign_name,
            )
            sms_rate = s.tencent_rate_per_s
        else:
            sms = AlibabaSms(
                session,
                endpoint=s.alibaba_endpoint,
                access_key_id=s.alibaba_access_key_id,
                access_key_secret=s.alibaba_access_key_secret.get_secret_value(),
                sign_name=s.sms_sign_name,
            )
            sms_rate = s.alibaba_rate_per_s
        token = AccessToken(
            session,
            api_base=s.wechat_api_base,
            app_id=s.wechat_app_id,
            app_secret=s.wechat_app_secret.get_secret_value(),
            api=s.wechat_token_api,
        )
        wechat: ChannelAdapter
        if s.wechat_message_api == "subscribe":
            wechat = WeChatSubscribe(
                session,
                token,
                api_base=s.wechat_api_base,
                templates=s.wechat_subscribe_templates,
                miniprogram_state=s.wechat_miniprogram_state,
                lang=s.wechat_lang,
            )
        else:
            wechat = WeChatTemplate(
                session,
                token,
                api_base=s.wechat_api_base,
                template_ids=s.wechat_template_ids,
            )
        push = AppPushWebhook(
            session, url=s.push_webhook_url, secret=s.push_webhook_secret.get_secret_value()
        )
        email = SmtpEmail(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.email_from,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value(),
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            timeout=s.provider_timeout_s,
        )
        letters = PrintedLetters()
        m = s.provider_rate_margin
        routes = {
            "sms": Route(sms, TokenBucket.per_second(sms_rate, m)),
            "wechat": Route(wechat, TokenBucket.per_second(s.wechat_rate_per_s, m)),
            "app_push": Route(push, TokenBucket.per_second(s.push_rate_per_s, m)),
            "email": Route(email, TokenBucket.per_second(s.email_rate_per_s, m)),
            "letter": Route(letters, None),
            "door_notice": Route(letters, None),
        }
        return cls(routes, session)
