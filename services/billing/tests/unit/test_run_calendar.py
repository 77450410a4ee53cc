"""When a community's billing run is due (``billing.domain.run_calendar``), as an example table."""

from __future__ import annotations

from datetime import date

import pytest

from billing.domain.calendar import Period
from billing.domain.run_calendar import RunSchedule, current_period, due_on, run_due


@pytest.mark.parametrize(
    ("day", "cycle", "start", "end"),
    [
        (date(2025, 1, 1), "monthly", date(2025, 1, 1), date(2025, 1, 31)),
        (date(2024, 2, 29), "monthly", date(2024, 2, 1), date(2024, 2, 29)),
        (date(2025, 5, 17), "quarterly", date(2025, 4, 1), date(2025, 6, 30)),
        (date(2025, 12, 31), "quarterly", date(2025, 10, 1), date(2025, 12, 31)),
        (date(2025, 6, 30), "half_yearly", date(2025, 1, 1), date(2025, 6, 30)),
        (date(2025, 7, 1), "half_yearly", date(2025, 7, 1), date(2025, 12, 31)),
        (date(2025, 11, 3), "yearly", date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_periods_are_aligned_on_the_calendar_year(
    day: date, cycle: str, start: date, end: date
) -> None:
    assert current_period(day, cycle) == Period(start, end)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("schedule", "day", "contract_end", "due"),
    [
        # Monthly, due on the 1st (the default of every existing community).
        (RunSchedule(), date(2025, 3, 1), None, Period(date(2025, 3, 1), date(2025, 3, 31))),
        (RunSchedule(), date(2025, 3, 31), None, Period(date(2025, 3, 1), date(2025, 3, 31))),
        # Due on the 5th: not on the 4th, from the 5th to the period's end.
        (RunSchedule("monthly", 5), date(2025, 3, 4), None, None),
        (RunSchedule("monthly", 5), date(2025, 3, 5), None, Period(date(2025, 3, 1), date(2025, 3, 31))),
        # Quarterly on day 10 of the period (the quarter's first month).
        (RunSchedule("quarterly", 10), date(2025, 4, 9), None, None),
        (RunSchedule("quarterly", 10), date(2025, 5, 2), None, Period(date(2025, 4, 1), date(2025, 6, 30))),
        # 28 is the last day allowed: February has it.
        (RunSchedule("monthly", 28), date(2025, 2, 28), None, Period(date(2025, 2, 1), date(2025, 2, 28))),
        # Switched off: billed by hand, never due.
        (RunSchedule("monthly", 1, enabled=False), date(2025, 3, 20), None, None),
        # The contract ends before the period does: billing would refuse the run.
        (RunSchedule(), date(2025, 3, 20), date(2025, 3, 15), None),
        (RunSchedule(), date(2025, 3, 20), date(2025, 3, 31), Period(date(2025, 3, 1), date(2025, 3, 31))),
        (RunSchedule("yearly"), date(2025, 3, 20), date(2025, 6, 30), None),
    ],
)  # fmt: skip
def test_a_run_is_due_from_its_day_until_the_period_ends(
    schedule: RunSchedule, day: date, contract_end: date | None, due: Period | None
) -> None:
    assert run_due(schedule, day, contract_end) == due


def test_due_on_is_the_periods_day() -> None:
    assert due_on(RunSchedule("half_yearly", 3), date(2025, 9, 30)) == date(2025, 7, 3)


@pytest.mark.parametrize(
    ("cycle", "run_day"), [("weekly", 1), ("monthly", 0), ("monthly", 29), ("yearly", -1)]
)
def test_a_schedule_outside_the_rule_is_refused(cycle: str, run_day: int) -> None:
    with pytest.raises(ValueError):
        RunSchedule(cycle, run_day)  # type: ignore[arg-type]
