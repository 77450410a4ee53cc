"""An escalation policy as data: ordered stages per community, with a company default.

A stage is due ``offset_days`` after its anchor (the oldest due date, or the day the case
entered the previous stage) and never sooner than ``min_gap_days`` after the previous stage,
so one sweep moves a case by one stage at most and the same sweep twice changes nothing.
Guardrails are checked when a policy is built: a policy naming a coercive or public action
cannot exist, nor one that is nonsense for the law's spirit (:func:`validate_settings`, issue
18 rule 13):

- **Quiet hours** cover at least 22:00–07:00 local (:data:`QUIET_MUST_COVER`; the company
  default is 21:00–08:00, DOMAIN.md) and leave at least :data:`MIN_SENDABLE_HOURS` hours a
  day in which a message may go; both ends are times of day and differ.
- **The reminder cap** is at most :data:`MAX_REMINDER_CAP` reminders in a window of at least
  :data:`MIN_CAP_WINDOW_DAYS` days (so never more than 4 in a week; the default, EXAMPLES.md,
  is 4 in any 30 days) and at most :data:`MAX_CAP_WINDOW_DAYS`; with ``min_gap_days`` >= 1 a
  case moves at most one stage, one round of messages, a day.
- **Thresholds** are positive: tier months and the red amount > 0, green <= yellow <= red
  months; a stage's ``expires_after_days`` is not negative.
- **The time zone** is a known IANA zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from dunning.domain.guardrails import check_action, forbidden_words, names_legal_referral
from propfee.contact_rules import (
    QUIET_CORE_END,
    QUIET_CORE_START,
    QUIET_END,
    QUIET_START,
    REMINDER_CAP,
    REMINDER_CAP_WINDOW_DAYS,
)

Precondition = Literal["delivered_demand_deadline_passed", "red_tier"]
DEMAND_PRECONDITION: Precondition = "delivered_demand_deadline_passed"
#: Stage codes on the legal track whatever their place in a policy.
LEGAL_STAGE_CODES = frozenset(
    {"legal_demand", "lawyer_letter", "mediation", "lawsuit", "enforcement"}
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

    @property
    def legal_referrals(self) -> list[str]:
        """What makes this stage lawsuit-like (issue 18 rule 1): each action, or the code,
        that names a lawsuit-like kind (``task 'lawsuit'``); empty: none does."""
        found = [
            f"{a.kind} {a.channel!r}" + (f" (template {a.template!r})" if a.template else "")
            for a in self.actions
            if names_legal_referral(a.channel) or names_legal_referral(a.template)
        ]
        if names_legal_referral(self.code):
            found.append(f"stage code {self.code!r}")
        return found

    @property
    def requires_demand(self) -> bool:
        """Entering this stage needs a delivered individual demand whose deadline has passed:
        declared, or implied by a lawsuit-like action whatever the stage is called. The sweep
        (``policy_stages.requires_demand``) and the manual advance both read this."""
        return DEMAND_PRECONDITION in self.preconditions or bool(self.legal_referrals)


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
    quiet_start: str = Field(default=QUIET_START.strftime("%H:%M"), pattern=r"^\d{2}:\d{2}$")
    quiet_end: str = Field(default=QUIET_END.strftime("%H:%M"), pattern=r"^\d{2}:\d{2}$")
    reminder_cap: int = REMINDER_CAP  # bounds: validate_settings
    reminder_cap_window_days: int = REMINDER_CAP_WINDOW_DAYS
    hold_timeout_hours: int = Field(default=72, ge=1)
    promise_grace_days: int = Field(default=1, ge=0)
    monthly_reminder_day: int | None = Field(
        default=10, ge=1, le=28, description="SMS on a fixed day each month while overdue"
    )
    monthly_reminder_channels: list[str] = Field(default_factory=lambda: ["sms"])
    red_case_owner: str | None = Field(default=None, description="Staff id named for red cases")
    thresholds: Thresholds = Thresholds()
    stages: list[Stage]
    joint_liability_from_stage: str | None = Field(
        default=None,
        description="From this stage on (by code, and every later stage), the messages of a "
        "case whose payer is a tenant also go to the owner jointly liable for the invoices "
        "(InvoiceIssued.liable_party_ids); None: the payer alone is chased (issue 18 rule 7)",
    )

    @model_validator(mode="after")
    def _guardrails(self, info: ValidationInfo) -> Policy:
        # A policy read back from the database (context {"stored": True}) was checked when it
        # was saved: bounds added since refuse its next save, not its use.
        stored = bool(info.context and info.context.get("stored"))
        reasons = ([] if stored else validate_settings(self)) + validate_stages(
            self.stages, stored=stored
        )
        joint = self.joint_liability_from_stage
        if joint is not None and joint not in {s.code for s in self.stages}:
            reasons.append(f"joint_liability_from_stage: {joint!r} is not a stage of the policy")
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
                if s.deadline_days is not None or s.requires_demand or s.code in LEGAL_STAGE_CODES
            ),
            None,
        )

    def is_legal(self, index: int) -> bool:
        start = self.legal_from
        return start is not None and index >= start


#: Local hours every policy's quiet window must cover (start, end: overnight).
QUIET_MUST_COVER = (QUIET_CORE_START, QUIET_CORE_END)
#: Hours a day a quiet window must leave for messages (so at most 16 hours quiet).
MIN_SENDABLE_HOURS = 8
#: The reminder cap: at most this many reminders ...
MAX_REMINDER_CAP = 4
#: ... in a rolling window of at least (and at most) this many days.
MIN_CAP_WINDOW_DAYS = 7
MAX_CAP_WINDOW_DAYS = 365
_DAY = 24 * 60


def _minute(value: str) -> int | None:
    try:
        t = datetime.strptime(value, "%H:%M").time()
    except ValueError:
        return None
    return t.hour * 60 + t.minute


def _quiet_minutes(start: int, end: int) -> set[int]:
    """The minutes of a day in the quiet window [start, end), overnight when start > end."""
    if start < end:
        return set(range(start, end))
    return set(range(start, _DAY)) | set(range(end))


def validate_settings(policy: Policy) -> list[str]:
    """Every refusal of a policy's quiet hours, reminder cap, thresholds and time zone (empty:
    sane). The bounds are the module's constants, documented above."""
    reasons: list[str] = []
    try:
        ZoneInfo(policy.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        reasons.append(f"time_zone: {policy.time_zone!r} is not a known time zone")
    start, end = _minute(policy.quiet_start), _minute(policy.quiet_end)
    for name, value, minute in (
        ("quiet_start", policy.quiet_start, start),
        ("quiet_end", policy.quiet_end, end),
    ):
        if minute is None:
            reasons.append(f"{name}: {value!r} is not a time of day (HH:MM, 00:00–23:59)")
    if start is not None and end is not None:
        window = f"quiet hours {policy.quiet_start}–{policy.quiet_end}"
        if start == end:
            reasons.append(f"{window}: start and end are the same (no quiet hours, or no day)")
        else:
            quiet = _quiet_minutes(start, end)
            must = _quiet_minutes(*(t.hour * 60 + t.minute for t in QUIET_MUST_COVER))
            low, high = (t.strftime("%H:%M") for t in QUIET_MUST_COVER)
            if not must <= quiet:
                reasons.append(f"{window} must cover at least {low}–{high} local time")
            if len(quiet) > _DAY - MIN_SENDABLE_HOURS * 60:
                reasons.append(
                    f"{window} leave fewer than {MIN_SENDABLE_HOURS} hours a day for messages"
                )
    if not 1 <= policy.reminder_cap <= MAX_REMINDER_CAP:
        reasons.append(
            f"reminder_cap: {policy.reminder_cap} is outside 1–{MAX_REMINDER_CAP} reminders "
            "per window (no harassment, Civil Code art. 1033)"
        )
    if not MIN_CAP_WINDOW_DAYS <= policy.reminder_cap_window_days <= MAX_CAP_WINDOW_DAYS:
        reasons.append(
            f"reminder_cap_window_days: {policy.reminder_cap_window_days} is outside "
            f"{MIN_CAP_WINDOW_DAYS}–{MAX_CAP_WINDOW_DAYS} days (at most {MAX_REMINDER_CAP} "
            f"reminders in any {MIN_CAP_WINDOW_DAYS} days)"
        )
    t = policy.thresholds
    for name in ("green_months", "yellow_months", "red_months", "red_amount_fen"):
        value = getattr(t, name)
        if value <= 0:
            reasons.append(f"thresholds.{name}: {value} must be greater than 0")
    if not t.green_months <= t.yellow_months <= t.red_months:
        reasons.append(
            f"thresholds: green_months {t.green_months} <= yellow_months {t.yellow_months} "
            f"<= red_months {t.red_months} does not hold"
        )
    return reasons


def validate_stages(stages: list[Stage], *, stored: bool = False) -> list[str]:
    """Every refusal for a list of stages (empty: a lawful policy). A stage with a lawsuit-like
    action (or code) must declare the precondition ``delivered_demand_deadline_passed``: the
    refusal names the stage and the action. A ``stored`` policy (saved before this rule) is
    not refused for it: entering such a stage needs the demand anyway (``requires_demand``)."""
    reasons: list[str] = []
    seen: set[str] = set()
    for stage in stages:
        where = f"stage {stage.code!r}"
        if stage.code in seen:
            reasons.append(f"{where}: appears twice")
        seen.add(stage.code)
        if stage.expires_after_days is not None and stage.expires_after_days < 0:
            reasons.append(f"{where}: expires_after_days {stage.expires_after_days} is negative")
        for word in forbidden_words(stage.code):
            reasons.append(f"{where}: {word!r} names coercion or public disclosure")
        for action in stage.actions:
            for refusal in check_action(
                action.kind, action.channel, action.template, action.sealed
            ):
                reasons.append(f"{where}: {refusal.reason}")
        if not stored and DEMAND_PRECONDITION not in stage.preconditions:
            for what in stage.legal_referrals:
                reasons.append(
                    f"{where}: {what} is a legal referral (lawsuit-like) and needs the "
                    f"precondition {DEMAND_PRECONDITION}: a delivered individual demand whose "
                    "deadline has passed (Civil Code 944 §2)"
                )
    return reasons
