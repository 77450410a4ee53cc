"""When a community's billing run is due (pure): its schedule, read from its row, and a day.

A community bills on a cycle (monthly, quarterly, half-yearly, yearly). Periods are aligned on
the calendar year: a quarterly community's periods start on 1 January, 1 April, 1 July and
1 October, a half-yearly one's on 1 January and 1 July. The run of the period containing a day
is *due* from the schedule's ``run_day`` of that period on (day 1 = the period's first day,
at most 28 so every month has it) until the period ends, and *missing* while it is due and
no run of that period and cycle exists.

A community whose service contract ends before the period does (``contract_end``) has no run
due: billing would refuse it (advance collection stops at the contract's end, ``advance``).
A community with ``enabled`` false is billed by hand: no run is ever due by the schedule.

This module is the rule's one home: ``POST /billing-runs/due`` starts what it says is due, and
``propfee_billing_runs_missing`` counts what it says is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from billing.domain.calendar import Period
from billing.domain.charges import CYCLE_MONTHS, Cycle

#: The latest day of a period a run may be due on: every month has it.
LAST_RUN_DAY = 28


@dataclass(frozen=True, slots=True)
class RunSchedule:
    cycle: Cycle = "monthly"
    run_day: int = 1
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.cycle not in CYCLE_MONTHS:
            raise ValueError(f"cycle: one of {', '.join(CYCLE_MONTHS)}")
        if not 1 <= self.run_day <= LAST_RUN_DAY:
            raise ValueError(f"run_day: between 1 and {LAST_RUN_DAY}")


def current_period(day: date, cycle: Cycle) -> Period:
    """The period of ``cycle`` containing ``day``, aligned on the calendar year."""
    months = CYCLE_MONTHS[cycle]
    first_month = (day.month - 1) // months * months + 1
    return Period.of_months(date(day.year, first_month, 1), months)


def due_on(schedule: RunSchedule, day: date) -> date:
    """The day the run of ``day``'s period falls due."""
    return current_period(day, schedule.cycle).start + timedelta(days=schedule.run_day - 1)


def run_due(schedule: RunSchedule, day: date, contract_end: date | None = None) -> Period | None:
    """The period whose run is due on ``day``, or None (not yet, disabled, contract over)."""
    if not schedule.enabled:
        return None
    period = current_period(day, schedule.cycle)
    if contract_end is not None and contract_end < period.end:
        return None
    return period if day >= due_on(schedule, day) else None
