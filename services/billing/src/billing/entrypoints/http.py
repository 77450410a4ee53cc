"""Billing's HTTP API (walking skeleton: units and invoices)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, Field

from billing.domain.invoices import InvalidLine, LineInput
from billing.service_layer import handlers
from propfee.http import Pool
from propfee.money import NonNegativeFen

router = APIRouter(tags=["billing"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class UnitIn(BaseModel):
    unit_id: Id | None = None
    community_id: Id
    building_id: Id
    room_label: Annotated[str, Field(min_length=1, max_length=64)]
    floor_area_m2: Annotated[str, Field(pattern=r"^\d{1,6}(\.\d{1,2})?$")]
    payer_party_id: Id


class LineIn(BaseModel):
    fee_item: Annotated[str, Field(min_length=1, max_length=64)]
    description: Annotated[str, Field(min_length=1, max_length=200)]
    quantity: Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,4})?$")]
    unit_price_fen: NonNegativeFen


class InvoiceIn(BaseModel):
    invoice_id: Id | None = None
    unit_id: Id
    period_start: date
    period_end: date
    due_date: date
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100)]
    issued_at: AwareDatetime | None = Field(
        default=None, description="As-of instant of issue; defaults to now"
    )


@router.post("/units", status_code=201)
async def create_unit(body: UnitIn, pool: Pool, response: Response) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        try:
            unit_id, created = await handlers.create_unit(
                conn, handlers.NewUnit(**body.model_dump())
            )
        except handlers.Conflict as exc:
            raise HTTPException(409, str(exc)) from exc
    if not created:
        response.status_code = 200
    return {"unit_id": unit_id, "created": created}


@router.get("/units/{unit_id}")
async def get_unit(unit_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT unit_id, community_id, building_id, room_label, "
        "floor_area_m2::text AS floor_area_m2, "
        "payer_party_id, (SELECT balance_fen FROM credit_balances c WHERE c.unit_id = u.unit_id) "
        "AS credit_fen FROM units u WHERE unit_id = $1",
        unit_id,
    )
    if row is None:
        raise HTTPException(404, f"unit {unit_id} not found")
    return {**dict(row), "credit_fen": row["credit_fen"] or 0}


@router.post("/invoices", status_code=201)
async def issue_invoice(body: InvoiceIn, pool: Pool, response: Response) -> dict[str, Any]:
    new = handlers.NewInvoice(
        invoice_id=body.invoice_id,
        unit_id=body.unit_id,
        period_start=body.period_start,
        period_end=body.period_end,
        due_date=body.due_date,
        lines=[LineInput(**line.model_dump()) for line in body.lines],
        issued_at=body.issued_at or datetime.now(UTC),
    )
    async with pool.acquire() as conn, conn.transaction():
        try:
            invoice_id, created = await handlers.issue_invoice(conn, new)
        except handlers.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except (handlers.Conflict, InvalidLine) as exc:
            raise HTTPException(422, str(exc)) from exc
    if not created:
        response.status_code = 200
    return await get_invoice(invoice_id, pool)


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: str, pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT invoice_id, unit_id, community_id, building_id, payer_party_id, period_start, "
        "period_end, due_date, lines, total_fen, paid_fen, status, issued_at, settled_at "
        "FROM invoices WHERE invoice_id = $1",
        invoice_id,
    )
    if row is None:
        raise HTTPException(404, f"invoice {invoice_id} not found")
    return {**dict(row), "currency": "CNY"}
