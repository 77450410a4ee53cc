"""Issue 18 rule 12 over the real database: the reminder cap counts a person (the payer party,
one for all their units), within one sweep too; one combined reminder per person per occasion."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from dunning.adapters.policies import community_policy_id, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.service_layer.sweep import run_sweep
from propfee.events import InvoiceIssued
from services.dunning.tests.integration.support import at, feed, invoice, published

pytestmark = pytest.mark.integration

PERSON = "p-wang"  # owns two flats: one party (billing matches people by verified phone)


async def _community_with_cap(pool: asyncpg.Pool, cap: int) -> None:
    own = DEFAULT_POLICY.model_copy(
        update={"policy_id": community_policy_id("c-9"), "reminder_cap": cap}
    )
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, own, "co-1")
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-9', $1)",
            own.policy_id,
        )


def _owned(unit: str, due: date, fen: int) -> InvoiceIssued:
    return invoice(unit, due, fen, community="c-9").model_copy(update={"payer_party_id": PERSON})


async def _sweep(pool: asyncpg.Pool, when: str):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        return await run_sweep(conn, at(when))


async def test_cap_one_lets_one_reminder_of_two_units_through_in_one_sweep(pool) -> None:  # type: ignore[no-untyped-def]
    """Flat 1301 is a week overdue (reminder due), flat 1302 falls due in three days (its
    notice before due is due): two reminders of one person in one sweep, cap 1: one goes."""
    await _community_with_cap(pool, 1)
    await feed(pool, _owned("1301", date(2026, 1, 31), 20_000))
    await feed(pool, _owned("1302", date(2026, 2, 10), 30_000))
    result = await _sweep(pool, "2026-02-07 10:00")
    assert result.by_stage == {"reminder": 1} and result.deferred == {"cap": 1}
    assert [(e.unit_id, e.stage) for e in await published(pool)] == [("1301", "reminder")]
    waiting = await pool.fetchrow("SELECT * FROM arrears_cases WHERE unit_id = '1302'")
    assert waiting["stage_index"] < 0 or waiting["stage"] != "notice_before_due"
    assert waiting["deferred_reason"] == "cap"


async def test_two_units_reaching_one_stage_are_one_combined_reminder(pool) -> None:  # type: ignore[no-untyped-def]
    """Both flats a week overdue: one occasion (the person's 'reminder' of this sweep). The
    first flat's escalation carries both rooms; the other is combined into it. The cap counts
    the occasion once: with cap 2 the final reminder a week later still goes."""
    await _community_with_cap(pool, 2)
    await feed(pool, _owned("1302", date(2026, 1, 31), 30_000))
    await feed(pool, _owned("1301", date(2026, 1, 31), 20_000))
    first = await _sweep(pool, "2026-02-07 10:00")
    assert first.by_stage == {"reminder": 2} and first.deferred == {}
    events = {e.unit_id: e for e in await published(pool)}
    lead, other = events["1301"], events["1302"]
    assert [(c.room_label, c.outstanding_fen) for c in lead.combined] == [
        ("3-2-1301", 20_000),
        ("3-2-1302", 30_000),
    ]
    assert lead.combined_into is None and other.combined == []
    assert other.combined_into == lead.case_id
    second = await _sweep(pool, "2026-02-15 10:00")
    assert second.by_stage == {"final_reminder": 2} and second.deferred == {}
    third = await _sweep(pool, "2026-02-22 10:00")  # phone calls are tasks: not capped
    assert third.by_stage == {"phone_call": 2}
    fourth = await _sweep(pool, "2026-03-02 10:00")  # wechat_app: a third reminder in 30 days
    assert fourth.escalated == 0 and fourth.deferred == {"cap": 2}
