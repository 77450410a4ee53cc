"""Issue 18 rules 8 and 9 over the real database and the HTTP API: a promise is kept when the
promised amount was paid by its date (other arrears do not break it); a plan part is missed
only on money paid after the plan started; invoices under an installment plan being honoured
are held by the sweep (not escalated, not listed, not counted for the tier) and a manual
advance is refused while the case is paused or its debt is under an honoured plan."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest

from dunning.adapters.policies import community_policy_id, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.service_layer.sweep import run_sweep
from propfee.events import (
    InstallmentPart,
    InstallmentPlanCreated,
    InvoiceBalanceChanged,
    InvoiceIssued,
)
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


def balance(
    inv: InvoiceIssued, principal_left_fen: int, late_fee_fen: int = 0, version: int = 2
) -> InvoiceBalanceChanged:
    """Billing's balance of ``inv``: ``principal_left_fen`` of its principal still owed."""
    return InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id=inv.community_id, unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, balance_version=version,
        status="partially_paid" if principal_left_fen < inv.total_fen else "issued",
        due_date=inv.due_date, total_fen=inv.total_fen,
        principal_paid_fen=inv.total_fen - principal_left_fen,
        principal_outstanding_fen=principal_left_fen, late_fee_fen=late_fee_fen,
        reason="payment", changed_at=datetime(2026, 1, 5, tzinfo=UTC),
    )  # fmt: skip


def plan(
    unit: str, invoices: list[InvoiceIssued], total_fen: int, parts: list[tuple[date, int]],
    created: str,
) -> InstallmentPlanCreated:  # fmt: skip
    return InstallmentPlanCreated(
        plan_id=f"plan-{unit}", community_id="c-1", unit_id=unit, payer_party_id=f"p-{unit}",
        invoice_ids=[i.invoice_id for i in invoices], total_fen=total_fen, reason="hardship",
        parts=[InstallmentPart(part_no=n, due_date=d, amount_fen=a)
               for n, (d, a) in enumerate(parts, start=1)],
        created_at=at(created),
    )  # fmt: skip


async def promise(api: httpx.AsyncClient, case_id: str, amount_fen: int, by: str, when: str):  # type: ignore[no-untyped-def]
    body = {"amount_fen": amount_fen, "promised_date": by, "signed": True, "staff_id": "hk-1",
            "at": at(when).isoformat()}  # fmt: skip
    r = await api.post(f"/cases/{case_id}/promises", json=body)
    assert r.status_code == 201, r.text


async def promise_status(pool: asyncpg.Pool, case_id: str) -> str:
    return await pool.fetchval("SELECT status FROM promises WHERE case_id = $1", case_id)


# Rule 8: promises.


async def test_a_promise_paid_by_its_date_is_kept_though_other_arrears_remain(api, pool) -> None:  # type: ignore[no-untyped-def]
    promised, other = invoice("5101", date(2026, 1, 31)), invoice("5101", date(2025, 12, 31))
    await feed(pool, promised)
    await feed(pool, other)
    case_id = (await case_of(pool, "5101"))["case_id"]
    await promise(api, case_id, 27_580, "2026-02-20", "2026-02-09 10:00")
    await feed(pool, payment("5101", at("2026-02-18 15:00"), 27_580))
    await feed(pool, settled(promised, at("2026-02-18 15:00")))
    await sweep(pool, "2026-02-25 10:00")  # the older bill is still owed
    assert await promise_status(pool, case_id) == "kept"
    follow = (await api.get("/tasks", params={"kind": "promise_follow_up"})).json()["items"]
    assert follow == [], "a kept promise asks no follow-up"


async def test_a_promise_paid_short_or_before_it_was_made_is_broken(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("5102", date(2026, 1, 31)))
    await feed(pool, payment("5102", at("2026-02-08 09:00"), 20_000))  # before the promise
    case_id = (await case_of(pool, "5102"))["case_id"]
    await promise(api, case_id, 27_580, "2026-02-20", "2026-02-09 10:00")
    await feed(pool, payment("5102", at("2026-02-19 09:00"), 10_000))  # short
    await sweep(pool, "2026-02-21 10:00")
    assert await promise_status(pool, case_id) == "open", "within the grace (a day)"
    await sweep(pool, "2026-02-22 10:00")
    assert await promise_status(pool, case_id) == "broken"
    follow = (await api.get("/tasks", params={"kind": "promise_follow_up"})).json()["items"]
    assert len(follow) == 1


async def test_a_promise_is_kept_by_a_payment_within_the_grace(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("5103", date(2026, 1, 31)))
    await feed(pool, invoice("5103", date(2026, 3, 31)))  # a newer bill, not yet due
    case_id = (await case_of(pool, "5103"))["case_id"]
    await promise(api, case_id, 27_580, "2026-02-20", "2026-02-09 10:00")
    await feed(pool, payment("5103", at("2026-02-21 23:30"), 27_580))  # a day's grace: 02-21
    await sweep(pool, "2026-02-26 10:00")
    assert await promise_status(pool, case_id) == "kept"


# Rule 8: plans.


async def test_money_paid_before_the_plan_does_not_pay_its_parts(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("5201", date(2025, 10, 31), total_fen=60_000)
    await feed(pool, inv)
    await feed(pool, balance(inv, principal_left_fen=20_000))  # 40,000 paid before the plan
    await feed(pool, plan("5201", [inv], 20_000, [(date(2026, 2, 15), 10_000),
                                                   (date(2026, 3, 15), 10_000)],
                          "2026-02-01 10:00"))  # fmt: skip
    await sweep(pool, "2026-02-19 10:00")  # part 1 due 02-15, grace over, nothing paid since
    status = await pool.fetchval("SELECT status FROM installment_plans WHERE plan_id = 'plan-5201'")
    assert status == "missed"


async def test_a_part_paid_after_the_plan_started_is_not_missed(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("5202", date(2025, 10, 31), total_fen=60_000)
    await feed(pool, inv)
    await feed(pool, balance(inv, principal_left_fen=20_000))
    await feed(pool, plan("5202", [inv], 20_000, [(date(2026, 2, 15), 10_000),
                                                   (date(2026, 3, 15), 10_000)],
                          "2026-02-01 10:00"))  # fmt: skip
    await feed(pool, balance(inv, principal_left_fen=10_000, version=3))  # part 1 paid
    await sweep(pool, "2026-02-19 10:00")
    status = await pool.fetchval("SELECT status FROM installment_plans WHERE plan_id = 'plan-5202'")
    assert status == "active"
    await sweep(pool, "2026-03-19 10:00")  # part 2 unpaid
    status = await pool.fetchval("SELECT status FROM installment_plans WHERE plan_id = 'plan-5202'")
    assert status == "missed"


async def test_a_part_s_grace_runs_in_the_policy_s_time_zone(pool) -> None:  # type: ignore[no-untyped-def]
    """A community following a policy in New York time: at 03:00 on 02-19 in Shanghai it is
    still 02-18 there, the grace of a part due 02-15 (three days) has not run out."""
    own = DEFAULT_POLICY.model_copy(
        update={"policy_id": community_policy_id("c-ny"), "time_zone": "America/New_York"}
    )
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, own, "co-1")
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-ny', $1)",
            own.policy_id,
        )
    inv = invoice("5203", date(2025, 10, 31), total_fen=20_000, community="c-ny")
    await feed(pool, inv)
    await feed(pool, plan("5203", [inv], 20_000, [(date(2026, 2, 15), 10_000),
                                                   (date(2026, 3, 15), 10_000)],
                          "2026-02-01 10:00").model_copy(update={"community_id": "c-ny"}))  # fmt: skip
    await sweep(pool, "2026-02-19 03:00")
    status = await pool.fetchval("SELECT status FROM installment_plans WHERE plan_id = 'plan-5203'")
    assert status == "active", "02-18 in New York: the grace runs through 02-18"
    await sweep(pool, "2026-02-19 14:00")  # 02-19 01:00 in New York
    status = await pool.fetchval("SELECT status FROM installment_plans WHERE plan_id = 'plan-5203'")
    assert status == "missed"


# Rule 9: honoured plans and pauses hold everything.


async def _hardship_household(pool: asyncpg.Pool, unit: str) -> InvoiceIssued:
    """Imported arrears of 3,000 yuan, a hardship plan in January paid in full (a late fee of
    800 yuan, above the de-minimis, is still open on the invoice)."""
    arrears = invoice(unit, date(2025, 6, 30), total_fen=300_000, kind="opening_arrears")
    await feed(pool, arrears)
    await feed(pool, plan(unit, [arrears], 300_000, [(date(2026, 1, 31), 100_000),
                                                      (date(2026, 2, 28), 100_000),
                                                      (date(2026, 3, 31), 100_000)],
                          "2026-01-10 10:00"))  # fmt: skip
    await feed(pool, balance(arrears, principal_left_fen=0, late_fee_fen=80_000))
    return arrears


async def test_an_honoured_plan_keeps_its_household_off_the_ladder_all_year(api, pool) -> None:  # type: ignore[no-untyped-def]
    await _hardship_household(pool, "5301")
    for month in range(4, 13):  # the plan's pause ended in April
        await sweep(pool, f"2026-{month:02d}-20 10:00")
    assert await published(pool) == [], "no letter, no lawyer over a plan being honoured"
    case = await case_of(pool, "5301")
    assert case["stage"] is None and case["tier"] == "current" and case["outstanding_fen"] == 0
    r = await api.post(f"/cases/{case['case_id']}/advance",
                       json={"stage": "lawsuit", "at": at("2026-12-01 10:00").isoformat()})  # fmt: skip
    assert r.status_code == 409 and "under_honoured_plan" in r.text, r.text


async def test_other_invoices_are_chased_without_the_planned_ones(pool) -> None:  # type: ignore[no-untyped-def]
    arrears = await _hardship_household(pool, "5302")
    newer = invoice("5302", date(2026, 5, 31))
    await feed(pool, newer)
    result = await sweep(pool, "2026-06-10 10:00")
    assert result.by_stage == {"reminder": 1}
    (event,) = await published(pool)
    assert event.invoice_ids == [newer.invoice_id] and arrears.invoice_id not in event.invoice_ids
    assert event.outstanding_fen == 27_580 and event.oldest_due_date == date(2026, 5, 31)
    case = await case_of(pool, "5302")
    assert case["tier"] == "current", "the planned arrears (a year old) do not age the case"


async def test_a_missed_plan_releases_its_invoices_to_the_ladder(pool) -> None:  # type: ignore[no-untyped-def]
    arrears = invoice("5303", date(2025, 6, 30), total_fen=300_000)
    await feed(pool, arrears)
    await feed(pool, plan("5303", [arrears], 300_000, [(date(2026, 1, 31), 150_000),
                                                        (date(2026, 2, 28), 150_000)],
                          "2026-01-10 10:00"))  # fmt: skip
    await sweep(pool, "2026-02-05 10:00")  # part 1 missed: the plan ends, its pause too
    assert (await sweep(pool, "2026-02-06 10:00")).escalated == 1
    (event,) = await published(pool)
    assert event.invoice_ids == [arrears.invoice_id]


async def test_a_manual_advance_is_refused_while_the_case_is_paused(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("5304", date(2025, 1, 31)))
    case_id = (await case_of(pool, "5304"))["case_id"]
    body = {"reason": "service_complaint", "owner": "cs-1",
            "starts_at": at("2026-02-01 09:00").isoformat(),
            "ends_at": at("2026-04-01 09:00").isoformat()}  # fmt: skip
    assert (await api.post(f"/cases/{case_id}/pauses", json=body)).status_code == 201
    r = await api.post(f"/cases/{case_id}/advance",
                       json={"stage": "friendly_letter", "at": at("2026-03-01 10:00").isoformat()})  # fmt: skip
    assert r.status_code == 409 and "case_paused" in r.text, r.text
    assert (await case_of(pool, "5304"))["stage"] is None
    later = await api.post(f"/cases/{case_id}/advance",
                           json={"stage": "friendly_letter",
                                 "at": at("2026-04-02 10:00").isoformat()})  # fmt: skip
    assert later.status_code == 200, "the pause has ended"
