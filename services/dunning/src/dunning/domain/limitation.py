"""The limitation clock of one overdue invoice (诉讼时效, Civil Code art. 188, 195).

Three years from the due date; restarted by an individually delivered demand, an
acknowledgement (a signed promise to pay), a part payment of that invoice or a payment plan.
A notice-board or group-chat post restarts nothing. A restart counts only while the clock
still runs; the result does not depend on the order in which restarts are learnt.

This is the production home of the clock's last day (``service_layer/limitation.py`` stores
it on each receivable). The state on a given day (running, alert six months before, expired)
is the SQL function ``dunning_limitation_state`` (migration 0012) the sweep's limitation
alerts use; its example table runs in PostgreSQL (tests/integration/test_rules_in_sql.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

RESTARTING_KINDS = frozenset(
    {"delivered_demand", "acknowledgement", "part_payment", "payment_plan"}
)
LIMITATION_YEARS = 3


@dataclass(frozen=True, slots=True)
class Restart:
    kind: str  # delivered_demand | acknowledgement | part_payment | payment_plan | (ignored kinds)
    on: date


def add_months(day: date, months: int) -> date:
    """Calendar months later (or earlier); the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError(f"cannot shift {day} by {months} months")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Clock:
    """The state of one invoice's clock, as dunning publishes it (LimitationClockChanged):
    the due date it runs from, the last day of the period, and the restart that set it (None:
    it runs from the due date)."""

    due_date: date
    expires_on: date
    last_restart_on: date | None = None


def limitation_clock(due_date: date, restarts: Iterable[Restart] = ()) -> Clock:
    """The clock of an invoice due on ``due_date`` given everything that may have restarted
    it, in any order: ``expires_on`` is three years after the due date or after the last
    restart that counted, which ``last_restart_on`` names."""
    expires = add_months(due_date, 12 * LIMITATION_YEARS)
    last: date | None = None
    for restart in sorted(restarts, key=lambda r: r.on):
        if restart.kind not in RESTARTING_KINDS or restart.on < due_date:
            continue
        if restart.on > expires:
            break  # expired before this event: it cannot revive the clock
        # Restarts come in date order, so each one that counts sets the expiry anew.
        expires = max(expires, add_months(restart.on, 12 * LIMITATION_YEARS))
        last = restart.on
    return Clock(due_date, expires, last)


def limitation_expires_on(due_date: date, restarts: Iterable[Restart] = ()) -> date:
    """The last day of the limitation period (Civil Code art. 201-203: the day of the due date
    does not count, the period ends on the corresponding day, at its end); from the day after,
    the claim is 'voluntary payment only'. The same reading as billing's (the published
    ``LimitationClockChanged.expires_on``)."""
    return limitation_clock(due_date, restarts).expires_on
