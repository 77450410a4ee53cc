"""Answers of the readings, one-off charges, billing runs and late-fee assessments."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class ReadingsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"readings": 12}]})

    readings: int = Field(description="how many readings were recorded")


class ChargeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"charge_id": "chg-8d2e41"}]})

    charge_id: str


class BillingRunOut(BaseModel):
    """201 when the run was created, 200 when it had run already (nothing new)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run-1a2b3c",
                    "created": True,
                    "invoices": 240,
                    "total_fen": 6_000_000,
                    "period_start": "2025-01-01",
                    "period_end": "2025-01-31",
                    "skipped": 0,
                }
            ]
        }
    )

    run_id: str
    created: bool
    invoices: int
    total_fen: int
    period_start: date
    period_end: date
    skipped: int = Field(
        description="unit-month-items of the period billed already (not billed twice)"
    )


class LateFeeAssessmentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-03-01",
                    "invoices_assessed": 31,
                    "changed": 4,
                    "late_fee_outstanding_fen": 1520,
                }
            ]
        }
    )

    as_of: date
    invoices_assessed: int
    changed: int
    late_fee_outstanding_fen: int
