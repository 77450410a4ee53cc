"""Billing's API for fee schedules, readings, runs, invoices and their adjustments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response

from billing.domain.calendar import month_start
from billing.domain.schedule import FeeItem
from billing.entrypoints import models
from billing.entrypoints.errors import domain_errors
from billing.service_layer import payments
from billing.service_layer.ids import stable_id
from billing.service_layer.invoices import ManualInvoice, ManualLine, issue_manual_invoice
from billing.service_layer.late_fees import assess_late_fees
from billing.service_layer.runs import RunRequest, run_billing
from billing.service_layer.schedules import load_history, publish_schedule
from propfee.http import Pool

router = APIRouter(tags=["billing"])


def _now(at: datetime | None) -> datetime:
    return at or datetime.now(UTC)


@router.post("/communities/{community_id}/fee-schedules", status_code=201)
async def publish(community_id: str, body: models.ScheduleIn, pool: Pool) -> dict[str, Any]:
    """Publish the next version of the community's schedule (明码标价); effective no earlier
    than 30 days after publication, with its approval reference."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(
                "SELECT true FROM communities WHERE community_id = $1", community_id
            ):
                raise LookupError(f"community {community_id} not found")
            schedule = await publish_schedule(
                conn,
                community_id,
                published_on=body.published_on,
                effective_from=body.effective_from,
                approval_ref=body.approval_ref,
                items=tuple(FeeItem(**i.model_dump()) for i in body.items),
                pricing_type=body.pricing_type,
                service_level=body.service_level,
                legal_basis=body.legal_basis,
                complaint_line=body.complaint_line,
            )
    return {"schedule_id": schedule.schedule_id, "version": schedule.version}


@router.get("/communities/{community_id}/fee-schedules")
async def schedules(community_id: str, pool: Pool) -> list[dict[str, Any]]:
    """Every published version, oldest first (the history is kept)."""
    async with pool.acquire() as conn:
        history = await load_history(conn, community_id)
    return [
        {
            "schedule_id": s.schedule_id,
            "version": s.version,
            "published_on": s.published_on,
            "effective_from": s.effective_from,
            "approval_ref": s.approval_ref,
            "pricing_type": s.pricing_type,
            "service_level": s.service_level,
            "legal_basis": s.legal_basis,
            "complaint_line": s.complaint_line,
            "items": [
                {
                    "code": i.code,
                    "name": i.name,
                    "kind": i.kind,
                    "unit_type": i.unit_type,
                    "rate_fen": str(i.rate_fen),
                    "pass_through": i.pass_through,
                }
                for i in s.items
            ],
        }
        for s in history.versions
    ]


@router.post("/communities/{community_id}/meter-readings", status_code=201)
async def readings(community_id: str, body: list[models.ReadingIn], pool: Pool) -> dict[str, int]:
    """Meter readings for pass-through utilities; a reading below the previous one is refused."""
    for n, r in enumerate(body):
        if r.current < r.previous:
            raise HTTPException(
                422,
                f"[{n}] unit {r.unit_id} {r.item_code}: current reading "
                f"{r.current} is below the previous {r.previous}",
            )
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval(
            "SELECT count(*) FROM units WHERE community_id = $1 AND unit_id = ANY($2::text[])",
            community_id,
            list({r.unit_id for r in body}),
        )
        if found != len({r.unit_id for r in body}):
            raise HTTPException(422, "unit_id: some units are not in this community")
        await conn.executemany(
            "INSERT INTO meter_readings (unit_id, item_code, period_month, previous, current) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_id, item_code, period_month) "
            "DO UPDATE SET previous = EXCLUDED.previous, current = EXCLUDED.current",
            [
                (r.unit_id, r.item_code, month_start(r.period_month), r.previous, r.current)
                for r in body
            ],
        )
    return {"readings": len(body)}


@router.post("/communities/{community_id}/shared-meter-readings", status_code=201)
async def shared_readings(
    community_id: str, body: list[models.SharedReadingIn], pool: Pool
) -> dict[str, int]:
    """A shared meter's use (公摊), split over the units in scope by floor area when billed."""
    await pool.executemany(
        "INSERT INTO shared_meter_readings (community_id, building_id, item_code, period_month, "
        "quantity) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_id, building_id, item_code, "
        "period_month) DO UPDATE SET quantity = EXCLUDED.quantity",
        [
            (community_id, r.building_id, r.item_code, month_start(r.period_month), r.quantity)
            for r in body
        ],
    )
    return {"readings": len(body)}


@router.post("/units/{unit_id}/charges", status_code=201)
async def one_off(unit_id: str, body: models.ChargeIn, pool: Pool) -> dict[str, Any]:
    """A one-off special service, billed in the run for its month."""
    charge_id = stable_id("chg", unit_id, body.item_code, body.period_month, body.description)
    with domain_errors():
        result = await pool.execute(
            "INSERT INTO one_off_charges (charge_id, unit_id, item_code, quantity, description, "
            "period_month) SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS "
            "(SELECT 1 FROM units WHERE unit_id = $2) ON CONFLICT DO NOTHING",
            charge_id,
            unit_id,
            body.item_code,
            body.quantity,
            body.description,
            month_start(body.period_month),
        )
        if result.endswith(" 0") and not await pool.fetchval(
            "SELECT true FROM one_off_charges WHERE charge_id = $1", charge_id
        ):
            raise LookupError(f"unit {unit_id} not found")
    return {"charge_id": charge_id}


@router.post("/communities/{community_id}/billing-runs", status_code=201)
async def billing_run(
    community_id: str, body: models.RunIn, pool: Pool, response: Response
) -> dict[str, Any]:
    """Bill every unit for one period as of a date; the same run again creates nothing."""
    with domain_errors():
        summary = await run_billing(
            pool, RunRequest(community_id, body.period_start, body.cycle, body.as_of)
        )
    if not summary.created:
        response.status_code = 200
    return summary.__dict__


@router.post("/communities/{community_id}/late-fee-assessments")
async def late_fee_assessment(
    community_id: str, body: models.AssessIn, pool: Pool
) -> dict[str, Any]:
    """Publish billing.late-fee-assessed for every overdue invoice whose accrued late fee
    changed since the last assessment, as of the date (only where the contract sets a rate)."""
    with domain_errors():
        result = await assess_late_fees(pool, community_id, body.as_of)
    return result.__dict__


@router.post("/invoices", status_code=201)
async def issue_invoice(body: models.InvoiceIn, pool: Pool, response: Response) -> dict[str, Any]:
    """One invoice for published items (a special service, a correction)."""
    new = ManualInvoice(
        unit_id=body.unit_id,
        period_start=body.period_start,
        period_end=body.period_end,
        due_date=body.due_date,
        lines=tuple(
            ManualLine(line.fee_item, line.quantity, line.description) for line in body.lines
        ),
        issued_at=_now(body.issued_at),
        invoice_id=body.invoice_id,
    )
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            invoice_id, created = await issue_manual_invoice(conn, new)
    if not created:
        response.status_code = 200
    return await get_invoice(invoice_id, pool)


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: str, pool: Pool, as_of: date | None = None) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT i.*, coalesce((SELECT json_agg(json_build_object('line_no', l.line_no, "
        "'fee_item', l.fee_item, 'description', l.description, 'quantity', l.quantity::text, "
        "'unit_price_fen', l.unit_price_fen::text, 'amount_fen', l.amount_fen) ORDER BY l.line_no) "
        "FROM invoice_lines l WHERE l.invoice_id = i.invoice_id), '[]') AS lines "
        "FROM invoices i WHERE invoice_id = $1",
        invoice_id,
    )
    if row is None:
        raise HTTPException(404, f"invoice {invoice_id} not found")
    result = dict(row)
    result["paid_fen"] = row["principal_paid_fen"] + row["late_fee_paid_fen"]
    result["principal_outstanding_fen"] = (
        0
        if row["status"] in ("void", "written_off")
        else row["total_fen"] - row["principal_paid_fen"]
    )
    result["currency"] = "CNY"
    return result


@router.post("/invoices/{invoice_id}/void")
async def void(invoice_id: str, body: models.VoidIn, pool: Pool) -> dict[str, Any]:
    """Void with a credit note; what was paid on it becomes credit on the account."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            note = await payments.void_invoice(conn, invoice_id, body.reason, _now(body.at))
    return {**await get_invoice(invoice_id, pool), "credit_note_no": note}


@router.post("/invoices/{invoice_id}/late-fee-waivers", status_code=201)
async def waive(invoice_id: str, body: models.WaiverIn, pool: Pool) -> dict[str, Any]:
    """Waive a late fee (fully or partly) with a reason and an approver; audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            waiver_id = await payments.waive_late_fee(
                conn, invoice_id, body.amount_fen, body.reason, body.approved_by, _now(body.at)
            )
    return {**await get_invoice(invoice_id, pool), "waiver_id": waiver_id}


@router.post("/invoices/{invoice_id}/write-off")
async def write_off(invoice_id: str, body: models.WriteOffIn, pool: Pool) -> dict[str, Any]:
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            await payments.write_off(conn, invoice_id, body.reason, body.approved_by, _now(body.at))
    return await get_invoice(invoice_id, pool)
