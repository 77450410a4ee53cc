"""Guardrails: what cannot be configured or done, and the default policy from the seeds."""

import pytest
from pydantic import ValidationError

from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.guardrails import (
    check_action,
    check_reminder,
    names_legal_referral,
)
from dunning.domain.policy import Action, Policy, Stage, validate_stages


@pytest.mark.parametrize(
    ("kind", "channel", "template"),
    [
        ("task", "cut_water", None),
        ("task", "disconnect_power", None),
        ("task", "stop_heating", None),
        ("task", "shut_gas", None),
        ("task", "restrict_lift", None),
        ("task", "disable_door_card", None),
        ("task", "block_parking", None),
        ("task", "deny_entry", None),
        ("message", "public_posting", None),
        ("message", "notice_board", None),
        ("message", "group_chat", None),
        ("message", "sms", "blacklist_notice"),
        ("message", "sms", "停电通知"),
        ("task", "门禁限制", None),
    ],
)
def test_coercion_and_disclosure_are_refused(kind: str, channel: str, template: str | None) -> None:
    refusals = check_action(kind, channel, template)
    assert refusals, (channel, template)
    assert all(r.reason for r in refusals)


def test_lawful_actions_pass_and_door_notices_must_be_sealed() -> None:
    assert check_action("message", "sms", "reminder") == []
    assert check_action("message", "door_notice", "door_notice_sealed") == []
    assert check_action("task", "phone_call", None) == []
    unsealed = check_action("message", "door_notice", "x", sealed=False)
    assert [r.code for r in unsealed] == ["door_notice_unsealed"]
    assert [r.code for r in check_action("message", "fax", None)] == ["channel_not_allowed"]


def test_a_policy_with_a_forbidden_action_cannot_exist() -> None:
    stages = [s.model_dump() for s in DEFAULT_POLICY.stages]
    stages.append({"code": "last_resort", "actions": [{"kind": "task", "channel": "cut_water"}]})
    with pytest.raises(ValidationError) as info:
        Policy.model_validate({"stages": stages})
    assert "cut_water" in str(info.value)


def test_legal_referral_stage_needs_the_demand_precondition() -> None:
    stage = DEFAULT_POLICY.stages[DEFAULT_POLICY.index_of("lawsuit")]
    bare = stage.model_copy(update={"preconditions": []})
    assert any("delivered_demand" in r for r in validate_stages([bare]))


def test_no_reminder_when_paid_paused_on_hold_or_closed() -> None:
    assert check_reminder("closed", False, False, 100).code == "case_closed"  # type: ignore[union-attr]
    assert check_reminder("open", False, False, 0).code == "paid"  # type: ignore[union-attr]
    assert check_reminder("open", False, True, 100).code == "on_hold"  # type: ignore[union-attr]
    assert check_reminder("open", True, False, 100).code == "paused"  # type: ignore[union-attr]
    assert check_reminder("open", False, False, 100) is None


def test_default_policy_follows_the_seeds() -> None:
    codes = [s.code for s in DEFAULT_POLICY.stages]
    assert codes == [
        "notice_before_due", "reminder", "final_reminder", "phone_call", "wechat_app",
        "sealed_door_notice", "home_visit", "friendly_letter", "formal_letter", "final_letter",
        "legal_demand", "lawyer_letter", "mediation", "lawsuit", "enforcement",
    ]  # fmt: skip
    by = {s.code: s for s in DEFAULT_POLICY.stages}
    assert by["notice_before_due"].offset_days < 0
    assert by["reminder"].offset_days == 7 and by["final_reminder"].offset_days == 15
    assert by["phone_call"].actions[0].kind == "task"
    assert by["home_visit"].actions[0].channel == "visit"
    assert by["sealed_door_notice"].actions[0].sealed
    assert by["formal_letter"].min_months_overdue == 1
    assert by["final_letter"].min_months_overdue == 3
    assert by["legal_demand"].deadline_days == 15
    assert "delivered_demand_deadline_passed" in by["lawyer_letter"].preconditions
    assert not by["lawsuit"].automatic and not by["enforcement"].automatic
    assert DEFAULT_POLICY.monthly_reminder_day == 10
    assert DEFAULT_POLICY.quiet_start == "21:00" and DEFAULT_POLICY.reminder_cap == 4
    assert all(s.min_gap_days >= 1 for s in DEFAULT_POLICY.stages)


def test_the_legal_track_starts_at_the_first_demand_or_legal_stage() -> None:
    legal = [s.code for i, s in enumerate(DEFAULT_POLICY.stages) if DEFAULT_POLICY.is_legal(i)]
    assert legal == ["legal_demand", "lawyer_letter", "mediation", "lawsuit", "enforcement"]
    early = [s for s in DEFAULT_POLICY.stages if s.code in ("reminder", "final_letter")]
    assert Policy(stages=early).legal_from is None
    demand = early[1].model_copy(update={"code": "pay_within_ten_days", "deadline_days": 10})
    custom = Policy(stages=[early[0], demand, early[1].model_copy(update={"code": "later"})])
    assert custom.legal_from == 1 and custom.is_legal(2) and not custom.is_legal(0)


# Issue 18 rule 1: the precondition belongs to the action kind, not to the stage's name.


def _stage(code: str, *actions: tuple[str, str, str | None], pre: bool = False) -> Stage:
    return Stage(
        code=code,
        actions=[Action(kind=k, channel=c, template=t) for k, c, t in actions],  # type: ignore[arg-type]
        preconditions=["delivered_demand_deadline_passed"] if pre else [],
    )


@pytest.mark.parametrize(
    "text",
    [
        "lawsuit", "lawyer_letter", "arbitration", "court_filing", "mediation_referral",
        "enforcement", "Lawyer-Letter", " COURT FILING ", "send_to_court", "律师函",
        "起诉通知", "诉讼材料", "仲裁申请", "立案", "人民调解转介", "申请强制执行",
    ],
)  # fmt: skip
def test_lawsuit_like_kinds_are_named_in_any_spelling(text: str) -> None:
    assert names_legal_referral(text) is not None


@pytest.mark.parametrize(
    "text",
    ["legal_demand", "phone_call", "courtesy_call", "letter_delivery", "issue", "催缴通知", None],
)
def test_ordinary_actions_are_not_lawsuit_like(text: str | None) -> None:
    assert names_legal_referral(text) is None


def test_a_renamed_stage_with_a_lawsuit_task_needs_the_precondition() -> None:
    stage = _stage("court_filing", ("task", "lawsuit", None))
    assert stage.requires_demand
    reasons = validate_stages([stage])
    assert len(reasons) >= 1
    assert all("court_filing" in r for r in reasons)
    assert any("task 'lawsuit'" in r and "delivered_demand_deadline_passed" in r for r in reasons)
    # A name that says nothing legal: the action alone decides.
    quiet = _stage("step_nine", ("task", "arbitration", None))
    assert quiet.requires_demand
    assert [r for r in validate_stages([quiet]) if "task 'arbitration'" in r]
    with pytest.raises(ValidationError, match="step_nine"):
        Policy.model_validate(
            {
                "stages": [
                    {"code": "step_nine", "actions": [{"kind": "task", "channel": "arbitration"}]}
                ]
            }
        )


def test_chinese_template_names_and_mixed_actions() -> None:
    mixed = _stage(
        "final_notice", ("message", "sms", "final_notice"), ("task", "phone_call", "律师函发送")
    )
    reasons = validate_stages([mixed])
    assert [r for r in reasons if "task 'phone_call' (template '律师函发送')" in r]
    assert not [r for r in reasons if "sms" in r]
    letter = _stage("step_x", ("message", "letter", "起诉前通知"))
    assert letter.requires_demand and validate_stages([letter])
    ordinary = _stage("step_y", ("message", "sms", "reminder"), ("task", "visit", None))
    assert not ordinary.requires_demand and validate_stages([ordinary]) == []
    # With the precondition declared the same stages are lawful.
    declared = _stage(
        "court_filing", ("task", "lawsuit", None), ("task", "phone_call", None), pre=True
    )
    assert declared.requires_demand and validate_stages([declared]) == []


def test_a_stored_policy_is_read_but_its_lawsuit_like_stage_still_needs_the_demand() -> None:
    document = {
        "stages": [{"code": "court_filing", "actions": [{"kind": "task", "channel": "lawsuit"}]}]
    }
    with pytest.raises(ValidationError):
        Policy.model_validate(document)
    stored = Policy.model_validate(document, context={"stored": True})
    assert stored.stages[0].requires_demand and stored.is_legal(0)


def test_every_default_stage_with_a_legal_action_declares_the_precondition() -> None:
    for stage in DEFAULT_POLICY.stages:
        if stage.legal_referrals:
            assert "delivered_demand_deadline_passed" in stage.preconditions, stage.code
    assert {s.code for s in DEFAULT_POLICY.stages if s.requires_demand} == {
        "lawyer_letter", "mediation", "lawsuit", "enforcement"
    }  # fmt: skip
