"""Answers of a household's statement and installment plans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.entrypoints.models_invoices import (
    DECIMAL_TEXT,
    Collection,
    InvoiceKind,
    InvoiceStatus,
)


class LateFeeTermsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "daily_rate": "0.0003",
                    "annual_cap": "0.05",
                    "effective_daily_rate": "0.0001369863",
                    "capped": True,
                }
            ]
        }
    )

    daily_rate: str | None = Field(description="the contract's daily rate as written")
    annual_cap: str
    effective_daily_rate: str | None = Field(description="the rate it accrues at (capped)")
    capped: bool


class StatementLineOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "invoice_id": "inv-0b7f3c9e",
                    "line_no": 1,
                    "fee_item": "property_fee",
                    "description": "物业服务费",
                    "quantity": "100.00",
                    "unit_price_fen": "250",
                    "amount_fen": 25000,
                }
            ]
        }
    )

    invoice_id: str
    line_no: int
    fee_item: str
    description: str | None = None
    quantity: str = Field(pattern=DECIMAL_TEXT)
    unit_price_fen: str = Field(pattern=DECIMAL_TEXT)
    amount_fen: int


class StatementInvoiceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "invoice_id": "inv-0b7f3c9e",
                    "kind": "regular",
                    "collection": "property",
                    "period_start": "2025-01-01",
                    "due_date": "2025-01-31",
                    "interest_from": "2025-02-01",
                    "status": "partially_paid",
                    "total_fen": 25000,
                    "discount_lapsed_fen": 0,
                    "principal_fen": 25000,
                    "principal_paid_fen": 10000,
                    "principal_outstanding_fen": 15000,
                    "late_fee_fen": 45,
                    "late_fee_paid_fen": 0,
                    "late_fee_waived_fen": 0,
                    "late_fee_outstanding_fen": 45,
                    "late_fee_payable_fen": 44,
                    "time_barred": False,
                    "limitation_expires_on": None,
                    "lines": [],
                }
            ]
        }
    )

    invoice_id: str
    kind: InvoiceKind
    collection: Collection
    period_start: date
    due_date: date
    interest_from: date
    status: InvoiceStatus
    total_fen: int
    discount_lapsed_fen: int
    principal_fen: int
    principal_paid_fen: int
    principal_outstanding_fen: int
    late_fee_fen: int = Field(description="accrued to the end of as_of")
    late_fee_paid_fen: int
    late_fee_waived_fen: int
    late_fee_outstanding_fen: int
    late_fee_payable_fen: int = Field(
        description="the late fee owed when the principal is paid in full on as_of: a payment "
        "on day D stops interest on the paid part from day D, so as_of's own day is not "
        "charged (what the counter collects today; late_fee_outstanding_fen counts the day)"
    )
    time_barred: bool
    limitation_expires_on: date | None = None
    lines: list[StatementLineOut]


class StatementPaymentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_id": "pay-77",
                    "amount_fen": 10000,
                    "channel": "wechat",
                    "paid_at": "2025-01-15T10:00:00+08:00",
                    "receipt_no": "R2025-0000012",
                }
            ]
        }
    )

    payment_id: str
    amount_fen: int
    channel: str
    paid_at: datetime
    receipt_no: str | None = None


class StatementRefundOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refund_id": "rfd-3",
                    "payment_id": "pay-77",
                    "amount_fen": 500,
                    "reason": "多缴",
                    "refunded_at": "2025-01-20T10:00:00+08:00",
                }
            ]
        }
    )

    refund_id: str
    payment_id: str
    amount_fen: int
    reason: str | None = None
    refunded_at: datetime


class AllocationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_id": "pay-77",
                    "invoice_id": "inv-0b7f3c9e",
                    "component": "principal",
                    "amount_fen": 10000,
                    "at": "2025-01-15T10:00:00+08:00",
                    "from_credit": False,
                }
            ]
        }
    )

    payment_id: str
    invoice_id: str
    component: Literal["principal", "late_fee"]
    amount_fen: int
    at: datetime
    from_credit: bool = Field(description="a use of prepaid credit")


class StatementOut(BaseModel):
    """The account as it stood at the end of ``as_of`` (community time)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_id": "u-3a9d",
                    "as_of": "2025-02-15",
                    "late_fee_terms": {
                        "daily_rate": "0.0003",
                        "annual_cap": "0.05",
                        "effective_daily_rate": "0.0001369863",
                        "capped": True,
                    },
                    "invoices": [],
                    "payments": [],
                    "refunds": [],
                    "allocations": [],
                    "credit_fen": 0,
                    "frozen_credit_fen": 0,
                    "principal_outstanding_fen": 0,
                    "late_fee_outstanding_fen": 0,
                    "late_fee_payable_fen": 0,
                    "currency": "CNY",
                }
            ]
        }
    )

    unit_id: str
    as_of: date
    late_fee_terms: LateFeeTermsOut
    invoices: list[StatementInvoiceOut]
    payments: list[StatementPaymentOut]
    refunds: list[StatementRefundOut]
    allocations: list[AllocationOut]
    credit_fen: int
    frozen_credit_fen: int
    principal_outstanding_fen: int
    late_fee_outstanding_fen: int
    late_fee_payable_fen: int = Field(
        description="the invoices' late fees owed when their principal is paid in full on as_of"
    )
    currency: Literal["CNY"] = "CNY"


class PlanPartOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"part_no": 1, "due_date": "2025-03-15", "amount_fen": 10000, "status": "paid"}
            ]
        }
    )

    part_no: int
    due_date: date
    amount_fen: int
    status: Literal["paid", "due", "missed"]


class InstallmentPlanOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "plan-9e1f",
                    "invoice_ids": ["inv-0b7f3c9e"],
                    "total_fen": 30000,
                    "created_at": "2025-03-01T10:00:00+08:00",
                    "reason": "家庭困难",
                    "paid_fen": 10000,
                    "missed": False,
                    "parts": [
                        {
                            "part_no": 1,
                            "due_date": "2025-03-15",
                            "amount_fen": 10000,
                            "status": "paid",
                        },
                        {
                            "part_no": 2,
                            "due_date": "2025-04-15",
                            "amount_fen": 10000,
                            "status": "due",
                        },
                        {
                            "part_no": 3,
                            "due_date": "2025-05-15",
                            "amount_fen": 10000,
                            "status": "due",
                        },
                    ],
                }
            ]
        }
    )

    plan_id: str
    invoice_ids: list[str]
    total_fen: int
    created_at: datetime
    reason: str
    paid_fen: int = Field(description="principal paid on its invoices since the plan started")
    missed: bool
    parts: list[PlanPartOut]


class EInvoiceRequestOut(BaseModel):
    """An e-invoice request; title, tax id and e-mail are masked for roles that do not need
    them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "einv-4b1a",
                    "payment_id": "pay-77",
                    "unit_id": "u-3a9d",
                    "title": "张三",
                    "tax_id": None,
                    "email": "z***@example.com",
                    "status": "requested",
                    "note": None,
                    "requested_at": "2025-03-01T10:00:00+08:00",
                    "updated_at": "2025-03-01T10:00:00+08:00",
                    "recorded_at": "2025-03-01T10:00:00+08:00",
                }
            ]
        }
    )

    request_id: str
    payment_id: str
    unit_id: str
    title: str | None = None
    tax_id: str | None = None
    email: str | None = None
    status: Literal["requested", "issued", "failed"]
    note: str | None = None
    requested_at: datetime
    updated_at: datetime
    recorded_at: datetime | None = None
