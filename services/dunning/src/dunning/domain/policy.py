"""An escalation policy as data: ordered stages per community, with a company default.

A stage is due ``offset_days`` after its anchor (the oldest due date, or the day the case
entered the previous stage) and never sooner than ``min_gap_days`` after the previous stage,
so one sweep moves a case by one stage at most and the same sweep twice changes nothing.
Guardrails are checked when a policy is built: a policy naming a coercive or public action
cannot exist.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dunning.domain.guardrails import LEGAL_REFERRAL_STAGES, check_action, forbidden_words

Precondition = Literal["delivered_demand_deadline_passed", "red_tier"]
#: Stage codes on the legal track whatever their place in a policy.
LEGAL_STAGE_CODES = frozenset(
    {"legal_demand", "lawyer_letter", "mediation", "lawsuit", "enforcement"} | LEGAL_REFERRAL_STAGES
)


class PolicyError(ValueError):
    """A policy was refused; ``reasons`` say which stage and why."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["message", "task"]
    channel: str
    template: str | None = None
    sealed: bool = True  # door notices only in a sealed envelope


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    anchor: Literal["due_date", "previous_stage"] = "due_date"
    offset_days: int = 0
    min_gap_days: int = Field(default=1, ge=1)
    min_months_overdue: int = Field(default=0, ge=0)
    expires_after_days: int | None = Field(
        default=None, description="Skipped when the oldest due date is further back than this"
    )
    automatic: bool = Field(
        default=True, description="False: only staff move a case into it (the sweep never does)"
    )
    actions: list[Action] = Field(default_factory=list)
    preconditions: list[Precondition] = Field(default_factory=list)
    deadline_days: int | None = Field(
        default=None, ge=1, description="A demand: pay within this many days of escalation"
    )

    @property
    def sends_messages(self) -> bool:
        return any(a.kind == "message" for a in self.actions)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    red_months: int = 12
    red_amount_fen: int = 500_000
    yellow_months: int = 6
    green_months: int = 1


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_id: str = "default"
    time_zone: str = "Asia/Shanghai"
    quiet_start: str = Field(default="21:00", pattern=r"^\d{2}:\d{2}$")
    quiet_end: str = Field(default="08:00", pattern=r"^\d{2}:\d{2}$")
    reminder_cap: int = Field(default=4, ge=1)
    reminder_cap_window_days: int = Field(default=30, ge=1)
    hold_timeout_hours: int = Field(default=72, ge=1)
    promise_grace_days: int = Field(default=1, ge=0)
    monthly_reminder_day: int | None = Field(
        default=10, ge=1, le=28, description="SMS on a fixed day each month while overdue"
    )
    monthly_reminder_channels: list[str] = Field(default_factory=lambda: ["sms"])
    red_case_owner: str | None = Field(default=None, description="Staff id named for red cases")
    thresholds: Thresholds = Thresholds()
    stages: list[Stage]

    @model_validator(mode="after")
    def _guardrails(self) -> Policy:
        reasons = validate_stages(self.stages)
        for channel in self.monthly_reminder_channels:
            reasons += [
                f"monthly reminder: {r.reason}" for r in check_action("message", channel, None)
            ]
        if reasons:
            raise PolicyError(reasons)
        return self

    def index_of(self, code: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.code == code)

    @property
    def legal_from(self) -> int | None:
        """Where the legal track starts: the first stage that is a demand with a deadline, a
        legal referral (needs a delivered demand) or a legal stage by name (legal demand,
        lawyer's letter, mediation, lawsuit, enforcement); every later stage is on it too.
        None: the policy has no legal track. The ``legal`` role reads cases that entered it."""
        return next(
            (
                i
                for i, s in enumerate(self.stages)
                if s.deadline_days is not None
                or "delivered_demand_deadline_passed" in s.preconditions
                or s.code in LEGAL_STAGE_CODES
            ),
            None,
        )

    def is_legal(self, index: int) -> bool:
        start = self.legal_from
        return start is not None and index >= start


def validate_stages(stages: list[Stage]) -> list[str]:
    """Every refusal for a list of stages (empty: a lawful policy)."""
    reasons: list[str] = []
    seen: set[str] = set()
    for stage in stages:
        where = f"stage {stage.code!r}"
        if stage.code in seen:
            reasons.append(f"{where}: appears twice")
        seen.add(stage.code)
        for word in forbidden_words(stage.code):
            reasons.append(f"{where}: {word!r} names coercion or public disclosure")
        for action in stage.actions:
            for refusal in check_action(
                action.kind, action.channel, action.template, action.sealed
            ):
                reasons.append(f"{where}: {refusal.reason}")
        legal = stage.code in LEGAL_REFERRAL_STAGES
        if legal and "delivered_demand_deadline_passed" not in stage.preconditions:
            reasons.append(
                f"{where}: a legal referral needs the precondition delivered_demand_deadline_passed"
            )
    return reasons
