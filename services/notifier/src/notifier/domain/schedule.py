"""When a message may go out: quiet hours in the community's time zone and per-person caps.

Pure functions over instants; the caller passes the as-of instant. Nothing is ever dropped:
a message inside the quiet hours or over the cap is given the next instant it may be sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from propfee import contact_rules


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which nobody is contacted; ``start > end`` wraps midnight (21:00-08:00)."""

    start: time = contact_rules.QUIET_START
    end: time = contact_rules.QUIET_END

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``limit`` reminder occasions per person in any rolling ``window``."""

    limit: int = contact_rules.REMINDER_CAP
    window: timedelta = timedelta(days=contact_rules.REMINDER_CAP_WINDOW_DAYS)


def after_quiet_hours(at: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """``at`` itself when outside the quiet hours, else the instant they end (local time)."""
    local = at.astimezone(zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return at
    end_day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        end_day += timedelta(days=1)
    end = datetime.combine(end_day, quiet.end, tzinfo=zone)
    return end.astimezone(at.tzinfo)


def after_cap(at: datetime, sent: Iterable[datetime], cap: FrequencyCap) -> datetime:
    """``at`` when fewer than ``cap.limit`` occasions fall in the window ending at ``at``;
    otherwise the instant the oldest of the last ``limit`` occasions leaves the window."""
    if cap.limit <= 0:
        raise ValueError("a frequency cap must allow at least one message")
    in_window = sorted(s for s in sent if at - cap.window < s <= at)
    if len(in_window) < cap.limit:
        return at
    return in_window[-cap.limit] + cap.window


def earliest_send(
    at: datetime,
    zone: ZoneInfo,
    quiet: QuietHours,
    cap: FrequencyCap | None = None,
    sent: Iterable[datetime] = (),
) -> datetime:
    """The first instant at or after ``at`` that is outside the quiet hours and under the cap."""
    history = list(sent)
    candidate = at
    for _ in range(100):  # both steps only move forward; a fixed point comes quickly
        moved = after_cap(candidate, history, cap) if cap is not None else candidate
        moved = after_quiet_hours(moved, zone, quiet)
        if moved == candidate:
            return candidate
        candidate = moved
    raise RuntimeError("no allowed send time found")  # pragma: no cover - unreachable


def retry_delay(attempt: int, initial: timedelta, maximum: timedelta) -> timedelta:
    """Exponential backoff after the ``attempt``-th failed try (1-based), capped."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    delay: timedelta = initial * (2 ** (attempt - 1))
    return min(delay, maximum)
