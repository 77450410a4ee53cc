"""The evidence bundle of a case (证据材料) as JSON: every section as the document lists it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dunning.entrypoints.models import Action

_OPEN = ConfigDict(extra="allow")


class EvidenceCase(BaseModel):
    model_config = _OPEN
    case_id: str
    unit_id: str
    community_id: str
    payer_party_id: str
    room_label: str | None = None
    status: Literal["open", "closed"]
    stage: str | None = None
    tier: Literal["red", "yellow", "green", "current"] | None = None
    outstanding_fen: int
    oldest_due_date: date | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    owner_staff_id: str | None = None


class Creditor(BaseModel):
    model_config = _OPEN
    company_name: str | None = None
    community_name: str | None = None
    address: str | None = None
    contract_end: date | None = None
    time_zone: str | None = None


class Party(BaseModel):
    model_config = _OPEN
    party_id: str | None = None
    kind: str | None = None
    name: str | None = None
    postal_address: str | None = None


class EvidenceInvoice(BaseModel):
    model_config = _OPEN
    invoice_id: str
    kind: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    due_date: date | None = None
    schedule_version: str | None = None
    total_fen: int | None = None
    principal_outstanding_fen: int | None = None
    late_fee_outstanding_fen: int
    late_fee_basis: dict[str, Any] | None = None
    late_fee_as_of: date | None = None
    status: str | None = None
    settled: bool
    settled_at: datetime | None = None
    limitation_expires_on: date | None = None
    limitation_last_restart_on: date | None = None
    limitation_state: str | None = None


class EvidencePayment(BaseModel):
    model_config = _OPEN
    payment_id: str
    amount_fen: int
    paid_at: datetime


class Reminder(BaseModel):
    model_config = _OPEN
    stage: str
    cycle: str
    escalated_at: datetime
    payer_party_id: str
    tier: str
    outstanding_fen: int
    actions: list[Action]
    deadline: date | None = None
    invoice_ids: list[str]
    staff_id: str | None = None


class DeliveryProof(BaseModel):
    model_config = _OPEN
    notification_id: str
    outcome: str
    channel: str
    message_type: str
    stage: str | None = None
    at: datetime
    detail: dict[str, Any] | None = None


class ContactOutcome(BaseModel):
    model_config = _OPEN
    outcome_id: str
    kind: str
    reason_code: str
    note: str | None = None
    staff_id: str
    at: datetime
    recorded_at: datetime | None = None


class Letter(BaseModel):
    model_config = _OPEN
    letter_id: str
    case_id: str
    stage: str
    carrier: str
    tracking_no: str
    sent_at: datetime
    delivered_at: datetime | None = None
    signed_by: str | None = None
    staff_id: str
    recorded_at: datetime | None = None
    carrier_status: str | None = None
    receipt_reference: str | None = None


class Promise(BaseModel):
    model_config = _OPEN
    promise_id: str
    amount_fen: int
    promised_date: date
    signed: bool
    status: Literal["open", "kept", "broken"]
    staff_id: str
    made_at: datetime
    recorded_at: datetime | None = None
    closed_at: datetime | None = None


class PlanPart(BaseModel):
    model_config = _OPEN
    part_no: int
    due_date: date
    amount_fen: int


class Plan(BaseModel):
    model_config = _OPEN
    plan_id: str
    unit_id: str
    community_id: str
    payer_party_id: str
    invoice_ids: list[str]
    total_fen: int
    reason: str
    created_at: datetime
    status: Literal["active", "missed", "done"]
    parts: list[PlanPart]


class EvidencePause(BaseModel):
    model_config = _OPEN
    pause_id: str
    scope: Literal["case", "invoice"]
    invoice_id: str | None = None
    reason: str
    owner: str
    note: str | None = None
    starts_at: datetime
    ends_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = None
    recorded_at: datetime | None = None


class Note(BaseModel):
    model_config = _OPEN
    staff_id: str
    body: str
    at: datetime
    recorded_at: datetime | None = None


class Demand(BaseModel):
    model_config = _OPEN
    stage: str
    deadline: date
    issued_at: datetime


class LimitationRestart(BaseModel):
    model_config = _OPEN
    invoice_id: str
    kind: str
    on_date: date


class EvidenceBundle(BaseModel):
    """Everything on record about a case, for mediation or court; contact data (and numbers
    in free text) masked for roles outside ``CONTACT_ROLES``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "case": {
                        "case_id": "case-7f3a", "unit_id": "unit-0101",
                        "community_id": "comm-1", "payer_party_id": "party-12",
                        "room_label": "1-1-101", "status": "open", "stage": "legal_demand",
                        "tier": "red", "outstanding_fen": 620_000,
                        "oldest_due_date": "2025-01-31",
                        "opened_at": "2025-02-01T00:00:00+08:00", "closed_at": None,
                        "owner_staff_id": None,
                    },
                    "creditor": {"company_name": "物业公司", "time_zone": "Asia/Shanghai"},
                    "debtor": None, "jointly_liable": [], "as_of": "2026-03-10T02:00:00Z",
                    "invoices": [], "payments": [], "reminders": [], "delivery_proof": [],
                    "calls_and_visits": [], "letters": [], "promises": [], "plans": [],
                    "pauses": [], "notes": [], "demands": [], "limitation_restarts": [],
                }
            ]
        }
    )  # fmt: skip

    case: EvidenceCase
    creditor: Creditor
    debtor: Party | None = None
    jointly_liable: list[Party]
    as_of: datetime
    invoices: list[EvidenceInvoice]
    payments: list[EvidencePayment]
    reminders: list[Reminder]
    delivery_proof: list[DeliveryProof]
    calls_and_visits: list[ContactOutcome]
    letters: list[Letter]
    promises: list[Promise]
    plans: list[Plan]
    pauses: list[EvidencePause]
    notes: list[Note]
    demands: list[Demand]
    limitation_restarts: list[LimitationRestart]
