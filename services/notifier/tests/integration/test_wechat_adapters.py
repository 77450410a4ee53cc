"""The WeChat adapters over real HTTP against the fake WeChat API: access token fetched once
and shared, refreshed once when expired, busy answers retried, a refused subscription final
on the channel, values written to WeChat's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import aiohttp
import pytest

from notifier.adapters.base import Outbound
from notifier.adapters.wechat import WeChatTemplate
from notifier.adapters.wechat_subscribe import WeChatSubscribe
from notifier.adapters.wechat_token import AccessToken
from sandbox.server import ThreadServer
from sandbox.wechat import Inbox, wechat_app

pytestmark = pytest.mark.integration
APP, SECRET = "wx-mini", "mini-secret"
TEMPLATES = {
    "reminder": {
        "template_id": "TPL-SUB",
        "page": "pages/pay/index?unit={unit_id}",
        "data": {"thing1": "room", "amount2": "amount", "time3": "deadline", "thing4": "body"},
    }
}


@pytest.fixture
def wechat() -> Iterator[tuple[Inbox, str]]:
    state = Inbox()
    served = ThreadServer(wechat_app(state, APP, SECRET)).start()
    yield state, served.url
    served.stop()


def message(openid: str, n: int = 1, **values: object) -> Outbound:
    wechat = {
        "room": "幸福花园3-2-1201",
        "amount": 27580,
        "deadline": date(2026, 3, 20),
        "unit_id": f"u-{n}",
        "body": "尊敬的业主：您尚有物业费275.80元未缴，请于3月20日前缴纳，如已缴纳请忽略。",
        **values,
    }
    return Outbound(
        notification_id=f"ntf-{n}",
        channel="wechat",
        address=openid,
        body="...",
        message_type="reminder",
        subject="物业费缴费提醒",
        context={"pay_link": "https://pf.cn/p/u-1", "wechat": wechat},
    )


async def test_subscription_messages(wechat: tuple[Inbox, str]) -> None:
    state, url = wechat
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        token = AccessToken(client, api_base=url, app_id=APP, app_secret=SECRET)
        adapter = WeChatSubscribe(client, token, api_base=url, templates=TEMPLATES)
        # Twenty concurrent sends share one token fetch.
        results = await asyncio.gather(*(adapter.send(message(f"o-{i}", i)) for i in range(20)))
        assert {r.outcome for r in results} == {"sent"} and state.token_requests == 1
        assert len({r.message_id for r in results}) == 20
        body = state.subscribed[0]
        assert body["template_id"] == "TPL-SUB" and body["miniprogram_state"] == "formal"
        assert body["page"].startswith("pages/pay/index?unit=u-")
        data = body["data"]
        assert data["amount2"] == {"value": "275.80元"}
        assert data["time3"] == {"value": "2026年3月20日 23:59"}
        assert data["thing1"] == {"value": "幸福花园3-2-1201"}
        assert len(data["thing4"]["value"]) == 20 and data["thing4"]["value"].endswith("…")

        # Expired token: refreshed once (stable_token, no forced refresh needed), then sent.
        state.expire_after = state._sends
        expired = await adapter.send(message("o-x", 30))
        assert expired.outcome == "sent" and state.token_requests == 2
        assert state.forced_refreshes == 0

        # System busy: a retry (the dispatcher backs off), not a failure.
        state.busy = 1
        busy = await adapter.send(message("o-y", 31))
        assert busy.outcome == "retry" and busy.error is not None and busy.error.startswith("-1")

        # The user refused (or used up) the subscription: final here, the next channel goes.
        state.refused_openids.add("o-refused")
        refused = await adapter.send(message("o-refused", 32))
        assert refused.outcome == "failed" and refused.error is not None
        assert refused.error.startswith("43101")

        # A value WeChat would refuse is never sent; no subscription template: final too.
        bad = await adapter.send(message("o-z", 33, deadline=None))
        assert bad.outcome == "failed" and "time3" in (bad.error or "")
        other = Outbound("ntf-b", "wechat", "o-z", "x", "bill", context={"wechat": {}})
        assert (await adapter.send(other)).outcome == "failed"
        assert len(state.subscribed) == 21


async def test_template_messages_refresh_a_rejected_token_once(
    wechat: tuple[Inbox, str],
) -> None:
    state, url = wechat
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        token = AccessToken(client, api_base=url, app_id=APP, app_secret=SECRET, api="token")
        adapter = WeChatTemplate(client, token, api_base=url, template_ids={"default": "TPL"})
        first = await adapter.send(message("o-1"))
        # Accepted by the API is not delivered (issue 18 rule 3): the push event proves it.
        assert first.outcome == "sent" and first.proof["msgid"] == first.message_id
        state.token = "TOKEN-ROTATED"  # another system fetched /cgi-bin/token: ours is invalid
        second = await adapter.send(message("o-2", 2))
        assert second.outcome == "sent" and state.token_requests == 2
        wrong = AccessToken(client, api_base=url, app_id=APP, app_secret="nope")
        refused = await WeChatTemplate(
            client, wrong, api_base=url, template_ids={"default": "TPL"}
        ).send(message("o-3", 3))
        assert refused.outcome == "retry" and "40125" in (refused.error or "")
