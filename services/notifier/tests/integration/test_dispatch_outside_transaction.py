"""Issue 21, known risk: the dispatcher must not hold a database transaction (its row locks,
its pooled connection) while a provider answers over HTTP. A slow or hanging provider would
otherwise keep the claimed rows locked and the connection ``idle in transaction``, and a
crash mid-call would leave the outcome ambiguous.

Real notifier process (migrations, events), real PostgreSQL, the dispatcher in this process
against the fake Alibaba SMS provider over real HTTP, made slow."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg
import httpx
import pytest

from notifier.adapters.registry import Channels
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import NotifierSettings
from propfee.db import create_pool

from .conftest import community, community_known, party, party_known, wait_for
from .test_rules_and_stops import escalation

pytestmark = pytest.mark.integration
AS_OF = datetime.fromisoformat("2026-03-05T20:30:00+08:00")  # before the quiet hours
AT = datetime.fromisoformat("2026-03-05T20:00:00+08:00")


async def queue_reminders(http: httpx.AsyncClient, bus, cases: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One SMS reminder due for each case (its own owner, its own phone)."""
    await bus.send(community(), key="c-1")
    await community_known(http, "c-1")
    for n, case in enumerate(cases):
        await bus.send(party(f"p-{case}", phone=f"139000000{n:02d}"), key=case)
    for case in cases:
        await party_known(http, f"p-{case}")
        await bus.send(escalation(case, f"p-{case}", at=AT), key=f"u-{case}")
    await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == len(cases))


def settings_for(dsn: str, env: dict[str, str], monkeypatch, **more: str) -> NotifierSettings:  # type: ignore[no-untyped-def]
    for key, value in {**env, **more}.items():
        monkeypatch.setenv(f"NOTIFIER_{key.upper()}", value)
    return NotifierSettings(database_url=dsn)


async def test_no_transaction_or_lock_is_held_while_a_provider_hangs(
    staff_auth,
    create_database,
    services,
    providers,
    bus,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    dsn = await create_database("notifier")
    notifier = services("notifier", dsn, **providers.env).start()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        await queue_reminders(http, bus, ["h1", "h2"])
        ids = [r["notification_id"] for r in (await http.get("/notifications")).json()["items"]]
    settings = settings_for(
        dsn, providers.env, monkeypatch, dispatch_batch_size="1", provider_timeout_s="30"
    )
    providers.alibaba.delay_s = 4.0  # the provider hangs for 4 s on every request
    pool = await create_pool(dsn, max_size=4)
    dispatcher = Dispatcher(pool, Channels.from_settings(settings), settings)
    spy = await asyncpg.connect(dsn)
    try:
        sending = asyncio.create_task(dispatcher.batch(AS_OF))
        await asyncio.sleep(2.0)  # the request is at the provider, which has not answered
        assert not sending.done()
        holding = await spy.fetch(
            "SELECT pid, state, now() - xact_start AS open_for FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%'"
        )
        assert holding == [], "a connection sits idle in a transaction during the HTTP call"
        # No row lock either: another replica may read-and-lock every message right now.
        async with spy.transaction():
            locked = await spy.fetch(
                "SELECT notification_id FROM notifications WHERE notification_id = ANY($1) "
                "FOR UPDATE NOWAIT",
                ids,
            )
        assert len(locked) == 2
        # And a second replica claims (and sends) the other due message meanwhile.
        other = Dispatcher(pool, Channels.from_settings(settings), settings)
        try:
            report = await asyncio.wait_for(other.batch(AS_OF), 8)
        finally:
            await other.channels.close()
        assert report.counts["claimed"] == 1 and report.counts["sent"] == 1, report.counts
        first = await asyncio.wait_for(sending, 10)
        assert first.counts["sent"] == 1, first.counts
    finally:
        await spy.close()
        await dispatcher.channels.close()
        await pool.close()
    states = await _states(dsn, ids)
    assert sorted(states.values()) == ["sent", "sent"], states
    assert sorted(m["out_id"] for m in providers.alibaba.sent) == sorted(ids)


async def _states(dsn: str, ids: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT notification_id, status FROM notifications WHERE notification_id = ANY($1)",
            ids,
        )
    finally:
        await conn.close()
    return {r["notification_id"]: r["status"] for r in rows}
