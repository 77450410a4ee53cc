"""A provider that answers two messages with one id (its fault: notifier keeps provider ids
unique) must not stop the dispatch pass: every message goes out once, what can be recorded
is, the message whose outcome the database refuses stays 'sending' for recovery and is
counted in the pass's report (POST /dispatch's ``unrecorded``). Before, the pass ended there
and the endpoint answered 409 (one make demo in twenty or so, with the sandbox's old ids)."""

from __future__ import annotations

import httpx
import pytest

from notifier.adapters.registry import Channels
from notifier.entrypoints.models import DispatchReport
from notifier.service_layer.dispatcher import Dispatcher
from propfee.db import create_pool

from .test_dispatch_outside_transaction import AS_OF, _states, queue_reminders, settings_for

pytestmark = pytest.mark.integration


async def test_an_outcome_the_database_refuses_is_left_to_recovery_and_the_pass_goes_on(
    staff_auth,
    create_database,
    services,
    providers,
    bus,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    dsn = await create_database("notifier")
    notifier = services("notifier", dsn, **providers.env).start()
    cases = ["d1", "d2", "d3", "d4"]
    ids_given = iter(["100001000000000001^0", "100001000000000001^0"])
    real = providers.alibaba.next_biz_id
    # The first two messages the provider accepts get one id; the others their own.
    providers.alibaba.next_biz_id = lambda: next(ids_given, None) or real()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        await queue_reminders(http, bus, cases)
        ids = [r["notification_id"] for r in (await http.get("/notifications")).json()["items"]]
    settings = settings_for(dsn, providers.env, monkeypatch)
    pool = await create_pool(dsn, max_size=4)
    dispatcher = Dispatcher(pool, Channels.from_settings(settings), settings)
    try:
        counts = (await dispatcher.dispatch(AS_OF)).counts
    finally:
        await dispatcher.channels.close()
        await pool.close()
    report = DispatchReport(as_of=AS_OF, **counts)  # what POST /dispatch answers
    assert (report.claimed, report.sent, report.unrecorded) == (4, 3, 1), counts
    states = await _states(dsn, ids)
    assert sorted(states.values()) == ["sending", "sent", "sent", "sent"], states
    # Each message went out exactly once.
    assert sorted(m["out_id"] for m in providers.alibaba.sent) == sorted(ids)
