"""Fixtures: fake providers over real HTTP/SMTP and a real notifier process wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import CommunityUpdated, Event, PartyContactsUpdated
from propfee.kafka import make_producer
from sandbox.push import push_app
from sandbox.server import ThreadServer
from sandbox.sms import SmsProvider, alibaba_app, tencent_app
from sandbox.smtp import SmtpServer
from sandbox.wechat import Inbox, wechat_app
from tests.support.auth import BearerAuth
from tests.support.kafka import publish

ALI_SECRET = "ali-secret-for-tests"
TC_ID, TC_KEY = "AKIDtest", "tencent-key-for-tests"
WX_ID, WX_SECRET = "wx-app", "wx-secret"
PUSH_SECRET = "push-secret"
#: The shared secret of Alibaba's and Tencent's delivery-report callback URLs (?token=).
CALLBACK_TOKEN = "callback-token-for-tests"


@dataclass
class Fakes:
    alibaba: SmsProvider
    tencent: SmsProvider
    wechat: Inbox
    push: Inbox
    smtp: SmtpServer
    env: dict[str, str]


@pytest.fixture(scope="session")
def clock_auth(dev_issuer: DevIssuer) -> BearerAuth:
    """The service role, deployment-wide: the only caller that may dispatch (or batch
    letters) as of a chosen instant, as the tests' simulated clock does."""
    return BearerAuth(dev_issuer.mint("test-clock", [Role.service], "*", "*"))


@pytest.fixture
def providers() -> Iterator[Fakes]:
    ali, tc, wx, push = SmsProvider(), SmsProvider(), Inbox(), Inbox()
    servers = [
        ThreadServer(alibaba_app(ali, ALI_SECRET)).start(),
        ThreadServer(tencent_app(tc, TC_ID, TC_KEY)).start(),
        ThreadServer(wechat_app(wx, WX_ID, WX_SECRET)).start(),
        ThreadServer(push_app(push, PUSH_SECRET)).start(),
    ]
    smtp = SmtpServer(refuse={"gone@example.cn"}).start()
    env = {
        "dispatcher_enabled": "false",
        "alibaba_endpoint": servers[0].url + "/",
        "alibaba_access_key_id": "LTAItest",
        "alibaba_access_key_secret": ALI_SECRET,
        "tencent_endpoint": servers[1].url + "/",
        "tencent_secret_id": TC_ID,
        "tencent_secret_key": TC_KEY,
        "tencent_sms_sdk_app_id": "1400000001",
        "wechat_api_base": servers[2].url,
        "wechat_app_id": WX_ID,
        "wechat_app_secret": WX_SECRET,
        "wechat_template_ids": '{"default": "TPL-WX"}',
        "push_webhook_url": servers[3].url + "/push",
        "push_webhook_secret": PUSH_SECRET,
        "smtp_port": str(smtp.port),
        "retry_initial_s": "60",
        "max_attempts": "3",
        "contact_grace_hours": "24",
        "receipt_callback_token": CALLBACK_TOKEN,
    }
    yield Fakes(ali, tc, wx, push, smtp, env)
    for server in servers:
        server.stop()
    smtp.stop()


@pytest_asyncio.fixture
async def producer(kafka: str) -> AsyncIterator[Any]:
    producer = make_producer(kafka, client_id="notifier-test")
    await producer.start()
    yield producer
    await producer.stop()


class Bus:
    def __init__(self, producer: Any, prefix: str) -> None:
        self.producer, self.prefix = producer, prefix

    async def send(self, event: Event, key: str, event_id: str | None = None) -> str:
        envelope = await publish(
            self.producer, self.prefix + event.topic(), event, key=key, event_id=event_id
        )
        return envelope.id


@pytest.fixture
def bus(producer: Any, test_prefix: str) -> Bus:
    return Bus(producer, test_prefix)


T0 = datetime(2026, 3, 1, tzinfo=UTC)


def community(community_id: str = "c-1") -> CommunityUpdated:
    return CommunityUpdated(
        community_id=community_id,
        company_id="co-1",
        company_name="安居物业服务有限公司",
        name="幸福花园",
        city="杭州",
        service_phone="4008123456",
        complaint_line="0571-12345",
        updated_at=T0,
    )


def party(party_id: str, **contacts: Any) -> PartyContactsUpdated:
    return PartyContactsUpdated(
        party_id=party_id, community_id="c-1", kind="owner", name="张三", updated_at=T0, **contacts
    )


async def wait_for(
    client: httpx.AsyncClient, url: str, params: dict[str, str], check: Any, timeout: float = 30
) -> Any:
    from tests.support.fixtures import wait_until

    result: list[Any] = []

    async def ok() -> bool:
        r = await client.get(url, params=params)
        # 404: the id names nothing yet (an id is resolved before a list runs)
        body = [] if r.status_code == 404 else r.json()
        rows = body["items"] if isinstance(body, dict) and "items" in body else body
        result[:] = [rows]
        return bool(check(rows))

    await wait_until(ok, timeout=timeout)
    return result[0]


async def party_known(client: httpx.AsyncClient, party_id: str) -> None:
    from tests.support.fixtures import wait_until

    async def ok() -> bool:
        return (await client.get(f"/parties/{party_id}")).status_code == 200

    await wait_until(ok, timeout=30)


async def community_known(client: httpx.AsyncClient, community_id: str) -> None:
    """Until billing.community-updated arrives, a company-wide token cannot see the community
    (notifier does not know its company yet)."""
    from tests.support.fixtures import wait_until

    async def ok() -> bool:
        url = f"/communities/{community_id}/contact-rules"
        return (await client.get(url)).status_code == 200

    await wait_until(ok, timeout=30)
