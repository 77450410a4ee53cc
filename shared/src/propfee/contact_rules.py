"""The contact rules' defaults: one home for every service (Civil Code art. 1033, no
harassment; EXAMPLES.md "Quiet hours and caps").

Notifier decides when a message may go (its dispatcher applies a community's quiet hours and
the per-person cap); dunning decides whether a stage is due (its sweep defers a due stage in
the policy's quiet hours or over the cap, never drops it). Both start from these defaults, and
both refuse a quiet window that does not cover the core of the night. No other module defines
them (``tests/unit/test_one_home.py`` of dunning fails on a second definition).
"""

from __future__ import annotations

from datetime import time

#: Local quiet hours when a community or policy set none: 21:00-08:00 (overnight).
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
#: Local hours every quiet window must contain, whatever a community chooses: 22:00-07:00.
QUIET_CORE_START = time(22, 0)
QUIET_CORE_END = time(7, 0)
#: The reminder cap when none is set: 4 reminders per person in any rolling 30 days.
REMINDER_CAP = 4
REMINDER_CAP_WINDOW_DAYS = 30
