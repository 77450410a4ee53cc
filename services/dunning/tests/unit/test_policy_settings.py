"""Issue 18 rule 13: dunning policies refuse nonsense (quiet windows that do not cover
22:00–07:00, caps above the law's spirit, zero or negative thresholds), each with a reason."""

from typing import Any

import pytest
from pydantic import ValidationError

from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.policy import Policy, validate_settings
from dunning.entrypoints.http_policies import policy_refusals


def with_(**changes: Any) -> dict[str, Any]:
    document = DEFAULT_POLICY.model_dump(mode="json")
    thresholds = changes.pop("thresholds", {})
    document.update(changes)
    document["thresholds"].update(thresholds)
    return document


def refusals(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Policy.model_validate(document)
    return policy_refusals(info.value)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quiet_start": "23:00"}, "must cover at least 22:00–07:00"),
        ({"quiet_end": "06:30"}, "must cover at least 22:00–07:00"),
        ({"quiet_start": "00:00", "quiet_end": "07:00"}, "must cover at least 22:00–07:00"),
        ({"quiet_start": "08:00", "quiet_end": "20:00"}, "must cover at least 22:00–07:00"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "start and end are the same"),
        ({"quiet_start": "17:00", "quiet_end": "10:00"}, "fewer than 8 hours a day"),
        ({"quiet_start": "25:00"}, "quiet_start: '25:00' is not a time of day"),
        ({"reminder_cap": 5}, "reminder_cap: 5 is outside 1–4"),
        ({"reminder_cap": 0}, "reminder_cap: 0 is outside 1–4"),
        ({"reminder_cap_window_days": 6}, "reminder_cap_window_days: 6 is outside 7–365"),
        ({"reminder_cap_window_days": 0}, "reminder_cap_window_days: 0 is outside 7–365"),
        ({"thresholds": {"red_amount_fen": 0}}, "thresholds.red_amount_fen: 0 must be greater"),
        ({"thresholds": {"red_amount_fen": -100}}, "thresholds.red_amount_fen: -100 must be"),
        ({"thresholds": {"green_months": 0}}, "thresholds.green_months: 0 must be greater"),
        ({"thresholds": {"yellow_months": -1}}, "thresholds.yellow_months: -1 must be greater"),
        ({"thresholds": {"red_months": 0}}, "thresholds.red_months: 0 must be greater"),
        ({"thresholds": {"yellow_months": 13}}, "yellow_months 13 <= red_months 12 does not"),
        ({"time_zone": "Mars/Olympus"}, "time_zone: 'Mars/Olympus' is not a known time zone"),
    ],
)
def test_nonsense_is_refused_with_a_reason(changes: dict[str, Any], reason: str) -> None:
    found = refusals(with_(**changes))
    assert any(reason in r for r in found), found


def test_a_stage_that_expires_before_it_starts_is_refused() -> None:
    document = with_()
    document["stages"][0]["expires_after_days"] = -1
    assert any("expires_after_days -1 is negative" in r for r in refusals(document))


def test_every_reason_at_once() -> None:
    found = refusals(with_(quiet_start="23:00", reminder_cap=9, thresholds={"red_amount_fen": 0}))
    assert len(found) == 3, found


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"quiet_start": "22:00", "quiet_end": "07:00"},  # exactly the minimum
        {"quiet_start": "20:00", "quiet_end": "09:00"},
        {"quiet_start": "18:00", "quiet_end": "10:00"},  # 16 hours: 8 left for messages
        {"reminder_cap": 1, "reminder_cap_window_days": 7},
        {"reminder_cap": 4, "reminder_cap_window_days": 7},
        {"reminder_cap": 2, "reminder_cap_window_days": 365},
        {"thresholds": {"green_months": 2, "yellow_months": 2, "red_months": 2}},
        {"thresholds": {"red_amount_fen": 1}},
        {"time_zone": "Asia/Urumqi"},
    ],
)
def test_sane_policies_pass(changes: dict[str, Any]) -> None:
    policy = Policy.model_validate(with_(**changes))
    assert validate_settings(policy) == []


def test_the_default_policy_is_sane() -> None:
    assert validate_settings(DEFAULT_POLICY) == []


def test_a_stored_policy_saved_under_older_bounds_still_loads() -> None:
    """Refused at its next save, not at its use (the sweep and the legal track read it)."""
    old = with_(reminder_cap=6)
    assert Policy.model_validate(old, context={"stored": True}).reminder_cap == 6
    assert any("reminder_cap: 6" in r for r in refusals(old))
