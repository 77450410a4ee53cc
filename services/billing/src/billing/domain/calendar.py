"""Month arithmetic for billing periods (pure). Periods are whole calendar months."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: from the first day of a month to the last day of a month."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start != month_start(self.start) or self.end != month_end(self.end):
            raise ValueError("a billing period runs from a month's first day to a month's last")
        if self.end < self.start:
            raise ValueError("period_end is before period_start")

    @classmethod
    def of_months(cls, first_month: date, months: int) -> Period:
        start = month_start(first_month)
        return cls(start, month_end(add_months(start, months - 1)))

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    def each_month(self) -> Iterator[date]:
        """The first day of every month in the period."""
        for i in range(self.months):
            yield add_months(self.start, i)

    def days(self) -> int:
        return (self.end - self.start).days + 1


def next_day(day: date) -> date:
    return day + timedelta(days=1)
