"""Two messages compete for one occasion (same case, stage and channel: the owner has no
WeChat, so the WeChat one falls back to SMS): exactly one goes out, however the dispatch work
is split, between the workers of one process or between replicas. Real notifier process,
Kafka, PostgreSQL and fake SMS provider over HTTP."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest

from notifier.adapters.registry import Channels
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import NotifierSettings
from propfee.db import create_pool

from .conftest import community, community_known, party, party_known, wait_for
from .test_rules_and_stops import dispatch, escalation

pytestmark = pytest.mark.integration
AS_OF = "2026-03-05T20:30:00+08:00"  # before the quiet hours
AT = datetime.fromisoformat("2026-03-05T20:00:00+08:00")


async def _queue_pairs(http: httpx.AsyncClient, bus, cases: list[str]) -> None:  # type: ignore[no-untyped-def]
    await bus.send(community(), key="c-1")
    await community_known(http, "c-1")
    for n, case in enumerate(cases):
        await bus.send(party(f"p-{case}", phone=f"138000000{n:02d}"), key=case)
    for case in cases:
        await party_known(http, f"p-{case}")
        await bus.send(
            escalation(case, f"p-{case}", channels=("sms", "wechat"), at=AT), key=f"u-{case}"
        )
    await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2 * len(cases))


def _one_sent_per_case(rows: list[dict], cases: list[str]) -> None:  # type: ignore[type-arg]
    for case in cases:
        mine = sorted(r["status"] for r in rows if r["subject_id"] == case)
        assert mine == ["sent", "suppressed"], (case, mine)


async def test_workers_of_one_process_never_split_a_party(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """Batches of one message and two workers: without each worker owning its parties, the
    two messages of a case would be decided at once by the two workers, both as "not sent
    yet"."""
    notifier = services(
        "notifier",
        await create_database("notifier"),
        dispatch_batch_size="1",
        dispatch_workers="2",
        **providers.env,
    ).start()
    cases = [f"k{n:02d}" for n in range(8)]
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        await _queue_pairs(http, bus, cases)
        report = await dispatch(http, AS_OF, clock_auth)
        assert report.get("sent") == len(cases), report
        rows = (await http.get("/notifications")).json()["items"]
        _one_sent_per_case(rows, cases)
    assert len(providers.alibaba.sent) == len(cases)


async def test_replicas_wait_for_each_other_on_a_shared_party(
    staff_auth,
    create_database,
    services,
    providers,
    bus,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Two replicas' batches claim one message each of the same case (SKIP LOCKED gives them
    different rows): the second locks the party after the first, so it sees the first one's
    SMS and suppresses its own."""
    dsn = await create_database("notifier")
    notifier = services("notifier", dsn, **providers.env).start()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        await _queue_pairs(http, bus, ["k1"])
        for key, value in {**providers.env, "dispatch_batch_size": "1"}.items():
            monkeypatch.setenv(f"NOTIFIER_{key.upper()}", value)
        settings = NotifierSettings(database_url=dsn)
        pool = await create_pool(dsn, max_size=4)
        replicas = [Dispatcher(pool, Channels.from_settings(settings), settings) for _ in (1, 2)]
        try:
            as_of = datetime.fromisoformat(AS_OF)
            parts = await asyncio.gather(*(r.batch(as_of) for r in replicas))
        finally:
            for replica in replicas:
                await replica.channels.close()
            await pool.close()
        assert [p.counts["claimed"] for p in parts] == [1, 1]
        rows = (await http.get("/notifications")).json()["items"]
        _one_sent_per_case(rows, ["k1"])
    assert len(providers.alibaba.sent) == 1
