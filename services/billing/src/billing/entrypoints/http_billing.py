"""Billing's API for fee schedules, readings, runs, invoices and their adjustments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Response

from billing.domain.calendar import month_start
from billing.domain.schedule import FeeItem, recording_date
from billing.entrypoints import models, security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.security import (
    Adjuster,
    BillingWriter,
    Reader,
    ReadingsWriter,
    RunStarter,
    ScheduleImporter,
    ScheduleWriter,
)
from billing.service_layer import payments
from billing.service_layer.billed_months import lock_billing
from billing.service_layer.ids import stable_id
from billing.service_layer.invoices import ManualInvoice, ManualLine, issue_manual_invoice
from billing.service_layer.late_fees import assess_late_fees
from billing.service_layer.runs import RunRequest, RunSummary, run_billing
from billing.service_layer.schedules import (
    VersionIn,
    import_schedules,
    load_history,
    publish_schedule,
)
from propfee import audit
from propfee.auth import Principal, not_found, refused_ids
from propfee.business_time import acts_on_own_clock, as_of_today, business_instant, utc_now
from propfee.http import Pool

router = APIRouter(tags=["billing"])


async def _instant(
    conn: Any, principal: Principal, company_id: str, requested: datetime | None, field: str
) -> datetime:
    """The business instant of a staff record: now, or back-dated within the company's
    window (403 otherwise); the service role chooses any."""
    return business_instant(
        principal,
        requested,
        utc_now(),
        field=field,
        backdate_days=await security.backdate_days(conn, company_id),
    )


def _version(body: models.ScheduleVersionIn, published_on: date) -> VersionIn:
    return VersionIn(
        published_on=published_on,
        effective_from=body.effective_from,
        approval_ref=body.approval_ref,
        items=tuple(FeeItem(**i.model_dump()) for i in body.items),
        pricing_type=body.pricing_type,
        service_level=body.service_level,
        legal_basis=body.legal_basis,
        complaint_line=body.complaint_line,
    )


async def _today(conn: Any, community_id: str) -> date:
    """Today in the community's time zone: the day a record made now is recorded."""
    zone = ZoneInfo(await security.time_zone(conn, community_id))
    return utc_now().astimezone(zone).date()


@router.post("/communities/{community_id}/fee-schedules", status_code=201)
async def publish(
    community_id: str, body: models.ScheduleIn, pool: Pool, principal: ScheduleWriter
) -> dict[str, Any]:
    """Publish the next version of the community's schedule (明码标价), recorded today in the
    community's time zone (``published_on`` omitted or today; another day is 422, whoever
    asks: the 30 days' notice runs from the day of recording); effective no earlier than 30
    days later, with its approval reference. The service role on the simulation clock records
    as of the day it sends. The schedules a community had before Propfee: ``.../import``.
    Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, community_id)
            published_on = recording_date(
                body.published_on,
                await _today(conn, community_id),
                own_clock=acts_on_own_clock(principal),
            )
            new = _version(body, published_on)
            schedule = await publish_schedule(conn, community_id, **new.__dict__)
            await audit.record(
                conn,
                principal,
                "fee_schedule.published",
                "fee_schedule",
                schedule.schedule_id,
                community_id=community_id,
                company_id=company_id,
                after={
                    "version": schedule.version,
                    **body.model_dump(),
                    "published_on": published_on,
                },
                reason=body.approval_ref,
            )
    return {"schedule_id": schedule.schedule_id, "version": schedule.version}


@router.post("/communities/{community_id}/fee-schedules/import", status_code=201)
async def import_history(
    community_id: str, body: models.ScheduleImportIn, pool: Pool, principal: ScheduleImporter
) -> dict[str, Any]:
    """Import the schedules the community had before it came to Propfee, oldest first, with
    their original publication dates (each valid after the one before, none after today):
    once per community and only before any version is recorded in Propfee (409 otherwise), by
    a company-level role (a company admin for every community, or the service role: 403
    otherwise), with the import's approval reference. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, community_id)
            if not principal.company_level:
                raise HTTPException(
                    403,
                    "the schedules before Propfee are imported by a company admin for every "
                    'community (communities "*") or the service role',
                )
            schedules = await import_schedules(
                conn,
                community_id,
                [_version(v, v.published_on) for v in body.versions],
                approval_ref=body.approval_ref,
                imported_by=principal.subject,
                today=await _today(conn, community_id),
            )
            await audit.record(
                conn,
                principal,
                "fee_schedule.imported",
                "fee_schedule_import",
                community_id,
                community_id=community_id,
                company_id=company_id,
                after={
                    "versions": [
                        {"schedule_id": s.schedule_id, "version": s.version, **v.model_dump()}
                        for s, v in zip(schedules, body.versions, strict=True)
                    ]
                },
                reason=body.approval_ref,
            )
    return {
        "imported": [{"schedule_id": s.schedule_id, "version": s.version} for s in schedules],
        "approval_ref": body.approval_ref,
    }


@router.get("/communities/{community_id}/fee-schedules")
async def schedules(community_id: str, pool: Pool, principal: Reader) -> list[dict[str, Any]]:
    """Every published version, oldest first (the history is kept)."""
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
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
                    "supplier_tariff_fen": None
                    if i.supplier_tariff_fen is None
                    else str(i.supplier_tariff_fen),
                    "tariff_source": i.tariff_source or None,
                }
                for i in s.items
            ],
        }
        for s in history.versions
    ]


@router.post("/communities/{community_id}/meter-readings", status_code=201)
async def readings(
    community_id: str, body: list[models.ReadingIn], pool: Pool, principal: ReadingsWriter
) -> dict[str, int]:
    """Meter readings for pass-through utilities; a reading below the previous one is refused."""
    for n, r in enumerate(body):
        if r.current < r.previous:
            raise HTTPException(
                422,
                f"[{n}] unit {r.unit_id} {r.item_code}: current reading "
                f"{r.current} is below the previous {r.previous}",
            )
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        await lock_billing(conn, community_id, shared=True)  # not while a run bills them
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
        await _audit_readings(conn, principal, community_id, company_id, "meter", body)
    return {"readings": len(body)}


async def _audit_readings(
    conn: Any,
    principal: Principal,
    community_id: str,
    company_id: str,
    kind: str,
    body: list[models.ReadingIn] | list[models.SharedReadingIn],
) -> None:
    if body:
        await audit.record(
            conn,
            principal,
            f"{kind}_readings.recorded",
            f"{kind}_readings",
            f"{community_id}:{min(r.period_month for r in body)}",
            community_id=community_id,
            company_id=company_id,
            after=[r.model_dump() for r in body],
        )


@router.post("/communities/{community_id}/shared-meter-readings", status_code=201)
async def shared_readings(
    community_id: str, body: list[models.SharedReadingIn], pool: Pool, principal: ReadingsWriter
) -> dict[str, int]:
    """A shared meter's use (公摊), split over the units in scope by floor area when billed."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        await lock_billing(conn, community_id, shared=True)  # not while a run bills them
        await _write_shared(conn, community_id, body)
        await _audit_readings(conn, principal, community_id, company_id, "shared_meter", body)
    return {"readings": len(body)}


async def _write_shared(conn: Any, community_id: str, body: list[models.SharedReadingIn]) -> None:
    await conn.executemany(
        "INSERT INTO shared_meter_readings (community_id, building_id, item_code, period_month, "
        "quantity) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_id, building_id, item_code, "
        "period_month) DO UPDATE SET quantity = EXCLUDED.quantity",
        [
            (community_id, r.building_id, r.item_code, month_start(r.period_month), r.quantity)
            for r in body
        ],
    )


@router.post("/units/{unit_id}/charges", status_code=201)
async def one_off(
    unit_id: str, body: models.ChargeIn, pool: Pool, principal: BillingWriter
) -> dict[str, Any]:
    """A one-off special service, billed in the run for its month. Audited."""
    charge_id = stable_id("chg", unit_id, body.item_code, body.period_month, body.description)
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.unit(conn, principal, unit_id)
        await lock_billing(conn, scope["community_id"], shared=True)
        inserted = await conn.fetchval(
            "INSERT INTO one_off_charges (charge_id, unit_id, item_code, quantity, description, "
            "period_month) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
            charge_id,
            unit_id,
            body.item_code,
            body.quantity,
            body.description,
            month_start(body.period_month),
        )
        if inserted:
            await audit.record(
                conn,
                principal,
                "charge.added",
                "one_off_charge",
                charge_id,
                community_id=scope["community_id"],
                unit_id=unit_id,
                company_id=scope["company_id"],
                after=body.model_dump(),
                reason=body.description or None,
            )
    return {"charge_id": charge_id}


@router.post("/communities/{community_id}/billing-runs", status_code=201)
async def billing_run(
    community_id: str, body: models.RunIn, pool: Pool, response: Response, principal: RunStarter
) -> dict[str, Any]:
    """Bill every unit for one period as of a date; the same run again creates nothing.
    Staff run as of today (``as_of`` omitted or today: 403 otherwise); the service role as of
    any day (the simulation clock). The period is the caller's choice, within the community's
    advance-collection cap counted from the day of recording (422 past it or past the contract's
    end). A unit-month already billed for a fee item (a monthly run before a quarterly one, a
    manual invoice) is skipped: ``skipped`` counts those unit-month-items."""
    company_id = await security.community(pool, principal, community_id)
    as_of = as_of_today(
        principal,
        body.as_of,
        utc_now(),
        field="as_of",
        time_zone=await security.time_zone(pool, community_id),
    )
    # The advance-collection cap counts from the day of recording: the community's today,
    # or the simulation clock's day for the service role.
    recorded_on = None if acts_on_own_clock(principal) else await _today(pool, community_id)

    async def audited(conn: Any, summary: RunSummary) -> None:
        await audit.record(
            conn,
            principal,
            "billing_run.created",
            "billing_run",
            summary.run_id,
            community_id=community_id,
            company_id=company_id,
            after={
                **body.model_dump(),
                "as_of": as_of,
                "invoices": summary.invoices,
                "total_fen": summary.total_fen,
            },
        )

    with domain_errors():
        summary = await run_billing(
            pool,
            RunRequest(community_id, body.period_start, body.cycle, as_of, recorded_on),
            on_created=audited,
        )
    if not summary.created:
        response.status_code = 200
    return summary.__dict__


@router.post("/communities/{community_id}/late-fee-assessments")
async def late_fee_assessment(
    community_id: str, body: models.AssessIn, pool: Pool, principal: RunStarter
) -> dict[str, Any]:
    """Publish billing.late-fee-assessed for every overdue invoice whose accrued late fee
    changed since the last assessment, as of the date (only where the contract sets a rate).
    Staff assess as of today (``as_of`` omitted or today: 403 otherwise); the service role as
    of any day. Audited."""
    company_id = await security.community(pool, principal, community_id)
    as_of = as_of_today(
        principal,
        body.as_of,
        utc_now(),
        field="as_of",
        time_zone=await security.time_zone(pool, community_id),
    )
    with domain_errors():
        result = await assess_late_fees(pool, community_id, as_of)
    if result.changed:
        async with pool.acquire() as conn:
            await audit.record(
                conn,
                principal,
                "late_fees.assessed",
                "late_fee_assessment",
                f"{community_id}:{as_of}",
                community_id=community_id,
                company_id=company_id,
                after={"as_of": as_of, **result.__dict__},
            )
    return {"as_of": as_of, **result.__dict__}


@router.post("/invoices", status_code=201, openapi_extra=refused_ids("invoice_id"))
async def issue_invoice(
    body: models.InvoiceIn, pool: Pool, response: Response, principal: BillingWriter
) -> dict[str, Any]:
    """One invoice for published items (a special service, a correction). Its id is the
    server's (random); ``reference``, the client's own identifier, is unique within the
    community, and the same reference again for the same unit finds the invoice (200).
    ``issued_at``: now, or back-dated within the company's window (staff). Refused: a period
    ending past the advance-collection cap (counted from today) or the contract's end (422); a
    month of an area, fixed or parking item the unit is billed for already (409)."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, body.unit_id)
            issued_at = await _instant(
                conn, principal, scope["company_id"], body.issued_at, "issued_at"
            )
            new = ManualInvoice(
                unit_id=body.unit_id,
                period_start=body.period_start,
                period_end=body.period_end,
                due_date=body.due_date,
                lines=tuple(
                    ManualLine(line.fee_item, line.quantity, line.description)
                    for line in body.lines
                ),
                issued_at=issued_at,
                reference=body.reference,
                # The advance cap counts from the community's today, whatever issued_at says.
                recorded_on=await _today(conn, scope["community_id"]),
            )
            invoice_id, created = await issue_manual_invoice(conn, new)
            if created:
                await audit.record(
                    conn,
                    principal,
                    "invoice.issued",
                    "invoice",
                    invoice_id,
                    community_id=scope["community_id"],
                    unit_id=body.unit_id,
                    company_id=scope["company_id"],
                    after={**body.model_dump(), "issued_at": new.issued_at},
                )
    if not created:
        response.status_code = 200
    return await _invoice(invoice_id, pool)


@router.get("/invoices/{invoice_id}")
async def get_invoice(
    invoice_id: str, pool: Pool, principal: Reader, as_of: date | None = None
) -> dict[str, Any]:
    """An invoice with its lines and balance."""
    await security.invoice(pool, principal, invoice_id)
    return await _invoice(invoice_id, pool)


async def _invoice(invoice_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT i.*, coalesce((SELECT json_agg(json_build_object('line_no', l.line_no, "
        "'fee_item', l.fee_item, 'description', l.description, 'quantity', l.quantity::text, "
        "'unit_price_fen', l.unit_price_fen::text, 'amount_fen', l.amount_fen) ORDER BY l.line_no) "
        "FROM invoice_lines l WHERE l.invoice_id = i.invoice_id), '[]') AS lines "
        "FROM invoices i WHERE invoice_id = $1",
        invoice_id,
    )
    if row is None:
        raise not_found(f"invoice {invoice_id}")
    result = dict(row)
    result["paid_fen"] = row["principal_paid_fen"] + row["late_fee_paid_fen"]
    result["principal_outstanding_fen"] = (
        0
        if row["status"] in ("void", "written_off")
        # A lapsed prepayment discount is owed again (issue 17 rule 11).
        else row["total_fen"] + row["discount_lapsed_fen"] - row["principal_paid_fen"]
    )
    result["currency"] = "CNY"
    return result


@router.post("/invoices/{invoice_id}/void")
async def void(
    invoice_id: str, body: models.VoidIn, pool: Pool, principal: Adjuster
) -> dict[str, Any]:
    """Void with a credit note; what was paid on it becomes credit on the account. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            before = await _adjusting(conn, principal, invoice_id)
            at = await _instant(conn, principal, before["company_id"], body.at, "at")
            note = await payments.void_invoice(conn, invoice_id, body.reason, at)
            await _audit_adjustment(
                conn, principal, "invoice.voided", before, body.reason, credit_note_no=note, at=at
            )
    return {**await _invoice(invoice_id, pool), "credit_note_no": note}


BALANCE_COLUMNS = (
    "invoice_id, unit_id, community_id, status, total_fen, principal_paid_fen, "
    "late_fee_paid_fen, late_fee_waived_fen"
)


async def _balance(conn: Any, invoice_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {BALANCE_COLUMNS} FROM invoices WHERE invoice_id = $1", invoice_id
    )
    return dict(row) if row else {}


async def _adjusting(conn: Any, principal: Principal, invoice_id: str) -> dict[str, Any]:
    """Scope the invoice (404) and take its balance before the adjustment."""
    scope = await security.invoice(conn, principal, invoice_id)
    return {**await _balance(conn, invoice_id), "company_id": scope["company_id"]}


async def _audit_adjustment(
    conn: Any,
    principal: Principal,
    action: str,
    before: dict[str, Any],
    reason: str,
    **details: Any,
) -> None:
    company_id = before.pop("company_id")
    after = await _balance(conn, before["invoice_id"])
    await audit.record(
        conn,
        principal,
        action,
        "invoice",
        before["invoice_id"],
        community_id=before["community_id"],
        unit_id=before["unit_id"],
        company_id=company_id,
        before=before,
        after={**after, **details},
        reason=reason,
    )


@router.post("/invoices/{invoice_id}/late-fee-waivers", status_code=201)
async def waive(
    invoice_id: str, body: models.WaiverIn, pool: Pool, principal: Adjuster
) -> dict[str, Any]:
    """Waive a late fee (fully or partly) with a reason and an approver; audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            before = await _adjusting(conn, principal, invoice_id)
            at = await _instant(conn, principal, before["company_id"], body.at, "at")
            waiver_id = await payments.waive_late_fee(
                conn, invoice_id, body.amount_fen, body.reason, body.approved_by, at
            )
            await _audit_adjustment(
                conn,
                principal,
                "late_fee.waived",
                before,
                body.reason,
                waiver_id=waiver_id,
                amount_fen=body.amount_fen,
                approved_by=body.approved_by,
                at=at,
            )
    return {**await _invoice(invoice_id, pool), "waiver_id": waiver_id}


@router.post("/invoices/{invoice_id}/write-off")
async def write_off(
    invoice_id: str, body: models.WriteOffIn, pool: Pool, principal: Adjuster
) -> dict[str, Any]:
    """Write the invoice off with a reason and an approver; audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            before = await _adjusting(conn, principal, invoice_id)
            at = await _instant(conn, principal, before["company_id"], body.at, "at")
            await payments.write_off(conn, invoice_id, body.reason, body.approved_by, at)
            await _audit_adjustment(
                conn,
                principal,
                "invoice.written_off",
                before,
                body.reason,
                approved_by=body.approved_by,
                at=at,
            )
    return await _invoice(invoice_id, pool)
