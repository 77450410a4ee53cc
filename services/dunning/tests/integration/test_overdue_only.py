"""Issue 18 rules 4 and 6 over the real database: tiers, the ladder and escalation events
count overdue money only, and run on overdue principal; an open late fee (an imported
'opening_late_fee' invoice included) below the community's de-minimis alone keeps no case on
the ladder, one at or above it does (the ladder continues on the late fee, never to red)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from dunning.service_layer.sweep import run_sweep
from propfee.events import InvoiceBalanceChanged, InvoiceIssued
from services.dunning.tests.integration.support import at, case_of, feed, invoice, published

pytestmark = pytest.mark.integration


async def sweep(pool: asyncpg.Pool, when: str):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        return await run_sweep(conn, at(when))


def principal_paid(inv: InvoiceIssued, late_fee_left_fen: int) -> InvoiceBalanceChanged:
    """The principal of ``inv`` paid in full, a late fee of ``late_fee_left_fen`` still open."""
    return InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id=inv.community_id, unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, balance_version=2, status="partially_paid",
        due_date=inv.due_date, total_fen=inv.total_fen, principal_paid_fen=inv.total_fen,
        principal_outstanding_fen=0, late_fee_fen=late_fee_left_fen, reason="payment",
        changed_at=datetime(2025, 9, 1, tzinfo=UTC),
    )  # fmt: skip


async def test_an_invoice_not_yet_due_neither_reddens_nor_is_listed(pool) -> None:  # type: ignore[no-untyped-def]
    overdue = invoice("2101", date(2025, 1, 31), total_fen=400_000)
    upcoming = invoice("2101", date(2026, 3, 31), total_fen=300_000)
    await feed(pool, overdue)
    await feed(pool, upcoming)
    result = await sweep(pool, "2026-03-10 10:00")  # 13 months after the overdue one
    assert result.by_stage == {"reminder": 1}
    (event,) = await published(pool)
    assert event.invoice_ids == [overdue.invoice_id], "the bill not yet due is not listed"
    assert event.outstanding_fen == 400_000 and event.oldest_due_date == date(2025, 1, 31)
    assert event.tier == "yellow", "4,000 yuan overdue is under the 5,000-yuan red line"
    case = await case_of(pool, "2101")
    assert case["tier"] == "yellow" and case["outstanding_fen"] == 400_000


async def test_a_late_fee_residue_below_the_de_minimis_keeps_no_case_on_the_ladder(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("2102", date(2025, 6, 30))
    await feed(pool, inv)
    await feed(pool, principal_paid(inv, late_fee_left_fen=3_000))  # 30 yuan
    result = await sweep(pool, "2026-03-10 10:00")
    assert result.escalated == 0 and result.monthly_reminders == 0
    assert await published(pool) == []
    case = await case_of(pool, "2102")
    assert case["status"] == "open", "the late fee is still owed, only not chased"
    assert case["tier"] == "current" and case["outstanding_fen"] == 0


async def test_a_late_fee_at_or_above_the_de_minimis_continues_on_the_ladder(pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("2103", date(2025, 1, 31), total_fen=900_000)
    await feed(pool, inv)
    await feed(pool, principal_paid(inv, late_fee_left_fen=8_000))  # 80 yuan
    result = await sweep(pool, "2026-03-10 10:00")
    assert result.by_stage == {"reminder": 1}
    (event,) = await published(pool)
    assert event.outstanding_fen == 8_000 and event.invoice_ids == [inv.invoice_id]
    assert event.tier == "yellow", "no overdue principal: never red, whatever the months"


async def test_an_opening_late_fee_invoice_counts_as_late_fee(pool) -> None:  # type: ignore[no-untyped-def]
    imported = invoice("2104", date(2025, 1, 31), total_fen=3_000, kind="opening_late_fee")
    await feed(pool, imported)
    assert await pool.fetchval(
        "SELECT kind FROM receivables WHERE invoice_id = $1", imported.invoice_id
    ) == "opening_late_fee"  # fmt: skip
    assert (await sweep(pool, "2026-03-10 10:00")).escalated == 0, "30 yuan of late fee alone"
    # As principal the same 30 yuan would be chased: a regular invoice of the same amount is.
    await feed(pool, invoice("2105", date(2025, 1, 31), total_fen=3_000, kind="regular"))
    assert (await sweep(pool, "2026-03-10 11:00")).by_stage == {"reminder": 1}


async def test_opening_late_fee_beside_principal_is_late_fee_for_the_red_line(pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("2106", date(2025, 1, 31), total_fen=450_000, kind="opening_arrears"))
    await feed(pool, invoice("2106", date(2025, 1, 31), total_fen=100_000, kind="opening_late_fee"))
    await sweep(pool, "2026-03-10 10:00")
    (event,) = await published(pool)
    assert event.outstanding_fen == 550_000, "the claim names principal and late fee"
    assert event.tier == "yellow", "red runs on overdue principal: 4,500 yuan is not over 5,000"


async def test_the_de_minimis_is_per_community(api, pool) -> None:  # type: ignore[no-untyped-def]
    r = await api.put("/communities/c-1/settings", json={"late_fee_de_minimis_fen": 0})
    assert r.status_code == 422, r.text
    assert "late_fee_de_minimis_fen" in str(r.json()["refused"])
    assert (await api.get("/communities/c-1/settings")).json() == {"late_fee_de_minimis_fen": 5_000}
    r = await api.put("/communities/c-1/settings", json={"late_fee_de_minimis_fen": 2_000})
    assert r.status_code == 200, r.text
    await feed(pool, invoice("2107", date(2025, 1, 31), total_fen=3_000, kind="opening_late_fee"))
    await feed(pool, invoice("2108", date(2025, 1, 31), total_fen=3_000, kind="opening_late_fee",
                             community="c-2"))  # fmt: skip
    result = await sweep(pool, "2026-03-10 10:00")
    assert result.by_stage == {"reminder": 1}, "30 yuan reaches c-1's 20, not c-2's default 50"
    (event,) = await published(pool)
    assert event.unit_id == "2107"


@pytest.mark.parametrize(
    ("principal", "late_fee", "de_minimis", "chased"),
    [
        (0, 0, 5_000, 0),
        (0, 4_999, 5_000, 0),
        (0, 5_000, 5_000, 5_000),
        (0, 8_000, 5_000, 8_000),
        (1, 3_000, 5_000, 3_001),
        (400_000, 0, 5_000, 400_000),
        (400_000, 100, 5_000, 400_100),
    ],
)
async def test_dunning_chased_fen_examples(pool, principal, late_fee, de_minimis, chased) -> None:  # type: ignore[no-untyped-def]
    got = await pool.fetchval(
        "SELECT dunning_chased_fen($1::bigint, $2::bigint, $3::bigint)",
        principal, late_fee, de_minimis,
    )  # fmt: skip
    assert got == chased


async def _at_final_letter(pool: asyncpg.Pool, unit: str) -> str:
    """The case of ``unit`` put at the final letter long ago (the legal demand due next)."""
    case_id: str = (await case_of(pool, unit))["case_id"]
    await pool.execute(
        "UPDATE arrears_cases SET stage = 'final_letter', stage_index = idx, "
        "stage_entered_at = $2 FROM policy_stages WHERE case_id = $1 "
        "AND policy_id = 'default' AND code = 'final_letter'",
        case_id,
        at("2025-10-01 10:00"),
    )
    return case_id


async def test_no_legal_stage_over_a_late_fee_alone(api, pool) -> None:  # type: ignore[no-untyped-def]
    """80 yuan of late fee (above the de-minimis) keeps the ladder's reminders going, but never
    the legal track: the sweep refuses the legal demand (late_fee_only) and so does a manual
    advance into a legal stage; with overdue principal the same case goes on."""
    inv = invoice("2109", date(2025, 1, 31), total_fen=900_000)
    await feed(pool, inv)
    await sweep(pool, "2025-03-01 10:00")  # the policy rows exist (ensure_default_policy)
    await feed(pool, principal_paid(inv, late_fee_left_fen=8_000))
    case_id = await _at_final_letter(pool, "2109")
    result = await sweep(pool, "2026-03-10 10:00")
    assert result.refused == {"late_fee_only": 1} and result.by_stage == {}
    r = await api.post(
        f"/cases/{case_id}/advance",
        json={"stage": "legal_demand", "at": at("2026-03-10 11:00").isoformat()},
    )
    assert r.status_code == 409 and "late_fee_only" in r.text, r.text
    # The same case with principal overdue: the legal demand is due and goes.
    await feed(pool, invoice("2109", date(2025, 8, 31), total_fen=30_000))  # 6 months by now
    result = await sweep(pool, "2026-03-11 10:00")
    assert result.by_stage == {"legal_demand": 1}, result
