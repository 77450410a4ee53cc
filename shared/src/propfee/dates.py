"""Calendar periods by the month, as the law counts them (pure; time is an argument).

Civil Code art. 202: a period counted in months ends on the corresponding day of the target
month; when that month has no such day, on its last day. DOMAIN.md ("Decisions, December
2026") settles the month-end case: a period that starts on the last day of a month ends on the
last day of the target month (due 03-31, as of 09-30 = 6 months; due 02-28, a month ends on
03-31, not 03-28).

``months_overdue`` is the one home of "months overdue" in Python for every service; the
dunning sweep runs the same rule set-based as the SQL function ``dunning_months_overdue``
(dunning migration 0012), and one example table is run against both (dunning's
``tests/integration/test_rules_in_sql.py``).
"""

from __future__ import annotations

from datetime import date, timedelta


def is_month_end(day: date) -> bool:
    """Whether ``day`` is the last day of its month."""
    return (day + timedelta(days=1)).day == 1


def months_overdue(due: date, as_of: date) -> int:
    """Whole months from ``due`` to ``as_of`` (0 before a month has passed, or before due).

    n months have passed on the n-th month's corresponding day of ``due``; on that month's
    last day when it has no such day (due 01-31, as of 02-28 = 1); and, when ``due`` is itself
    a month's last day, only on the target month's last day (due 02-28, as of 03-30 = 0,
    as of 03-31 = 1)."""
    months = (as_of.year - due.year) * 12 + (as_of.month - due.month)
    if is_month_end(as_of):
        pass  # the target month's last day completes the month, whatever ``due``'s day
    elif is_month_end(due) or as_of.day < due.day:
        months -= 1
    return max(months, 0)
