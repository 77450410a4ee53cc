"""The sweep over the real database: ladder, idempotence, holds, deferral, replicas."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import asyncpg
import pytest

from dunning.adapters.policies import community_policy_id, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.service_layer.sweep import run_sweep
from services.dunning.tests.integration.support import (
    at,
    case_of,
    feed,
    invoice,
    payment,
    published,
    settled,
)

pytestmark = pytest.mark.integration


async def sweep(pool: asyncpg.Pool, when: str):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        return await run_sweep(conn, at(when))


async def test_overdue_invoice_climbs_the_ladder_one_stage_per_due_sweep(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("1201", date(2026, 1, 31))
    await feed(pool, inv)
    first = await sweep(pool, "2026-01-28 10:00")
    assert first.by_stage == {"notice_before_due": 1}
    again = await sweep(pool, "2026-01-28 10:00")
    assert again.escalated == 0 and again.monthly_reminders == 0, "the same sweep changes nothing"
    assert (await sweep(pool, "2026-02-05 10:00")).escalated == 0, "+7 not reached"
    assert (await sweep(pool, "2026-02-07 10:00")).by_stage == {"reminder": 1}
    assert (await sweep(pool, "2026-02-15 10:00")).by_stage == {"final_reminder": 1}
    assert (await sweep(pool, "2026-02-22 10:00")).by_stage == {"phone_call": 1}
    events = await published(pool)
    assert [e.stage for e in events] == [
        "notice_before_due", "reminder", "final_reminder", "phone_call",
    ]  # fmt: skip
    last = events[-1]
    assert last.previous_stage == "final_reminder"
    assert last.outstanding_fen == 27_580 and last.invoice_ids == [inv.invoice_id]
    assert last.oldest_due_date == date(2026, 1, 31) and last.days_overdue == 22
    assert last.room_label == "3-2-1201" and last.tier == "green" and last.months_overdue == 0
    assert [(a.kind, a.channel) for a in last.actions] == [("task", "phone_call")]
    task = await pool.fetchrow("SELECT * FROM tasks WHERE kind = 'phone_call'")
    # 2026-02-22 is a Sunday (rest day): the call window is 10:00–17:00 local.
    assert task["window_start"] == at("2026-02-22 10:00")
    assert task["window_end"] == at("2026-02-22 17:00")
    case = await case_of(pool, "1201")
    assert case["stage"] == "phone_call" and case["outstanding_fen"] == 27_580


async def test_a_household_that_paid_is_never_reminded(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("1202", date(2026, 1, 31))
    await feed(pool, inv)
    await feed(pool, payment("1202", at("2026-02-06 09:00")))
    result = await sweep(pool, "2026-02-07 10:00")
    assert result.escalated == 0 and result.monthly_reminders == 0, "a hold is in force"
    await feed(pool, settled(inv, at("2026-02-07 11:00")))
    assert (await case_of(pool, "1202"))["status"] == "closed"
    later = await sweep(pool, "2026-06-20 10:00")
    assert later.escalated == 0 and later.monthly_reminders == 0
    assert await published(pool) == []


async def test_hold_lifted_when_billing_allocates_and_still_owes(pool) -> None:  # type: ignore[no-untyped-def]
    a, b = invoice("1203", date(2026, 1, 31)), invoice("1203", date(2026, 2, 28))
    await feed(pool, a)
    await feed(pool, b)
    await feed(pool, payment("1203", at("2026-03-01 09:00")))
    assert (await sweep(pool, "2026-03-02 10:00")).escalated == 0
    await feed(pool, settled(a, at("2026-03-01 09:05")))
    case = await case_of(pool, "1203")
    assert case["status"] == "open" and not case["on_hold"]
    assert (await sweep(pool, "2026-03-02 10:00")).escalated == 0, "b is the oldest: +7 is 03-07"
    result = await sweep(pool, "2026-03-07 10:00")
    assert result.escalated == 1
    assert (await published(pool))[0].invoice_ids == [b.invoice_id]


async def test_a_hold_billing_never_resolves_expires_after_72_hours(pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("1206", date(2026, 1, 31)))
    await feed(pool, payment("1206", at("2026-03-01 09:00")))
    assert (await sweep(pool, "2026-03-03 10:00")).escalated == 0
    assert (await sweep(pool, "2026-03-04 10:00")).escalated == 1


async def test_quiet_hours_defer_to_eight_in_the_morning(pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("1204", date(2026, 2, 26)))
    night = await sweep(pool, "2026-03-05 21:30")
    assert night.escalated == 0 and night.deferred == {"quiet_hours": 1}
    case = await case_of(pool, "1204")
    assert case["deferred_until"] == at("2026-03-06 08:00")
    assert case["deferred_reason"] == "quiet_hours"
    morning = await sweep(pool, "2026-03-06 08:00")
    assert morning.by_stage == {"reminder": 1}


async def test_a_community_s_own_quiet_hours_hold_in_the_default_policy_s_time_zone(pool) -> None:  # type: ignore[no-untyped-def]
    """Issue 18 rule 13: c-7 follows its own policy, quiet 20:00–08:00, in Asia/Shanghai like
    the default (quiet from 21:00). At 20:30 its reminder waits; c-1's (the default) goes."""
    own = DEFAULT_POLICY.model_copy(
        update={"policy_id": community_policy_id("c-7"), "quiet_start": "20:00"}
    )
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, own, "co-1")
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-7', $1)",
            own.policy_id,
        )
    await feed(pool, invoice("1207", date(2026, 2, 26), community="c-7"))
    await feed(pool, invoice("1208", date(2026, 2, 26)))
    evening = await sweep(pool, "2026-03-05 20:30")
    assert evening.deferred == {"quiet_hours": 1} and evening.by_stage == {"reminder": 1}
    quiet = await case_of(pool, "1207")
    assert quiet["stage"] != "reminder" and quiet["deferred_reason"] == "quiet_hours"
    assert quiet["deferred_until"] == at("2026-03-06 08:00")
    assert (await case_of(pool, "1208"))["stage"] == "reminder"
    assert (await sweep(pool, "2026-03-06 08:00")).by_stage == {"reminder": 1}


async def test_cap_defers_the_fifth_reminder_until_the_oldest_leaves(pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("1205", date(2026, 1, 31)))
    times = [at(f"2026-02-{d:02d} 10:00") for d in (10, 12, 14, 16)]
    await pool.executemany(
        "INSERT INTO escalations (case_id, stage, cycle, community_id, unit_id, payer_party_id, "
        "tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder, escalated_at) "
        "VALUES ('other', 'reminder', $1, 'c-1', '9999', 'p-1205', 'green', 1, '2026-01-31', "
        "'{}', '[]', true, $2)",
        [(str(i), t) for i, t in enumerate(times)],
    )
    result = await sweep(pool, "2026-02-20 10:00")
    assert result.deferred == {"cap": 1} and result.escalated == 0
    assert (await case_of(pool, "1205"))["deferred_until"] == times[0] + timedelta(days=30)
    assert (await sweep(pool, "2026-03-12 10:00")).escalated == 1


async def test_replicas_never_double_escalate(pool) -> None:  # type: ignore[no-untyped-def]
    for n in range(30):
        await feed(pool, invoice(f"u{n}", date(2026, 1, 31)))
    results = await asyncio.gather(*(sweep(pool, "2026-02-08 10:00") for _ in range(3)))
    assert sorted(r.escalated for r in results) == [0, 0, 30]
    assert await pool.fetchval("SELECT count(*) FROM escalations") == 30
    assert len(await published(pool)) == 30


async def test_installment_plan_pauses_until_a_part_is_missed(pool) -> None:  # type: ignore[no-untyped-def]
    from propfee.events import ArrearsCaseResumed, InstallmentPart, InstallmentPlanCreated

    inv = invoice("1207", date(2026, 1, 31))
    plan = InstallmentPlanCreated(
        plan_id="plan-1207", community_id="c-1", unit_id="1207", payer_party_id="p-1207",
        invoice_ids=[inv.invoice_id], total_fen=27_580, reason="installment",
        parts=[InstallmentPart(part_no=1, due_date=date(2026, 2, 15), amount_fen=13_790),
               InstallmentPart(part_no=2, due_date=date(2026, 3, 15), amount_fen=13_790)],
        created_at=at("2026-02-01 10:00"),
    )  # fmt: skip
    await feed(pool, plan)  # before the invoice: the pause follows when the case opens
    await feed(pool, inv)
    assert (await sweep(pool, "2026-02-10 10:00")).escalated == 0, "paused by the plan"
    assert (await sweep(pool, "2026-02-19 10:00")).escalated == 0, "part 1 missed: resumes"
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = $1", ArrearsCaseResumed.topic()
    )
    assert len(rows) == 1
    resumed = ArrearsCaseResumed.model_validate_json(bytes(rows[0]["payload"]))
    assert resumed.resolution == "installment missed" and resumed.unit_id == "1207"
    assert (await sweep(pool, "2026-02-20 10:00")).by_stage == {"reminder": 1}
    # The plan restarted the invoice's limitation clock on the day it was made.
    expires = await pool.fetchval(
        "SELECT limitation_expires_on FROM receivables WHERE invoice_id = $1", inv.invoice_id
    )
    assert expires == date(2029, 2, 1)
