"""Events dunning publishes."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from propfee.events.base import Event, Tier
from propfee.events.billing import LateFeeBasis
from propfee.money import CURRENCY, Currency, NonNegativeFen


class EscalationAction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["message", "task"]
    channel: str
    template: str | None = None


class CombinedCase(BaseModel):
    """One case of a combined reminder (issue 18 rule 12): its room and what it is chased for."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    case_id: str
    unit_id: str
    room_label: str | None = None
    outstanding_fen: NonNegativeFen
    oldest_due_date: date
    invoice_ids: list[str] = Field(default_factory=list)


class ClaimLine(BaseModel):
    """One overdue invoice as a demand letter (催告函) claims it (issue 19): its period, the
    principal and late fee still owed on the day of the escalation, and how the late fee was
    computed (billing's LateFeeBasis and the day it was accrued to)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    invoice_id: str
    period_start: date | None = None
    period_end: date | None = None
    due_date: date
    fee_item: str | None = Field(
        default=None, description="What the invoice is for: property, parking, opening_arrears..."
    )
    principal_fen: NonNegativeFen
    late_fee_fen: NonNegativeFen = 0
    late_fee_basis: LateFeeBasis | None = None
    late_fee_as_of: date | None = Field(
        default=None, description="The day late_fee_fen was accrued to"
    )


class ArrearsEscalated(Event):
    """dunning moved an arrears case to its next stage. A case is a unit and a payer: the
    event addresses ``payer_party_id`` about their own invoices only (issue 18 rule 7)."""

    producer: ClassVar[str] = "dunning"

    case_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    stage: str
    previous_stage: str | None
    tier: Tier
    outstanding_fen: NonNegativeFen
    currency: Currency = CURRENCY
    oldest_due_date: date
    days_overdue: int
    invoice_ids: list[str]
    escalated_at: AwareDatetime
    actions: list[EscalationAction] = Field(default_factory=list)
    room_label: str | None = None
    deadline: date | None = Field(default=None, description="Pay-by date stated in a demand")
    months_overdue: int | None = Field(
        default=None,
        description="Whole calendar months since the oldest due date; 0 is 'current' (tier is "
        "then reported as green)",
    )
    owner_staff_id: str | None = Field(
        default=None, description="Staff member named for the case (red cases: one plan)"
    )
    combined: list[CombinedCase] = Field(
        default_factory=list,
        description="One reminder per person per occasion (issue 18 rule 12): when the payer's "
        "several cases reach the same reminder stage in the same sweep, the first of them (by "
        "room) carries every case of the occasion here, itself included; its message names each "
        "room and the total",
    )
    combined_into: str | None = Field(
        default=None,
        description="The case whose escalation carries this one's reminder (see `combined`): "
        "no message of its own is sent for this escalation (its tasks still are)",
    )
    jointly_liable_for: str | None = Field(
        default=None,
        description="Set on the copy of an escalation addressed to a party jointly liable "
        "with the case's payer (the owner, when a tenant who pays defaults; the policy's "
        "joint_liability_from_stage): the case's payer. payer_party_id is then the party "
        "addressed, invoice_ids and amounts those of their own liability",
    )
    statement: list[ClaimLine] | None = Field(
        default=None,
        description="What the stage's messages claim, per invoice (demands and letters: the "
        "periods, principal and late fee with how it was computed); None when not given",
    )
    paid_fen: NonNegativeFen | None = Field(
        default=None,
        description="Paid so far toward the invoices chased (a part payment): a reminder then "
        "names what is left (outstanding_fen)",
    )


class ArrearsCasePaused(Event):
    """dunning paused reminders of a case (or of one disputed invoice) until ``ends_at``:
    a service complaint, an installment plan, a legal proceeding. Consumers holding queued
    reminders for the case should not send them."""

    producer: ClassVar[str] = "dunning"

    pause_id: str
    case_id: str
    community_id: str
    unit_id: str
    scope: Literal["case", "invoice"]
    invoice_id: str | None = None
    reason: str
    owner: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class ArrearsCaseResumed(Event):
    """A pause ended (resolved, installment missed, or its end came)."""

    producer: ClassVar[str] = "dunning"

    pause_id: str
    case_id: str
    community_id: str
    unit_id: str
    resolution: str
    resumed_at: AwareDatetime


class PromiseRecorded(Event):
    """Staff recorded a household's promise to pay (缴费承诺) on an arrears case: reminders
    wait until the promised date; a signed promise acknowledges the debt. Notifier confirms
    it to the payer."""

    producer: ClassVar[str] = "dunning"

    promise_id: str
    case_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    amount_fen: NonNegativeFen
    currency: Currency = CURRENCY
    promised_date: date = Field(description="Local date (community time zone) promised")
    signed: bool = False
    recorded_at: AwareDatetime
    room_label: str | None = None


class LimitationClockChanged(Event):
    """dunning's limitation clock (诉讼时效, Civil Code art. 188) of one invoice changed: it
    started, a restart moved its expiry, or a restart was withdrawn. From the day after
    ``expires_on`` the debt is time-barred: billing no longer pays it from unnamed payments or
    credit and stops its late fee (DOMAIN.md, "Time-barred invoices")."""

    producer: ClassVar[str] = "dunning"

    invoice_id: str
    community_id: str
    unit_id: str
    due_date: date
    expires_on: date = Field(description="Last day of the limitation period")
    clock_version: int = Field(
        ge=1, description="Grows with every change of this invoice's clock; the highest wins"
    )
    last_restart_on: date | None = None
    changed_at: AwareDatetime
