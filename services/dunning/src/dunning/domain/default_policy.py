"""The company default ladder, from the seeds (cadence of seed 004, ladder of DOMAIN.md)."""

from __future__ import annotations

from dunning.domain.policy import Action, Policy, Stage


def _msg(*channels: str, template: str) -> list[Action]:
    return [Action(kind="message", channel=c, template=template) for c in channels]


def _task(channel: str, template: str | None = None) -> list[Action]:
    return [Action(kind="task", channel=channel, template=template)]


DEMAND = "delivered_demand_deadline_passed"

DEFAULT_STAGES = [
    # Before the due date: a notice, once (skipped for debts already overdue).
    Stage(
        code="notice_before_due",
        offset_days=-3,
        expires_after_days=0,
        actions=_msg("sms", "app_push", template="notice_before_due"),
    ),
    Stage(code="reminder", offset_days=7, actions=_msg("sms", template="reminder")),
    Stage(
        code="final_reminder",
        offset_days=15,
        min_gap_days=7,
        actions=_msg("sms", "wechat", template="final_reminder"),
    ),
    Stage(code="phone_call", offset_days=22, min_gap_days=7, actions=_task("phone_call")),
    Stage(
        code="wechat_app",
        offset_days=30,
        min_gap_days=7,
        actions=_msg("wechat", "app_push", template="reminder_app"),
    ),
    Stage(
        code="sealed_door_notice",
        offset_days=40,
        min_gap_days=7,
        actions=_msg("door_notice", template="door_notice_sealed"),
    ),
    Stage(code="home_visit", offset_days=50, min_gap_days=7, actions=_task("visit")),
    Stage(
        code="friendly_letter",
        offset_days=60,
        min_gap_days=7,
        min_months_overdue=1,
        actions=_msg("letter", template="friendly_letter"),
    ),
    Stage(
        code="formal_letter",
        offset_days=75,
        min_gap_days=14,
        min_months_overdue=1,
        actions=_msg("letter", template="formal_letter"),
    ),
    Stage(
        code="final_letter",
        offset_days=0,
        min_gap_days=30,
        min_months_overdue=3,
        actions=_msg("letter", template="final_letter"),
    ),
    Stage(
        code="legal_demand",
        offset_days=0,
        min_gap_days=30,
        min_months_overdue=6,
        deadline_days=15,
        actions=[*_msg("letter", template="legal_demand"), *_task("letter_delivery")],
    ),
    Stage(
        code="lawyer_letter",
        anchor="previous_stage",
        offset_days=20,
        min_gap_days=20,
        preconditions=[DEMAND],
        actions=_task("lawyer_letter", "lawyer_letter"),
    ),
    Stage(code="mediation", automatic=False, preconditions=[DEMAND], actions=_task("mediation")),
    Stage(code="lawsuit", automatic=False, preconditions=[DEMAND], actions=_task("lawsuit")),
    Stage(
        code="enforcement", automatic=False, preconditions=[DEMAND], actions=_task("enforcement")
    ),
]

DEFAULT_POLICY = Policy(policy_id="default", stages=DEFAULT_STAGES)
