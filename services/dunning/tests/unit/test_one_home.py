"""One home per rule (issue 18): the contact rules' defaults are defined once, in
``propfee.contact_rules``, for notifier and dunning alike; the rules the sweep runs in SQL
have no Python twin left (their example tables run against the SQL functions, in
tests/integration/test_rules_in_sql.py); months overdue have one Python home."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

from dunning.domain.cadence import QuietHours
from dunning.domain.policy import QUIET_MUST_COVER, Policy
from notifier.domain.contact_rules import NIGHT_CORE
from notifier.domain.schedule import FrequencyCap
from notifier.domain.schedule import QuietHours as NotifierQuietHours
from notifier.settings import NotifierSettings
from propfee import contact_rules

ROOT = Path(__file__).resolve().parents[4]

#: A second definition of a contact-rule default: a literal quiet hour, a cap of 4, a window
#: of 30 days given to a cap.
DEFAULTS = [
    re.compile(r"time\((21|8|22|7), 0\)"),
    re.compile(r"[\"'](21|08|22|07):00[\"']"),
    re.compile(r"\b(reminder_cap|limit|cap)\w*\s*(:\s*[\w| ]+)?=\s*4\b"),
    re.compile(r"\b(window|cap_window)\w*\s*(:\s*[\w| ]+)?=\s*(timedelta\(days=)?30\b"),
]
#: Python twins of rules whose production home is SQL (or, for months, propfee.dates).
TWINS = [
    re.compile(r"def tier_of\b"),
    re.compile(r"class ReminderCap\b"),
    re.compile(r"def earliest_send\b"),
    re.compile(r"def clock_state\b"),
    re.compile(r"def alert_on\b"),
    re.compile(r"def (months_overdue|whole_months_between)\b"),
]


def _sources() -> list[Path]:
    return [
        p
        for d in ("services", "shared")
        for p in (ROOT / d).rglob("*.py")
        if "/tests/" not in str(p) and ".venv" not in p.parts
    ]


def test_the_contact_rules_defaults_are_defined_once() -> None:
    found = {
        str(p.relative_to(ROOT))
        for p in _sources()
        for pattern in DEFAULTS
        if pattern.search(p.read_text(encoding="utf-8"))
    }
    assert found == {"shared/src/propfee/contact_rules.py"}


def test_notifier_and_dunning_start_from_the_same_defaults() -> None:
    quiet = (contact_rules.QUIET_START, contact_rules.QUIET_END)
    assert quiet == (time(21, 0), time(8, 0))  # EXAMPLES.md "Quiet hours and caps"
    assert (QuietHours().start, QuietHours().end) == quiet
    assert (NotifierQuietHours().start, NotifierQuietHours().end) == quiet
    settings = NotifierSettings()
    assert (settings.quiet_start, settings.quiet_end) == quiet
    policy = Policy(stages=[])
    assert (policy.quiet_start, policy.quiet_end) == ("21:00", "08:00")
    cap = (contact_rules.REMINDER_CAP, contact_rules.REMINDER_CAP_WINDOW_DAYS)
    assert cap == (4, 30)
    assert (policy.reminder_cap, policy.reminder_cap_window_days) == cap
    assert (settings.reminder_cap, settings.reminder_cap_window_days) == cap
    assert (FrequencyCap().limit, FrequencyCap().window.days) == cap
    core = (contact_rules.QUIET_CORE_START, contact_rules.QUIET_CORE_END)
    assert QUIET_MUST_COVER == core and (NIGHT_CORE.start, NIGHT_CORE.end) == core


def test_no_python_twin_of_a_rule_whose_home_is_sql() -> None:
    found = sorted(
        str(p.relative_to(ROOT))
        for p in _sources()
        for pattern in TWINS
        if pattern.search(p.read_text(encoding="utf-8"))
    )
    # notifier's earliest_send is the production home of "when a message may go" (its
    # dispatcher); dunning's own copy, a test-only twin, is gone.
    assert found == [
        "services/notifier/src/notifier/domain/schedule.py",
        "shared/src/propfee/dates.py",
    ]
