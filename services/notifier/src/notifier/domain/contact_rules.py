"""Quiet hours and the reminder cap of one community (pure): validation of what staff set.

The law asks for quiet hours (Civil Code art. 1033, company policy default 21:00-08:00), so
they cannot be switched off: the window must be non-empty and cover the core of the night
(22:00-07:00 local) whatever a community chooses; the cap allows at least one reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from notifier.domain.schedule import FrequencyCap, QuietHours
from propfee import contact_rules as shared

#: Local hours every community's quiet window must contain.
NIGHT_CORE = QuietHours(shared.QUIET_CORE_START, shared.QUIET_CORE_END)
MAX_CAP = 31
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True, slots=True)
class ContactRules:
    quiet: QuietHours
    cap: FrequencyCap


def parse_clock(text: str) -> time | None:
    """'HH:MM' (24-hour, minute precision) or None when it is not one."""
    parts = text.split(":")
    if len(parts) != 2 or not all(len(p) == 2 and p.isdigit() for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _minutes(quiet: QuietHours) -> set[int]:
    return {m for m in range(24 * 60) if quiet.contains(time(m // 60, m % 60))}


def problems(quiet_start: str, quiet_end: str, cap: int, window_days: int) -> list[str]:
    """Every reason to refuse these rules; empty when they may be saved."""
    found: list[str] = []
    start, end = parse_clock(quiet_start), parse_clock(quiet_end)
    if start is None:
        found.append(f"quiet_start {quiet_start!r} is not a 24-hour time HH:MM")
    if end is None:
        found.append(f"quiet_end {quiet_end!r} is not a 24-hour time HH:MM")
    if start is not None and end is not None:
        if start == end:
            found.append("quiet hours cannot be empty (start equals end)")
        elif not _minutes(NIGHT_CORE) <= _minutes(QuietHours(start, end)):
            found.append("quiet hours must cover at least 22:00-07:00 local time")
    if not 1 <= cap <= MAX_CAP:
        found.append(f"reminder_cap must be between 1 and {MAX_CAP}")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        found.append(f"cap_window_days must be between 1 and {MAX_WINDOW_DAYS}")
    return found


def rules(quiet_start: time, quiet_end: time, cap: int, window_days: int) -> ContactRules:
    return ContactRules(
        QuietHours(quiet_start, quiet_end), FrequencyCap(cap, timedelta(days=window_days))
    )
