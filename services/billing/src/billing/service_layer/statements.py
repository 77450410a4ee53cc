"""A household's statement as of a date, and installment plans over its arrears."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from billing.domain.calendar import add_months
from billing.domain.plans import Part, check_parts, part_statuses
from billing.service_layer.accounts import load_account
from billing.service_layer.ids import stable_id
from propfee.events import InstallmentPart, InstallmentPlanCreated
from propfee.money import Money
from propfee.outbox import add_event


async def statement(conn: asyncpg.Connection, unit_id: str, as_of: date) -> dict[str, Any]:
    """Every invoice (with its late fee as of the date), payment, refund and allocation."""
    account = await load_account(conn, unit_id)
    if account is None:
        raise LookupError(f"unit {unit_id} not found")
    lines = await conn.fetch(
        "SELECT invoice_id, line_no, fee_item, description, quantity::text, "
        "unit_price_fen::text, amount_fen FROM invoice_lines WHERE invoice_id = ANY($1::text[]) "
        "ORDER BY invoice_id, line_no",
        [r["invoice_id"] for r in account.invoices],
    )
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        lines_of.setdefault(line["invoice_id"], []).append(dict(line))
    invoices = []
    for row in sorted(account.invoices, key=lambda r: (r["due_date"], r["invoice_id"])):
        b = account.state.invoices[row["invoice_id"]]
        late_fee = b.late_fee_accrued(as_of, account.terms) if b.status != "void" else 0
        invoices.append(
            {
                "invoice_id": row["invoice_id"],
                "period_start": row["period_start"],
                "due_date": row["due_date"],
                "status": b.status,
                "total_fen": row["total_fen"],
                "principal_paid_fen": b.principal_paid_fen,
                "principal_outstanding_fen": 0
                if b.status in ("void", "written_off")
                else b.principal_due_fen,
                "late_fee_fen": late_fee,
                "late_fee_paid_fen": b.late_fee_paid_fen,
                "late_fee_waived_fen": b.late_fee_waived_fen,
                "late_fee_outstanding_fen": 0
                if b.status in ("void", "written_off")
                else max(late_fee - b.late_fee_paid_fen - b.late_fee_waived_fen, 0),
                "lines": lines_of.get(row["invoice_id"], []),
            }
        )
    payments = await conn.fetch(
        "SELECT p.payment_id, p.amount_fen, p.channel, p.paid_at, r.receipt_no FROM "
        "payments_received p LEFT JOIN receipts r USING (payment_id) WHERE p.unit_id = $1 "
        "ORDER BY p.paid_at",
        unit_id,
    )
    refunds = await conn.fetch(
        "SELECT refund_id, payment_id, amount_fen, reason, refunded_at FROM refunds_received "
        "WHERE unit_id = $1 ORDER BY refunded_at",
        unit_id,
    )
    journal = [
        {
            "payment_id": a.payment_id,
            "invoice_id": a.invoice_id,
            "component": a.component,
            "amount_fen": a.amount_fen,
            "at": a.at,
            # A use of prepaid credit: the money was applied after the moment it was paid.
            "from_credit": any(
                p["payment_id"] == a.payment_id and a.at > p["paid_at"] for p in payments
            ),
        }
        for a in account.state.allocations
    ]
    return {
        "unit_id": unit_id,
        "as_of": as_of,
        "invoices": invoices,
        "payments": [dict(p) for p in payments],
        "refunds": [dict(r) for r in refunds],
        "allocations": journal,
        "credit_fen": account.state.credit_fen,
        "principal_outstanding_fen": sum(i["principal_outstanding_fen"] for i in invoices),
        "late_fee_outstanding_fen": sum(i["late_fee_outstanding_fen"] for i in invoices),
        "currency": "CNY",
    }


@dataclass(frozen=True)
class PlanRequest:
    unit_id: str
    invoice_ids: tuple[str, ...]
    parts: int
    first_due: date
    reason: str
    at: datetime


async def create_plan(conn: asyncpg.Connection, request: PlanRequest) -> str:
    """Split the outstanding principal of the named invoices into monthly parts, as many as
    the community allows (3-6 unless it set its own range within 2-12)."""
    limits = await conn.fetchrow(
        "SELECT c.installment_min_parts, c.installment_max_parts FROM units u "
        "JOIN communities c USING (community_id) WHERE u.unit_id = $1",
        request.unit_id,
    )
    if limits is None:
        raise LookupError(f"unit {request.unit_id} not found")
    check_parts(request.parts, limits["installment_min_parts"], limits["installment_max_parts"])
    rows = await conn.fetch(
        "SELECT invoice_id, community_id, payer_party_id, "
        "total_fen - principal_paid_fen AS left_fen "
        "FROM invoices WHERE unit_id = $1 AND invoice_id = ANY($2::text[]) "
        "AND status IN ('issued', 'partially_paid') FOR UPDATE",
        request.unit_id,
        list(request.invoice_ids),
    )
    if len(rows) != len(set(request.invoice_ids)):
        raise ValueError("invoice_ids: every invoice must be open and belong to the unit")
    total = sum(r["left_fen"] for r in rows)
    if total <= 0:
        raise ValueError("invoice_ids: nothing is outstanding on these invoices")
    plan_id = stable_id("plan", request.unit_id, request.at.isoformat())
    amounts = Money(total).split([1] * request.parts)
    parts = [
        InstallmentPart(part_no=n, due_date=add_months(request.first_due, n - 1), amount_fen=m.fen)
        for n, m in enumerate(amounts, start=1)
    ]
    await conn.execute(
        "INSERT INTO installment_plans (plan_id, unit_id, payer_party_id, invoice_ids, total_fen, "
        "created_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        plan_id,
        request.unit_id,
        rows[0]["payer_party_id"],
        sorted(request.invoice_ids),
        total,
        request.at,
        request.reason,
    )
    await conn.executemany(
        "INSERT INTO installment_parts (plan_id, part_no, due_date, amount_fen) "
        "VALUES ($1, $2, $3, $4)",
        [(plan_id, p.part_no, p.due_date, p.amount_fen) for p in parts],
    )
    event = InstallmentPlanCreated(
        plan_id=plan_id,
        community_id=rows[0]["community_id"],
        unit_id=request.unit_id,
        payer_party_id=rows[0]["payer_party_id"],
        invoice_ids=sorted(request.invoice_ids),
        total_fen=total,
        parts=parts,
        reason=request.reason,
        created_at=request.at,
    )
    await add_event(conn, event, key=request.unit_id, subject=plan_id, time=request.at)
    return plan_id


async def plans(conn: asyncpg.Connection, unit_id: str, as_of: date) -> list[dict[str, Any]]:
    """Each plan with each part paid, due or missed as of the date: the principal paid on its
    invoices by payments made since the plan started (``paid_at``, not the time the replay
    allocated them: credit paid before the plan is no part paid) covers the parts in order."""
    result = []
    for plan in await conn.fetch(
        "SELECT * FROM installment_plans WHERE unit_id = $1 ORDER BY created_at", unit_id
    ):
        paid = await conn.fetchval(
            "SELECT coalesce(sum(a.amount_fen), 0)::bigint FROM allocations a "
            "JOIN payments_received p USING (payment_id) WHERE a.unit_id = $1 "
            "AND a.invoice_id = ANY($2::text[]) AND a.component = 'principal' "
            "AND p.paid_at >= $3 AND p.paid_at::date <= $4 AND a.at::date <= $4",
            unit_id,
            plan["invoice_ids"],
            plan["created_at"],
            as_of,
        )
        rows = await conn.fetch(
            "SELECT part_no, due_date, amount_fen FROM installment_parts WHERE plan_id = $1 "
            "ORDER BY part_no",
            plan["plan_id"],
        )
        statuses = part_statuses(
            [Part(r["part_no"], r["due_date"], r["amount_fen"]) for r in rows], paid, as_of
        )
        parts = [{**dict(r), "status": st} for r, st in zip(rows, statuses, strict=True)]
        result.append(
            {
                **{
                    k: plan[k]
                    for k in ("plan_id", "invoice_ids", "total_fen", "created_at", "reason")
                },
                "paid_fen": paid,
                "missed": any(p["status"] == "missed" for p in parts),
                "parts": parts,
            }
        )
    return result
