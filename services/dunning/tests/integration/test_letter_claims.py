"""Issue 19 over the real database: a combined reminder by letter (one person, two flats, one
occasion) claims the lines of both flats in room order and what was paid toward all of them;
the flat combined into it carries its own."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from dunning.adapters.policies import community_policy_id, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.policy import Policy
from dunning.service_layer.sweep import run_sweep
from propfee.events import InvoiceBalanceChanged, InvoiceIssued
from services.dunning.tests.integration.support import at, feed, invoice, published

pytestmark = pytest.mark.integration
PERSON = "p-li"


async def _letters_a_week_after_due(pool: asyncpg.Pool) -> None:
    document = DEFAULT_POLICY.model_dump(mode="json")
    stages = {s["code"]: s for s in document["stages"]}
    document |= {
        "policy_id": community_policy_id("c-9"),
        "monthly_reminder_day": None,
        "stages": [{**stages["formal_letter"], "offset_days": 7, "min_gap_days": 1,
                    "min_months_overdue": 0}],
    }  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, Policy.model_validate(document), "co-1")
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-9', $1)",
            document["policy_id"],
        )


def _owned(unit: str, due: date, fen: int) -> InvoiceIssued:
    return invoice(unit, due, fen, community="c-9").model_copy(update={"payer_party_id": PERSON})


async def test_a_combined_letter_claims_every_flats_lines(pool) -> None:  # type: ignore[no-untyped-def]
    await _letters_a_week_after_due(pool)
    a1, a2 = _owned("1301", date(2025, 12, 31), 20_000), _owned("1301", date(2026, 1, 31), 20_000)
    b1 = _owned("1302", date(2026, 1, 31), 30_000)
    for event in (a1, a2, b1):
        await feed(pool, event)
    await feed(pool, InvoiceBalanceChanged(
        invoice_id=b1.invoice_id, community_id="c-9", unit_id="1302", payer_party_id=PERSON,
        balance_version=2, status="partially_paid", due_date=b1.due_date, total_fen=30_000,
        principal_paid_fen=5_000, principal_outstanding_fen=25_000, late_fee_fen=0,
        reason="payment", changed_at=at("2026-02-05 10:00"),
    ))  # fmt: skip
    async with pool.acquire() as conn:
        result = await run_sweep(conn, at("2026-02-08 10:00"))
    assert result.by_stage == {"formal_letter": 2}
    events = {e.unit_id: e for e in await published(pool)}
    lead, other = events["1301"], events["1302"]
    assert other.combined_into == lead.case_id
    assert [(x.invoice_id, x.principal_fen) for x in lead.statement or []] == [
        (a1.invoice_id, 20_000), (a2.invoice_id, 20_000), (b1.invoice_id, 25_000),
    ]  # fmt: skip
    assert lead.paid_fen == 5_000
    assert [(x.invoice_id, x.principal_fen) for x in other.statement or []] == [
        (b1.invoice_id, 25_000)
    ]
    assert other.paid_fen == 5_000
