"""The pay-by date a message states (issue 19: a real date, never 近日).

The rule, in order:

1. the date the event gives (a demand's deadline from dunning, a bill's due date, a promised
   date, an installment's due date);
2. a notice before the due date (``days_overdue <= 0``): the due date itself;
3. otherwise (a reminder whose stage sets no deadline): the day the reminder was asked for,
   in the community's time zone, plus ``within_days`` (``NOTIFIER_REMINDER_PAY_WITHIN_DAYS``,
   7 by default: a week from the reminder, as the default ladder's next step comes a week
   later).

None only when none of these can be known (no date and no request instant): the renderer
then refuses the message rather than write an empty deadline.
"""

from __future__ import annotations

from datetime import date, timedelta


def pay_by(
    *,
    deadline: date | None,
    due_date: date | None,
    days_overdue: int | None,
    requested_on: date | None,
    within_days: int,
) -> date | None:
    if deadline is not None:
        return deadline
    if due_date is not None and days_overdue is not None and days_overdue <= 0:
        return due_date
    if requested_on is not None:
        return requested_on + timedelta(days=within_days)
    return None
