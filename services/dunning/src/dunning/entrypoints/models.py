"""Dunning's HTTP answers, typed: money in integer fen (``*_fen``), dates as ``date``,
instants as ``datetime``, states as literals. Each model carries an example."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dunning.adapters.sweep_sql import DEFAULT_LATE_FEE_DE_MINIMIS_FEN
from dunning.domain.policy import Policy
from propfee.aging import AgingBucket

Tier = Literal["red", "yellow", "green", "current"]
CaseStatus = Literal["open", "closed"]

_AT = "2026-03-10T10:00:00+08:00"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Case(BaseModel):
    """An arrears case: one per household and payer while anything issued to them is unpaid."""

    model_config = _examples(
        {
            "case_id": "case-7f3a", "unit_id": "unit-0101", "community_id": "comm-1",
            "payer_party_id": "party-12", "status": "open", "on_hold": False,
            "hold_payment_id": None, "opened_at": _AT, "closed_at": None,
            "stage": "reminder", "stage_entered_at": _AT, "tier": "green",
            "oldest_due_date": "2026-01-31", "room_label": "1-1-101", "owner_staff_id": None,
            "assigned_to": "hk-1", "assigned_role": "housekeeper", "deferred_until": None,
            "deferred_reason": None, "legal_since": None, "outstanding_fen": 128_000,
            "paused": False, "oldest_unpaid_due_date": "2026-01-31", "days_overdue": 38,
            "aging_bucket": "31-90", "building_id": "bld-1", "fee_items": ["property_fee"],
        }
    )  # fmt: skip

    case_id: str
    unit_id: str
    community_id: str
    payer_party_id: str
    status: CaseStatus
    on_hold: bool
    hold_payment_id: str | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    stage: str | None = None
    stage_entered_at: datetime | None = None
    tier: Tier | None = None
    oldest_due_date: date | None = None
    room_label: str | None = None
    owner_staff_id: str | None = None
    assigned_to: str | None = None
    assigned_role: str | None = None
    deferred_until: datetime | None = None
    deferred_reason: str | None = None
    legal_since: datetime | None = None
    outstanding_fen: int = Field(description="Principal and late fee owed now, fen")
    paused: bool = Field(description="A case-wide pause is in force")
    oldest_unpaid_due_date: date | None = Field(
        default=None, description="The due date of the oldest invoice still owed"
    )
    days_overdue: int | None = Field(
        default=None, description="Days from that due date to today (negative: not yet due)"
    )
    aging_bucket: AgingBucket | None = Field(
        default=None, description="Its aging bucket (billing's buckets); null when not yet due"
    )
    building_id: str | None = Field(default=None, description="The unit's building (billing's)")
    fee_items: list[str] = Field(
        default_factory=list, description="Fee item codes of the invoices still owed"
    )


class CaseTotals(BaseModel):
    """Totals over every case a filter of the case list keeps (not one page)."""

    model_config = _examples(
        {"cases": 12, "households": 12, "outstanding_fen": 1_536_000, "as_of": "2026-12-03"}
    )

    cases: int
    households: int
    outstanding_fen: int = Field(description="Principal and late fee owed now, fen")
    as_of: date = Field(description="The date days overdue and aging buckets are counted to")


class Action(BaseModel):
    """What an escalation does: a message on a channel with a template, or a task."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"kind": "sms", "channel": "sms", "template": "t1"}]},
    )

    kind: str
    channel: str | None = None
    template: str | None = None


class Escalation(BaseModel):
    model_config = _examples(
        {
            "escalation_id": 41, "stage": "reminder", "cycle": "main", "previous_stage": "notice",
            "tier": "green", "outstanding_fen": 128_000, "oldest_due_date": "2026-01-31",
            "invoice_ids": ["inv-1"], "actions": [{"kind": "sms", "channel": "sms",
            "template": "reminder"}], "deadline": None, "staff_id": None, "escalated_at": _AT,
        }
    )  # fmt: skip

    escalation_id: int
    stage: str
    cycle: str
    previous_stage: str | None = None
    tier: Tier
    outstanding_fen: int
    oldest_due_date: date
    invoice_ids: list[str]
    actions: list[Action]
    deadline: date | None = None
    staff_id: str | None = None
    escalated_at: datetime


class SweepResult(BaseModel):
    model_config = _examples(
        {
            "as_of": _AT, "sweep_id": 42, "items": 1, "items_failed": 0, "cases": 120,
            "escalated": 14, "monthly_reminders": 3,
            "deferred": {"quiet_hours": 2}, "refused": {"no_delivered_demand": 1},
            "by_stage": {"reminder": 10, "final_reminder": 4}, "timings_s": {"cases": 0.012},
        }
    )  # fmt: skip

    as_of: str = Field(description="The instant swept as of (ISO 8601)")
    sweep_id: int | None = Field(default=None, description="GET /sweeps/{sweep_id}: its progress")
    items: int = Field(default=0, description="Work items the sweep was split into")
    items_failed: int = Field(default=0, description="Items given up after repeated errors")
    cases: int
    escalated: int
    monthly_reminders: int
    deferred: dict[str, int]
    refused: dict[str, int]
    by_stage: dict[str, int]
    timings_s: dict[str, float] = Field(description="Per phase, summed over the items")


class SweepProgress(BaseModel):
    """A sweep as it runs: its items done, failed and in all, and what the done ones did."""

    model_config = _examples(
        {
            "sweep_id": 42, "as_of": _AT, "company_id": "co-1", "finished": False,
            "items_total": 100, "items_done": 37, "items_failed": 0, "cases": 370_000,
            "escalated": 52_110, "monthly_reminders": 0, "errors": [],
        }
    )  # fmt: skip

    sweep_id: int
    as_of: str = Field(description="The instant swept as of (ISO 8601)")
    company_id: str | None = Field(description="The company swept; null: every company")
    finished: bool
    items_total: int
    items_done: int
    items_failed: int
    cases: int = Field(description="Open cases judged by the items done")
    escalated: int
    monthly_reminders: int
    errors: list[str] = Field(description="Item errors (item number: error), retried or not")


class PolicyDocument(Policy):
    """A dunning policy: the ladder as data, tiers, quiet hours, cap, hold timeout."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"policy_id": "community:comm-1"}]},
    )


class CommunitySettings(BaseModel):
    """A community's dunning settings beside its policy (issue 18, rule 6)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"late_fee_de_minimis_fen": 5000}]}
    )

    #: An open late fee below this alone keeps no case on the ladder (fen; 5,000 = 50 yuan).
    late_fee_de_minimis_fen: int = Field(default=DEFAULT_LATE_FEE_DE_MINIMIS_FEN, gt=0)


class OutcomeRecorded(BaseModel):
    model_config = _examples({"outcome_id": "out-1"})
    outcome_id: str


class PromiseRecorded(BaseModel):
    model_config = _examples({"promise_id": "prm-1"})
    promise_id: str


class Promise(BaseModel):
    """A promise to pay by a date, with its case's room and assignee (the workbench's
    "promises falling due")."""

    model_config = _examples(
        {
            "promise_id": "prm-1", "case_id": "case-7f3a", "community_id": "comm-1",
            "unit_id": "unit-0101", "room_label": "1-101", "amount_fen": 120000,
            "promised_date": "2026-03-10", "signed": False, "staff_id": "hk-1",
            "status": "open", "made_at": _AT, "closed_at": None, "assigned_to": "hk-1",
        }
    )  # fmt: skip

    promise_id: str
    case_id: str
    community_id: str
    unit_id: str
    room_label: str | None = None
    amount_fen: int = Field(description="What was promised, in fen")
    promised_date: date
    signed: bool
    staff_id: str = Field(description="Who recorded it")
    status: Literal["open", "kept", "broken"]
    made_at: datetime
    closed_at: datetime | None = None
    assigned_to: str | None = Field(default=None, description="The case's assignee")


class NoteAdded(BaseModel):
    model_config = _examples({"note_id": 7})
    note_id: int


class CasePaused(BaseModel):
    model_config = _examples({"pause_id": "pause-1"})
    pause_id: str | None = Field(description="Null when nothing was paused (already paused)")


class PauseResolved(BaseModel):
    model_config = _examples({"resolved": True}, {"resolved": True, "already_resolved": True})
    resolved: bool
    already_resolved: bool | None = Field(
        default=None, description="Present (true) when the pause was resolved already"
    )


class CaseAssigned(BaseModel):
    model_config = _examples({"assigned_to": "hk-1"})
    assigned_to: str


class Pause(BaseModel):
    model_config = _examples(
        {
            "pause_id": "pause-1", "scope": "case", "invoice_id": None,
            "reason": "service_complaint", "owner": "cs-1", "starts_at": _AT,
            "ends_at": "2026-04-09T10:00:00+08:00", "note": None, "plan_id": None,
            "resolved_at": None, "resolution": None,
        }
    )  # fmt: skip

    pause_id: str
    scope: Literal["case", "invoice"]
    invoice_id: str | None = None
    reason: str
    owner: str
    starts_at: datetime
    ends_at: datetime
    note: str | None = None
    plan_id: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


class LetterRecorded(BaseModel):
    model_config = _examples({"letter_id": "letter-1", "status": "posted"})
    letter_id: str
    status: Literal["posted", "delivered"]


class CaseAdvanced(BaseModel):
    model_config = _examples({"stage": "mediation"})
    stage: str


class Task(BaseModel):
    model_config = _examples(
        {
            "task_id": "task-1", "case_id": "case-7f3a", "community_id": "comm-1",
            "unit_id": "unit-0101", "kind": "phone_call", "stage": "call", "reason": "overdue",
            "source": "sweep", "status": "open", "assignee": "hk-1",
            "window_start": "2026-03-10T18:00:00+08:00",
            "window_end": "2026-03-10T20:00:00+08:00", "due_on": None,
            "notifier_task_id": None, "created_at": _AT, "completed_at": None,
        }
    )  # fmt: skip

    task_id: str
    case_id: str | None = None
    community_id: str
    unit_id: str
    room_label: str | None = Field(default=None, description="The case's room (for the workbench)")
    kind: str
    stage: str | None = None
    reason: str
    source: str
    status: Literal["open", "done", "cancelled"]
    assignee: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    due_on: date | None = None
    notifier_task_id: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class TaskDone(BaseModel):
    model_config = _examples({"task_id": "task-1", "status": "done"})
    task_id: str
    status: Literal["done"]


class QueueTask(BaseModel):
    model_config = _examples({"task_id": "task-1", "kind": "phone_call"})
    task_id: str
    kind: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    due_on: date | None = None


class QueueEntry(BaseModel):
    """An open case in someone's work queue, with its open tasks."""

    model_config = _examples(
        {
            "case_id": "case-7f3a", "unit_id": "unit-0101", "community_id": "comm-1",
            "payer_party_id": "party-12", "room_label": "1-1-101", "tier": "red",
            "stage": "home_visit", "outstanding_fen": 620_000,
            "oldest_due_date": "2025-01-31", "owner": True, "tasks": [],
        }
    )  # fmt: skip

    case_id: str
    unit_id: str
    community_id: str
    payer_party_id: str
    room_label: str | None = None
    tier: Tier | None = None
    stage: str | None = None
    outstanding_fen: int
    oldest_due_date: date | None = None
    owner: bool | None = Field(default=None, description="The caller named is the case's owner")
    tasks: list[QueueTask]


class KpiRow(BaseModel):
    """Chases of one community, stage, channel or staff member (the key named by ``by``)."""

    model_config = _examples(
        {
            "community": "comm-1", "chased": 40, "paid_after_chase": 22, "success_rate": 0.55,
            "cost_fen": 400, "cost_per_chase_fen": 10, "complaints": 1, "complaint_rate": 0.025,
        }
    )  # fmt: skip

    community: str | None = None
    stage: str | None = None
    channel: str | None = None
    staff: str | None = None
    chased: int
    paid_after_chase: int
    success_rate: float | None = None
    cost_fen: int
    cost_per_chase_fen: int | None = None
    complaints: int
    complaint_rate: float | None = None


class Recovery(BaseModel):
    model_config = _examples(
        {"community_id": "comm-1", "historical_fen": 1_000_000, "recovered_fen": 250_000,
         "recovery_rate": 0.25}
    )  # fmt: skip

    community_id: str
    historical_fen: int
    recovered_fen: int
    recovery_rate: float | None = None


class TierCount(BaseModel):
    model_config = _examples(
        {"as_of_date": "2026-03-10", "community_id": "comm-1", "tier": "green", "cases": 12,
         "outstanding_fen": 360_000}
    )  # fmt: skip

    as_of_date: date
    community_id: str
    tier: Tier
    cases: int
    outstanding_fen: int


class KpiReport(BaseModel):
    model_config = _examples(
        {"by": "community", "rows": [], "historical_recovery": [], "tier_counts": []}
    )

    by: Literal["community", "stage", "channel", "staff"]
    rows: list[KpiRow]
    historical_recovery: list[Recovery]
    tier_counts: list[TierCount]


class LimitationByCommunity(BaseModel):
    model_config = _examples(
        {"community_id": "comm-1", "invoices": 3, "voluntary_only": 1,
         "outstanding_fen": 90_000, "earliest_expiry": "2026-05-31"}
    )  # fmt: skip

    community_id: str
    invoices: int
    voluntary_only: int = Field(description="Invoices whose clock has ended")
    outstanding_fen: int
    earliest_expiry: date | None = None


class LimitationClock(BaseModel):
    model_config = _examples(
        {"invoice_id": "inv-1", "unit_id": "unit-0101", "community_id": "comm-1",
         "due_date": "2023-03-31", "limitation_expires_on": "2026-03-31",
         "voluntary_only": False}
    )  # fmt: skip

    invoice_id: str
    unit_id: str
    community_id: str
    due_date: date | None = None
    limitation_expires_on: date | None = None
    voluntary_only: bool | None = None
