"""Advance collection is capped (预收物业费, pure): no bill, on any path, for a period ending
later than ``advance_cap_months`` ahead of the day it is recorded (default 12 months), nor past
the service contract's end.

The window is counted from the day of recording: the community's today for staff, the
simulation clock's day for the service role. A date the caller chooses (a run's ``as_of``, an
invoice's ``issued_at``) never moves it into the future.
"""

from __future__ import annotations

from datetime import date

from billing.domain.calendar import add_months, month_end


class AdvanceCapError(ValueError):
    """A period that would collect too far in advance; the message says the limit."""


def advance_limit(recorded_on: date, cap_months: int, contract_end: date | None) -> date:
    """The last day a bill recorded on ``recorded_on`` may cover."""
    limit = month_end(add_months(recorded_on, cap_months))
    return limit if contract_end is None else min(limit, contract_end)


def check_advance(
    period_end: date, recorded_on: date, cap_months: int, contract_end: date | None
) -> None:
    limit = month_end(add_months(recorded_on, cap_months))
    if period_end > limit:
        raise AdvanceCapError(
            f"period_end: {period_end} is more than {cap_months} months ahead of "
            f"{recorded_on} (advance collection is capped at {limit})"
        )
    if contract_end is not None and period_end > contract_end:
        raise AdvanceCapError(
            f"period_end: {period_end} is past the service contract's end {contract_end}"
        )
