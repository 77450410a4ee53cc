"""A provider that throttles anyway: nothing is lost, nothing is sent twice.

The fake Alibaba SMS endpoint (real HTTP, real signatures) counts requests per rolling second
and answers ``Throttling.User`` above its limit. Its window is filled first by another sender
of the same account (as a second notifier replica configured with the whole rate would), so the
route's first requests are throttled: the bucket slows, those messages wait and go again, and
every message is accepted exactly once, without a retry minutes later.
"""

from __future__ import annotations

import asyncio

import aiohttp

from notifier.adapters.base import Outbound, TokenBucket
from notifier.adapters.registry import Route
from notifier.adapters.sms_alibaba import AlibabaSms
from sandbox.server import ThreadServer
from sandbox.sms import SmsProvider, alibaba_app

SECRET = "ali-secret-for-tests"
LIMIT = 40


def message(n: int) -> Outbound:
    return Outbound(
        notification_id=f"n-{n:04d}",
        channel="sms",
        address=f"139{n:08d}",
        body="【物业】提醒",
        message_type="reminder",
        sms_params={"room": f"1-{n}", "amount": "275.80"},
        template_codes={"alibaba": "SMS_1"},
    )


async def test_throttled_messages_wait_and_go_once() -> None:
    provider = SmsProvider(rate_limit=LIMIT)
    with ThreadServer(alibaba_app(provider, SECRET)) as server:
        async with aiohttp.ClientSession() as session:
            adapter = AlibabaSms(
                session,
                endpoint=server.url + "/",
                access_key_id="LTAItest",
                access_key_secret=SECRET,
                sign_name="物业",
            )
            # Another sender of the account fills the provider's second.
            other = await asyncio.gather(*(adapter.send(message(9000 + n)) for n in range(LIMIT)))
            assert all(r.outcome == "sent" for r in other)
            bucket = TokenBucket.per_second(LIMIT)
            route = Route(adapter, bucket)
            results = await asyncio.gather(*(route.send(message(n)) for n in range(100)))

    assert [r.outcome if r else None for r in results] == ["sent"] * 100
    assert provider.throttled > 0  # the case under test happened
    stats = provider.stats()
    assert stats["sent"] == stats["distinct"] == LIMIT + 100  # each accepted once
    assert stats["bad_signatures"] == 0
