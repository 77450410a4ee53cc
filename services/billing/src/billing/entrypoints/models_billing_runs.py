"""Answers of the readings, one-off charges, billing runs and late-fee assessments."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReadingsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"readings": 12}]})

    readings: int = Field(description="how many readings were recorded")


class ChargeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"charge_id": "chg-8d2e41"}]})

    charge_id: str


class RunItemErrorOut(BaseModel):
    item_no: int
    error: str


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
    state: Literal["running", "done", "failed"] = Field(
        "done",
        description="running: work items still pending (a large run answers at once; GET it "
        "for its progress); done; failed: done, and some items refused (``errors``)",
    )
    items_total: int = Field(1, description="work items of the run (chunks of its units)")
    items_done: int = Field(1, description="work items billed (or refused) so far")
    items_failed: int = Field(0, description="work items refused (their units not billed)")
    errors: list[RunItemErrorOut] = Field(
        default_factory=list, description="why each refused item was refused"
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


CycleName = Literal["monthly", "quarterly", "half_yearly", "yearly"]


class BillingScheduleIn(BaseModel):
    """A community's billing schedule: its runs' cycle and the day of the period they fall due
    (1 = the period's first day; periods are aligned on the calendar year)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"cycle": "quarterly", "run_day": 5, "enabled": True}]},
    )

    cycle: CycleName = "monthly"
    run_day: int = Field(1, ge=1, le=28, description="day of the period the run is due")
    enabled: bool = Field(
        True, description="false: no run is started by the schedule (staff run it by hand)"
    )


class BillingScheduleOut(BillingScheduleIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "community_id": "c-0001",
                    "cycle": "quarterly",
                    "run_day": 5,
                    "enabled": True,
                    "period_start": "2025-04-01",
                    "period_end": "2025-06-30",
                    "due_on": "2025-04-05",
                }
            ]
        }
    )

    community_id: str
    period_start: date = Field(description="the current period (in the community's today)")
    period_end: date
    due_on: date = Field(description="the day the current period's run falls due")


class DueRunsIn(BaseModel):
    #: As of today for staff (each community's today, the default); any day for the service
    #: role (the simulation clock).
    as_of: date | None = None


class StartedRunOut(BillingRunOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "community_id": "c-0001",
                    "run_id": "run-1a2b3c",
                    "created": True,
                    "invoices": 240,
                    "total_fen": 6_000_000,
                    "period_start": "2025-04-01",
                    "period_end": "2025-04-30",
                    "skipped": 0,
                    "cycle": "monthly",
                    "as_of": "2025-04-01",
                }
            ]
        }
    )

    community_id: str
    cycle: CycleName
    as_of: date


class RefusedRunOut(BaseModel):
    community_id: str
    reason: str


class DueRunsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "checked": 3,
                    "started": [
                        {
                            "community_id": "c-0001",
                            "run_id": "run-1a2b3c",
                            "created": True,
                            "invoices": 240,
                            "total_fen": 6_000_000,
                            "period_start": "2025-04-01",
                            "period_end": "2025-04-30",
                            "skipped": 0,
                            "cycle": "monthly",
                            "as_of": "2025-04-01",
                        }
                    ],
                    "present": 1,
                    "not_due": 1,
                    "failed": [],
                }
            ]
        }
    )

    checked: int = Field(description="communities of the caller's scope")
    started: list[StartedRunOut] = Field(description="runs started by this call")
    present: int = Field(description="communities whose due run existed already")
    not_due: int = Field(description="communities with no run due (not yet, disabled, ended)")
    failed: list[RefusedRunOut] = Field(description="due runs billing refused (why)")


class CommunityLateFeesOut(LateFeeAssessmentOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "community_id": "c-0001",
                    "as_of": "2025-03-01",
                    "invoices_assessed": 31,
                    "changed": 4,
                    "late_fee_outstanding_fen": 1520,
                }
            ]
        }
    )

    community_id: str


class LateFeeAssessmentsOut(BaseModel):
    communities: list[CommunityLateFeesOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "communities": [
                        {
                            "community_id": "c-0001",
                            "as_of": "2025-03-01",
                            "invoices_assessed": 31,
                            "changed": 4,
                            "late_fee_outstanding_fen": 1520,
                        }
                    ]
                }
            ]
        }
    )
