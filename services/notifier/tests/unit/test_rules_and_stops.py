"""Contact rules per community (validation) and what stops a queued reminder (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from notifier.domain import contact_rules
from notifier.domain.stops import Stop, stopped_by

T = datetime(2026, 3, 5, 12, tzinfo=UTC)


def test_contact_rules_validation() -> None:
    assert contact_rules.problems("21:00", "08:00", 4, 30) == []
    assert contact_rules.problems("20:00", "09:30", 1, 7) == []
    assert contact_rules.problems("22:00", "07:00", 4, 30) == []  # exactly the night core
    assert contact_rules.problems("25:00", "08:00", 4, 30) == [
        "quiet_start '25:00' is not a 24-hour time HH:MM"
    ]
    assert "is not a 24-hour time" in contact_rules.problems("21:00", "8am", 4, 30)[0]
    assert contact_rules.problems("21:00", "21:00", 4, 30) == [
        "quiet hours cannot be empty (start equals end)"
    ]
    assert contact_rules.problems("23:00", "08:00", 4, 30) == [
        "quiet hours must cover at least 22:00-07:00 local time"
    ]
    assert contact_rules.problems("08:00", "21:00", 4, 30) == [
        "quiet hours must cover at least 22:00-07:00 local time"
    ]
    assert len(contact_rules.problems("21:00", "08:00", 0, 0)) == 2
    assert contact_rules.parse_clock("07:05") == time(7, 5)
    assert contact_rules.parse_clock("7:05") is None


def _stop(**kw: object) -> Stop:
    base: dict[str, object] = {
        "kind": "pause",
        "unit_id": "u-1",
        "case_id": "case-1",
        "invoice_id": None,
        "stops_before": T,
        "reason": "paused",
    }
    return Stop(**{**base, **kw})  # type: ignore[arg-type]


def test_a_pause_stops_the_case_reminders_requested_before_its_end() -> None:
    stops = [_stop()]
    before = T - timedelta(hours=1)
    assert stopped_by("reminder", "u-1", "case-1", ["inv-a"], before, stops) == stops[0]
    assert stopped_by("reminder", "u-1", "case-1", ["inv-a"], T, stops) is None  # re-escalated
    assert stopped_by("reminder", "u-1", "case-2", ["inv-a"], before, stops) is None
    assert stopped_by("confirmation", "u-1", "case-1", [], before, stops) is None
    assert stopped_by("bill", "u-1", "inv-a", ["inv-a"], before, stops) is None


def test_an_invoice_pause_stops_only_reminders_about_that_invoice() -> None:
    stops = [_stop(invoice_id="inv-b")]
    before = T - timedelta(days=1)
    assert stopped_by("reminder", "u-1", "case-1", ["inv-a", "inv-b"], before, stops)
    assert stopped_by("reminder", "u-1", "case-1", ["inv-a"], before, stops) is None


def test_a_payment_stops_every_reminder_of_the_unit_queued_before_it() -> None:
    stops = [_stop(kind="payment", case_id=None, reason="paid")]
    assert stopped_by("reminder", "u-1", "case-9", [], T - timedelta(minutes=1), stops)
    assert stopped_by("reminder", "u-2", "case-9", [], T - timedelta(minutes=1), stops) is None
    assert stopped_by("receipt", "u-1", "pay-1", [], T - timedelta(minutes=1), stops) is None
