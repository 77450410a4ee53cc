"""Installment plans from billing: the case pauses while parts are paid on time (the sweep
ends the pause when a part is missed) and the plan restarts the limitation clock."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import asyncpg

from dunning.service_layer.cases import reconcile_case
from dunning.service_layer.limitation import LOCAL_TZ, add_restarts, local_date
from dunning.service_layer.pauses import pause_case
from propfee.consumer import EventContext
from propfee.events import InstallmentPlanCreated

GRACE_DAYS = 3


async def on_installment_plan_created(
    conn: asyncpg.Connection, event: InstallmentPlanCreated, context: EventContext
) -> None:
    inserted = await conn.fetchval(
        "INSERT INTO installment_plans (plan_id, unit_id, community_id, payer_party_id, "
        "invoice_ids, total_fen, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (plan_id) DO NOTHING RETURNING true",
        event.plan_id,
        event.unit_id,
        event.community_id,
        event.payer_party_id,
        event.invoice_ids,
        event.total_fen,
        event.reason,
        event.created_at,
    )
    if not inserted:
        return
    await conn.executemany(
        "INSERT INTO installment_parts (plan_id, part_no, due_date, amount_fen) "
        "VALUES ($1, $2, $3, $4)",
        [(event.plan_id, p.part_no, p.due_date, p.amount_fen) for p in event.parts],
    )
    on = local_date(event.created_at)
    await add_restarts(
        conn,
        [(i, "payment_plan", on, event.plan_id) for i in event.invoice_ids],
        at=event.created_at,
    )
    await reconcile_case(
        conn, event.unit_id, event.community_id, event.payer_party_id, event.created_at
    )
    await pause_pending_plans(conn, event.unit_id)


async def pause_pending_plans(conn: asyncpg.Connection, unit_id: str) -> None:
    """Pause the open case of the plan's payer on the household for each active plan not yet
    pausing it (a plan may arrive before the invoices that open the case)."""
    await pause_pending_plans_of(conn, [unit_id])


async def pause_pending_plans_of(conn: asyncpg.Connection, unit_ids: list[str]) -> None:
    """:func:`pause_pending_plans` for several households (one query; plans are rare)."""
    plans = await conn.fetch(
        "SELECT p.plan_id, p.reason, p.created_at, max(ip.due_date) AS last_due, c.case_id "
        "FROM installment_plans p JOIN installment_parts ip USING (plan_id) "
        "JOIN arrears_cases c ON c.unit_id = p.unit_id AND c.payer_party_id = p.payer_party_id "
        "AND c.status = 'open' "
        "WHERE p.unit_id = ANY($1::text[]) AND p.status = 'active' "
        "AND NOT EXISTS (SELECT 1 FROM pauses ps WHERE ps.plan_id = p.plan_id) "
        "GROUP BY p.plan_id, c.case_id ORDER BY p.unit_id, p.plan_id",
        unit_ids,
    )
    for plan in plans:
        case_id = plan["case_id"]
        ends = plan["last_due"] + timedelta(days=GRACE_DAYS + 1)
        await pause_case(
            conn,
            case_id=case_id,
            reason="hardship_plan" if "hardship" in plan["reason"] else "installment_plan",
            owner="billing",
            starts_at=plan["created_at"],
            ends_at=datetime.combine(ends, time(0, 0), LOCAL_TZ),
            note=f"installment plan {plan['plan_id']}",
            plan_id=plan["plan_id"],
        )
