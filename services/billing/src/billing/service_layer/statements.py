"""A household's statement as of a date, a party's arrears (at a sale), and installment plans
over its arrears."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.account import InvoiceBalance, day_end
from billing.domain.calendar import add_months
from billing.domain.plans import Part, check_parts, part_statuses
from billing.service_layer.accounts import Account, load_accounts
from billing.service_layer.ids import stable_id
from propfee import audit
from propfee.auth import Principal
from propfee.events import InstallmentPart, InstallmentPlanCreated
from propfee.late_fees import LateFeeTerms
from propfee.money import Money
from propfee.outbox import add_event


def _rate(value: Fraction) -> str:
    """A daily rate for people: exact to ten decimal places (0.039 / 365 = 0.0001068493)."""
    return str(Decimal(value.numerator) / Decimal(value.denominator))[:12]


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def late_fee_terms(terms: LateFeeTerms) -> dict[str, Any]:
    """The contract's late-fee rate as written and the rate it accrues at (capped)."""
    return {
        "daily_rate": None if terms.daily_rate is None else _plain(terms.daily_rate),
        "annual_cap": _plain(terms.annual_cap),
        "effective_daily_rate": None
        if terms.daily_rate is None
        else _rate(terms.effective_daily_rate),
        "capped": terms.capped,
    }


def _invoice_line(
    b: InvoiceBalance, row: asyncpg.Record, as_of: date, account: Account
) -> dict[str, Any]:
    closed = b.status in ("void", "written_off")
    late_fee = b.late_fee_accrued(as_of, account.terms) if b.status != "void" else 0
    return {
        "invoice_id": row["invoice_id"],
        "kind": row["kind"],
        "collection": b.collection,
        "period_start": row["period_start"],
        "due_date": row["due_date"],
        "interest_from": b.interest_from,
        "status": b.status,
        "total_fen": row["total_fen"],
        "discount_lapsed_fen": b.discount_lapsed_fen,
        "principal_fen": b.principal_fen,
        "principal_paid_fen": b.principal_paid_fen,
        "principal_outstanding_fen": 0 if closed else b.principal_due_fen,
        "late_fee_fen": late_fee,
        "late_fee_paid_fen": b.late_fee_paid_fen,
        "late_fee_waived_fen": b.late_fee_waived_fen,
        "late_fee_outstanding_fen": 0
        if closed
        else max(late_fee - b.late_fee_paid_fen - b.late_fee_waived_fen, 0),
        # A payment on day D stops interest on the paid part from day D (EXAMPLES.md): paying
        # the principal in full on as_of owes the late fee accrued to the day before.
        "late_fee_payable_fen": 0
        if closed
        else b.late_fee_due(as_of - timedelta(days=1), account.terms),
        "time_barred": b.time_barred(as_of),
        "limitation_expires_on": b.limitation_expires_on,
    }


async def local_today(
    conn: asyncpg.Connection, *, unit_id: str | None = None, community_id: str | None = None
) -> date:
    """Today in the community's time zone (of ``community_id``, or of ``unit_id``'s): the
    default business date of a statement, a plan's parts or a report. Not the UTC date: from
    00:00 to 08:00 in Shanghai that is still yesterday, and a statement as of yesterday leaves
    out what happened since local midnight."""
    zone = await conn.fetchval(
        "SELECT c.time_zone FROM communities c WHERE c.community_id = coalesce($2, "
        "(SELECT u.community_id FROM units u WHERE u.unit_id = $1))",
        unit_id,
        community_id,
    )
    return datetime.now(ZoneInfo(zone or "Asia/Shanghai")).date()


async def statement(conn: asyncpg.Connection, unit_id: str, as_of: date) -> dict[str, Any]:
    """The account as it stood at the end of ``as_of`` (community time): only what happened
    by then (invoices, payments, refunds, waivers, voids, write-offs, sales), late fees
    accrued to that day. Every invoice, payment, refund and allocation."""
    account = (await load_accounts(conn, [unit_id], as_of=as_of)).get(unit_id)
    if account is None:
        raise LookupError(f"unit {unit_id} not found")
    until = day_end(as_of, account.tz)
    rows = [r for r in account.invoices if r["invoice_id"] in account.state.invoices]
    lines = await conn.fetch(
        "SELECT invoice_id, line_no, fee_item, description, quantity::text, "
        "unit_price_fen::text, amount_fen FROM invoice_lines WHERE invoice_id = ANY($1::text[]) "
        "ORDER BY invoice_id, line_no",
        [r["invoice_id"] for r in rows],
    )
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        lines_of.setdefault(line["invoice_id"], []).append(dict(line))
    invoices = []
    for row in sorted(rows, key=lambda r: (r["due_date"], r["invoice_id"])):
        b = account.state.invoices[row["invoice_id"]]
        invoices.append(
            {**_invoice_line(b, row, as_of, account), "lines": lines_of.get(row["invoice_id"], [])}
        )
    payments = await conn.fetch(
        "SELECT p.payment_id, p.amount_fen, p.channel, p.paid_at, r.receipt_no FROM "
        "payments_received p LEFT JOIN receipts r USING (payment_id) WHERE p.unit_id = $1 "
        "AND p.paid_at < $2 ORDER BY p.paid_at",
        unit_id,
        until,
    )
    refunds = await conn.fetch(
        "SELECT refund_id, payment_id, amount_fen, reason, refunded_at FROM refunds_received "
        "WHERE unit_id = $1 AND refunded_at < $2 ORDER BY refunded_at",
        unit_id,
        until,
    )
    paid_at = {p["payment_id"]: p["paid_at"] for p in payments}
    journal = [
        {
            "payment_id": a.payment_id,
            "invoice_id": a.invoice_id,
            "component": a.component,
            "amount_fen": a.amount_fen,
            "at": a.at,
            # A use of prepaid credit: the money was applied after the moment it was paid.
            "from_credit": a.payment_id in paid_at and a.at > paid_at[a.payment_id],
        }
        for a in account.state.allocations
    ]
    return {
        "unit_id": unit_id,
        "as_of": as_of,
        "late_fee_terms": late_fee_terms(account.terms),
        "invoices": invoices,
        "payments": [dict(p) for p in payments],
        "refunds": [dict(r) for r in refunds],
        "allocations": journal,
        "credit_fen": account.state.credit_fen,
        "frozen_credit_fen": account.state.frozen_credit_fen,
        "principal_outstanding_fen": sum(i["principal_outstanding_fen"] for i in invoices),
        "late_fee_outstanding_fen": sum(i["late_fee_outstanding_fen"] for i in invoices),
        "late_fee_payable_fen": sum(i["late_fee_payable_fen"] for i in invoices),
        "currency": "CNY",
    }


async def party_arrears(
    conn: asyncpg.Connection, unit_id: str, party_ids: Sequence[str], as_of: date
) -> list[dict[str, Any]]:
    """What the parties (a seller, at a sale) owe on the unit at the end of ``as_of``: each of
    their open invoices (payer among ``party_ids``) with unpaid principal and the late fee
    accrued to that day, from the same replay as the statement. Time-barred invoices are
    listed with ``time_barred`` (owed, but paid only voluntarily). Oldest due first."""
    account = (await load_accounts(conn, [unit_id], as_of=as_of)).get(unit_id)
    if account is None:
        raise LookupError(f"unit {unit_id} not found")
    parties = set(party_ids)
    result = []
    for row in sorted(account.invoices, key=lambda r: (r["due_date"], r["invoice_id"])):
        b = account.state.invoices.get(row["invoice_id"])
        if (
            b is None
            or b.payer_party_id not in parties
            or b.status not in ("issued", "partially_paid")
        ):
            continue
        line = _invoice_line(b, row, as_of, account)
        line["payer_party_id"] = b.payer_party_id
        line["outstanding_fen"] = (
            line["principal_outstanding_fen"] + line["late_fee_outstanding_fen"]
        )
        result.append(line)
    return result


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
        "total_fen + discount_lapsed_fen - principal_paid_fen AS left_fen "
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


async def plans(
    conn: asyncpg.Connection,
    unit_id: str,
    as_of: date,
    *,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Each plan with each part paid, due or missed as of the date: the principal paid on its
    invoices by payments made since the plan started (``paid_at``, not the time the replay
    allocated them: credit paid before the plan is no part paid) covers the parts in order.
    Oldest first; a page: ``limit`` plans after the key ``(created_at, plan_id)``."""
    result = []
    for plan in await conn.fetch(
        "SELECT * FROM installment_plans WHERE unit_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, plan_id) > ($2, $3)) "
        "ORDER BY created_at, plan_id LIMIT $4",
        unit_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
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


async def create_plan_audited(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    request: PlanRequest,
) -> dict[str, Any]:
    """``create_plan``, audited; the plan as ``plans`` shows it."""
    plan_id = await create_plan(conn, request)
    plan = next(
        p for p in await plans(conn, request.unit_id, request.at.date()) if p["plan_id"] == plan_id
    )
    await audit.record(
        conn,
        principal,
        "installment_plan.created",
        "installment_plan",
        plan_id,
        community_id=scope["community_id"],
        unit_id=request.unit_id,
        company_id=scope["company_id"],
        after=plan,
        reason=request.reason,
    )
    return plan
