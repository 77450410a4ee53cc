"""Answers of the invoice routes: an invoice with its lines and balance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

InvoiceStatus = Literal["issued", "partially_paid", "paid", "void", "written_off"]
InvoiceKind = Literal["regular", "opening_arrears", "opening_late_fee", "manual"]
Collection = Literal["property", "utilities"]
DECIMAL_TEXT = r"^-?\d+(\.\d+)?$"


_LINE: dict[str, Any] = {
    "line_no": 1,
    "fee_item": "property_fee",
    "description": "物业服务费",
    "quantity": "100.00",
    "unit_price_fen": "250",
    "amount_fen": 25000,
}


class InvoiceLineOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LINE]})

    line_no: int
    fee_item: str
    description: str | None = None
    quantity: str = Field(pattern=DECIMAL_TEXT, description="a decimal as text")
    unit_price_fen: str = Field(pattern=DECIMAL_TEXT, description="fen, a decimal as text")
    amount_fen: int


_EXAMPLE: dict[str, Any] = {
    "invoice_id": "inv-0b7f3c9e",
    "reference": None,
    "community_id": "c-1",
    "building_id": "b-1",
    "unit_id": "u-3a9d",
    "payer_party_id": "p-77",
    "liable_party_id": None,
    "run_id": "run-1a2b3c",
    "kind": "regular",
    "collection": "property",
    "period_start": "2025-01-01",
    "period_end": "2025-01-31",
    "due_date": "2025-01-31",
    "schedule_version": 1,
    "total_fen": 25000,
    "discount_lapsed_fen": 0,
    "principal_paid_fen": 10000,
    "late_fee_paid_fen": 0,
    "late_fee_waived_fen": 0,
    "late_fee_fixed_fen": None,
    "late_fee_assessed_fen": 0,
    "paid_fen": 10000,
    "principal_outstanding_fen": 15000,
    "status": "partially_paid",
    "issued_at": "2025-01-01T00:00:00+08:00",
    "recorded_at": "2025-01-01T00:00:03+08:00",
    "settled_at": None,
    "voided_at": None,
    "voided_recorded_at": None,
    "void_reason": None,
    "credit_note_no": None,
    "written_off_at": None,
    "written_off_recorded_at": None,
    "write_off_reason": None,
    "time_barred": False,
    "limitation_expires_on": None,
    "version": 2,
    "currency": "CNY",
    "lines": [
        {
            "line_no": 1,
            "fee_item": "property_fee",
            "description": "物业服务费",
            "quantity": "100.00",
            "unit_price_fen": "250",
            "amount_fen": 25000,
        }
    ],
}


class InvoiceOut(BaseModel):
    """An invoice with its lines and balance."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    invoice_id: str
    reference: str | None = Field(default=None, description="the client's own identifier")
    community_id: str
    building_id: str
    unit_id: str
    payer_party_id: str
    liable_party_id: str | None = None
    run_id: str | None = None
    kind: InvoiceKind
    collection: Collection
    period_start: date
    period_end: date
    due_date: date
    schedule_version: int | None = None
    total_fen: int
    discount_lapsed_fen: int = Field(description="a lapsed prepayment discount, owed again")
    principal_paid_fen: int
    late_fee_paid_fen: int
    late_fee_waived_fen: int
    late_fee_fixed_fen: int | None = None
    late_fee_assessed_fen: int
    paid_fen: int = Field(description="principal and late fee paid")
    principal_outstanding_fen: int
    status: InvoiceStatus
    issued_at: datetime
    recorded_at: datetime | None = None
    settled_at: datetime | None = None
    voided_at: datetime | None = None
    voided_recorded_at: datetime | None = None
    void_reason: str | None = None
    credit_note_no: str | None = None
    written_off_at: datetime | None = None
    written_off_recorded_at: datetime | None = None
    write_off_reason: str | None = None
    time_barred: bool
    limitation_expires_on: date | None = None
    version: int
    currency: Literal["CNY"] = "CNY"
    lines: list[InvoiceLineOut]


class VoidedInvoiceOut(InvoiceOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_EXAMPLE, "status": "void", "credit_note_no": "CN2025-0000001"}]
        }
    )

    credit_note_no: str


class WaivedInvoiceOut(InvoiceOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_EXAMPLE, "waiver_id": "wvr-2c4d"}]}
    )

    waiver_id: str
