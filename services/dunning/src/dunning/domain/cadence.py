"""Quiet hours and the reminder cap (Civil Code art. 1033: no harassment).

A reminder that would break either is deferred to the first instant both allow, never
dropped. Quiet hours are in the community's local time; the cap counts reminders to one payer
in any rolling window (default 4 in 30 days).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)

    def is_quiet(self, at: datetime, tz: ZoneInfo) -> bool:
        local = at.astimezone(tz).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, tz: ZoneInfo) -> datetime:
        """``at`` itself when it is not quiet, else the end of the quiet period."""
        if not self.is_quiet(at, tz):
            return at
        local = at.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tz)
        return end


@dataclass(frozen=True, slots=True)
class ReminderCap:
    limit: int = 4
    window: timedelta = timedelta(days=30)

    def next_allowed(self, at: datetime, sent: Sequence[datetime]) -> datetime:
        """``at`` when fewer than ``limit`` reminders fall in the window ending at ``at``; else
        the moment the oldest of them leaves the window."""
        recent = sorted(s for s in sent if at - self.window < s <= at)
        if len(recent) < self.limit:
            return at
        return recent[len(recent) - self.limit] + self.window


def earliest_send(
    at: datetime, tz: ZoneInfo, sent: Sequence[datetime], quiet: QuietHours, cap: ReminderCap
) -> datetime:
    """The first instant at or after ``at`` that respects both quiet hours and the cap."""
    candidate = at
    for _ in range(100):
        allowed = quiet.next_allowed(cap.next_allowed(candidate, sent), tz)
        if allowed == candidate:
            return candidate
        candidate = allowed
    raise AssertionError("quiet hours and cap never agree")  # pragma: no cover
