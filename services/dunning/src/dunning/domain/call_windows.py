"""When staff may phone a household: 18:00–20:00 on workdays, 10:00–17:00 on weekends and
public holidays, by the Chinese calendar with its make-up workdays (调休), in local time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

WORKDAY_WINDOW = (time(18, 0), time(20, 0))
RESTDAY_WINDOW = (time(10, 0), time(17, 0))


def is_workday(day: date) -> bool:
    """Chinese calendar when it knows the year; Monday–Friday otherwise."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def window_of(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = WORKDAY_WINDOW if is_workday(day) else RESTDAY_WINDOW
    return datetime.combine(day, start, tz), datetime.combine(day, end, tz)


def call_allowed(at: datetime, tz: ZoneInfo) -> bool:
    start, end = window_of(at.astimezone(tz).date(), tz)
    return start <= at < end


def next_call_window(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The window in force at ``at``, or the next one to open."""
    day = at.astimezone(tz).date()
    for offset in range(0, 8):
        start, end = window_of(day + timedelta(days=offset), tz)
        if at < end:
            return max(start, at), end
    raise AssertionError("a call window opens every day")  # pragma: no cover
