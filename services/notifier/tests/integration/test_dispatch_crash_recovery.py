"""Issue 21: reminders are sent at most once per occasion even when the dispatcher dies
between the provider's acceptance and the recording of it. The notifier process is killed
(SIGKILL) by the fake provider the instant it accepts the message, before it answers: the
message stays 'sending' under a lease. Once the lease has run out, another notifier process
recovers it according to what the provider offers (service_layer/recovery.py):

* Alibaba SMS is asked (QuerySendDetails by OutId): recorded as sent, nothing sent again;
* the push gateway deduplicates on Idempotency-Key: sent again, pushed once;
* WeChat offers neither: 'unknown', never sent again, and staff get a review task.

And a dispatcher that dies before reaching the provider loses nothing: Alibaba has no such
message, so it is sent (once) by the next dispatcher.

Real notifier processes, real PostgreSQL and Kafka, fake providers over real HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from notifier.adapters.registry import Channels
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import NotifierSettings
from propfee.db import create_pool
from sandbox.push import PushGateway
from sandbox.server import ThreadServer
from sandbox.sms import AlibabaSms, SmsProvider
from sandbox.wechat import Inbox, wechat_app
from tests.support.processes import ServiceProcess

from .conftest import (
    ALI_SECRET,
    PUSH_SECRET,
    WX_ID,
    WX_SECRET,
    community,
    community_known,
    party,
    party_known,
    wait_for,
)
from .test_rules_and_stops import escalation

pytestmark = pytest.mark.integration
AS_OF = "2026-03-05T20:30:00+08:00"  # before the quiet hours
AT = datetime.fromisoformat("2026-03-05T20:00:00+08:00")
#: A short lease: a send may start during its first second (lease - 2 x timeout - 1 s).
LEASE = {"dispatch_lease_s": "4", "provider_timeout_s": "1"}


class Killer:
    """Kills ``victim`` with SIGKILL when the provider accepts a message (then answers a
    connection that is gone)."""

    def __init__(self) -> None:
        self.victim: ServiceProcess | None = None
        self.kills = 0

    def __call__(self, *_: Any) -> None:
        if self.victim is not None and self.victim.process is not None:
            self.victim.process.send_signal(signal.SIGKILL)
            self.victim = None
            self.kills += 1


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    servers: list[ThreadServer] = []

    def start(app: Any) -> str:
        servers.append(ThreadServer(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


async def _queue(http: httpx.AsyncClient, bus: Any, contacts: dict[str, str], channel: str) -> str:
    await bus.send(community(), key="c-1")
    await community_known(http, "c-1")
    await bus.send(party("p-k", **contacts), key="p-k")
    await party_known(http, "p-k")
    await bus.send(escalation("k1", "p-k", channels=(channel,), at=AT), key="u-k1")
    rows = await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 1)
    return str(rows[0]["notification_id"])


async def _row(dsn: str, notification_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT status, claimed_by, lease_until < now() AS expired, provider_message_id, "
            "proof, status_reason, body FROM notifications WHERE notification_id = $1",
            notification_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def _dispatch_and_die(
    notifier: ServiceProcess, killer: Killer, clock_auth: httpx.Auth
) -> None:
    killer.victim = notifier
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30) as http:
        with pytest.raises(httpx.TransportError):  # killed mid-dispatch
            await http.post("/dispatch", auth=clock_auth, params={"as_of": AS_OF})
    assert killer.kills == 1
    assert notifier.process is not None and notifier.process.wait(timeout=10) == -signal.SIGKILL


async def _after_lease(dsn: str, notification_id: str) -> None:
    for _ in range(100):
        row = await _row(dsn, notification_id)
        if row["expired"]:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the lease never ran out")


async def _killed_then_recovered(
    *,
    create_database: Any,
    services: Any,
    env: dict[str, str],
    bus: Any,
    staff_auth: httpx.Auth,
    clock_auth: httpx.Auth,
    killer: Killer,
    contacts: dict[str, str],
    channel: str,
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Queue one message, dispatch it in a notifier killed at the provider's acceptance,
    then dispatch again (twice) in a second notifier once the lease has run out. The
    message's id, its database name, the second notifier's two reports."""
    dsn = await create_database("notifier")
    first = services("notifier", dsn, **env, **LEASE).start()
    async with httpx.AsyncClient(base_url=first.url, timeout=60, auth=staff_auth) as http:
        notification_id = await _queue(http, bus, contacts, channel)
    await _dispatch_and_die(first, killer, clock_auth)
    row = await _row(dsn, notification_id)
    assert row["status"] == "sending" and row["claimed_by"], dict(row)
    await _after_lease(dsn, notification_id)
    second = services("notifier", dsn, **env, **LEASE).start()
    async with httpx.AsyncClient(base_url=second.url, timeout=60, auth=clock_auth) as http:
        recovered = (await http.post("/dispatch", params={"as_of": AS_OF})).json()
        again = (await http.post("/dispatch", params={"as_of": AS_OF})).json()
    return notification_id, dsn, recovered, again


async def test_sms_accepted_then_killed_is_found_at_the_provider_not_sent_again(
    staff_auth, clock_auth, create_database, services, providers, bus, killer, serve
) -> None:  # type: ignore[no-untyped-def]
    ali = SmsProvider()
    url = serve(AlibabaSms(ali, ALI_SECRET, on_accept=killer).app)
    notification_id, dsn, recovered, again = await _killed_then_recovered(
        create_database=create_database,
        services=services,
        env={**providers.env, "alibaba_endpoint": url + "/"},
        bus=bus,
        staff_auth=staff_auth,
        clock_auth=clock_auth,
        killer=killer,
        contacts={"phone": "13900000077"},
        channel="sms",
    )
    assert [m["out_id"] for m in ali.sent] == [notification_id]  # exactly once
    assert recovered["recovered"] == 1 and recovered["sent"] == 1, recovered
    assert recovered["sms_segments"] == 1, recovered
    assert again["sent"] == 0 and again["claimed"] == 0, again
    row = await _row(dsn, notification_id)
    assert row["status"] == "sent" and row["claimed_by"] is None
    proof = json.loads(row["proof"])
    assert proof["found_by"] == "QuerySendDetails" and proof["out_id"] == notification_id


async def test_push_accepted_then_killed_is_sent_again_and_pushed_once(
    staff_auth, clock_auth, create_database, services, providers, bus, killer, serve
) -> None:  # type: ignore[no-untyped-def]
    gateway = PushGateway(Inbox(), PUSH_SECRET, on_accept=killer)
    url = serve(gateway.app)
    notification_id, dsn, recovered, again = await _killed_then_recovered(
        create_database=create_database,
        services=services,
        env={**providers.env, "push_webhook_url": url + "/push"},
        bus=bus,
        staff_auth=staff_auth,
        clock_auth=clock_auth,
        killer=killer,
        contacts={"app_user_id": "app-77"},
        channel="app_push",
    )
    assert [m["notification_id"] for m in gateway.state.messages] == [notification_id]
    assert recovered["requeued"] == 1 and recovered["sent"] == 1, recovered
    assert again["sent"] == 0, again
    row = await _row(dsn, notification_id)
    assert row["status"] == "sent" and row["provider_message_id"] == "push-1"  # the first's


async def test_wechat_accepted_then_killed_is_unknown_for_staff_never_resent(
    staff_auth, clock_auth, create_database, services, providers, bus, killer, serve
) -> None:  # type: ignore[no-untyped-def]
    inbox = Inbox()
    url = serve(wechat_app(inbox, WX_ID, WX_SECRET, on_accept=killer))
    notification_id, dsn, recovered, again = await _killed_then_recovered(
        create_database=create_database,
        services=services,
        env={**providers.env, "wechat_api_base": url},
        bus=bus,
        staff_auth=staff_auth,
        clock_auth=clock_auth,
        killer=killer,
        contacts={"wechat_openid": "oWX77", "phone": "13900000078"},
        channel="wechat",
    )
    assert len(inbox.messages) == 1  # at most once
    assert recovered["unknown"] == 1 and recovered["sent"] == 0, recovered
    assert again["sent"] == 0 and again["claimed"] == 0, again
    row = await _row(dsn, notification_id)
    assert row["status"] == "unknown" and row["body"], dict(row)  # the text staff review
    assert "may have been sent" in row["status_reason"]
    conn = await asyncpg.connect(dsn)
    try:
        tasks = await conn.fetch("SELECT kind, reason FROM staff_tasks")
        published = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic LIKE '%staff-task-requested'"
        )
        sms = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE channel = 'sms' AND status <> 'queued'"
        )
    finally:
        await conn.close()
    assert [t["kind"] for t in tasks] == ["review_delivery"], tasks
    assert published == 1
    assert sms == 0  # no fallback to another channel: it may have reached the owner
    assert len(providers.alibaba.sent) == 0


class Crash(BaseException):
    """The process dying (not an error the dispatcher could handle)."""


async def test_killed_before_the_provider_call_is_sent_once_by_the_next(
    staff_auth, create_database, services, providers, bus, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    dsn = await create_database("notifier")
    notifier = services("notifier", dsn, **providers.env).start()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        notification_id = await _queue(http, bus, {"phone": "13900000079"}, "sms")
    for key, value in {**providers.env, **LEASE}.items():
        monkeypatch.setenv(f"NOTIFIER_{key.upper()}", value)
    settings = NotifierSettings(database_url=dsn)
    pool = await create_pool(dsn, max_size=4)
    as_of = datetime.fromisoformat(AS_OF)
    dying, next_one = (Dispatcher(pool, Channels.from_settings(settings), settings) for _ in "12")

    async def crash(*_: Any) -> None:
        raise Crash

    try:
        monkeypatch.setattr(dying, "_send", crash)
        with pytest.raises(Crash):
            await dying.batch(as_of)
        assert (await _row(dsn, notification_id))["status"] == "sending"
        assert (await next_one.batch(as_of)).counts["sent"] == 0  # the lease still holds
        await _after_lease(dsn, notification_id)
        recovered = await next_one.batch(as_of)  # Alibaba is asked: it has no such message
        report = await next_one.batch(as_of)  # so it is due again, under the same OutId
    finally:
        await dying.channels.close()
        await next_one.channels.close()
        await pool.close()
    assert recovered.counts["requeued"] == 1 and recovered.counts["sent"] == 0, recovered.counts
    assert report.counts["sent"] == 1, report.counts
    assert [m["out_id"] for m in providers.alibaba.sent] == [notification_id]
    assert (await _row(dsn, notification_id))["status"] == "sent"
