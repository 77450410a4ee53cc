"""Who pays a unit, and from when, around a handover or a change of owner (pure).

DOMAIN.md: the developer pays for a unit until it is handed over, **through the whole month of
handover**; the buyer pays from the first day of the next month. A change of owner splits the
same way: the seller pays through the month of the sale, the buyer from the month after. A
month is never split between two payers, so a run never prorates a handover or a sale.

A ledger (台账) row, or a unit registered over the API, states the unit's status, who pays
(缴费责任人) and perhaps its handover day; :func:`initial_ties` turns that into the unit's
ties (who is tied, as what, whether they pay, over which days):

- an unsold unit, or one the ledger says the developer pays: the developer pays, open-ended;
  its owner (a buyer named before handover) is not tied yet, it is tied at handover;
- a unit handed over on a known day: the developer pays through that month, the owner (or
  the tenant, if the ledger says the tenant pays) from the next month;
- otherwise the owner or tenant the ledger names pays since ``EARLIEST`` (before Propfee).

A tenant named in the ledger is always tied (paying only when the ledger says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from billing.domain.calendar import add_months, month_end, month_start

#: Ties that began before anything Propfee knows: "always" for billing's purposes.
EARLIEST = date(2000, 1, 1)

Role = Literal["developer", "owner", "tenant"]


@dataclass(frozen=True)
class Tie:
    """A party's tie to a unit: its role, whether it pays, and the days it holds."""

    role: Role
    pays: bool
    valid_from: date
    valid_to: date | None = None


def old_payer_until(day: date) -> date:
    """The last day the developer (at handover) or the seller (at a sale) pays: the end of
    the month of ``day``."""
    return month_end(day)


def new_payer_from(day: date) -> date:
    """The first day the buyer pays after a handover or a sale on ``day``: the first day of
    the next month."""
    return add_months(month_start(day), 1)


def initial_ties(
    *,
    status: str,
    payer: str,
    handover_date: date | None,
    has_owner: bool,
    has_tenant: bool,
) -> tuple[Tie, ...]:
    """The ties of a unit when it is registered, from a ledger row or over the API (see the
    module docstring); ``status`` is occupied / vacant / unsold, ``payer`` owner / tenant /
    developer."""
    developer_pays = status == "unsold" or payer == "developer"
    since = new_payer_from(handover_date) if handover_date else EARLIEST
    ties: list[Tie] = []
    if developer_pays:
        ties.append(Tie("developer", True, EARLIEST))
    elif handover_date is not None:
        ties.append(Tie("developer", True, EARLIEST, old_payer_until(handover_date)))
    if has_owner and not developer_pays:
        ties.append(Tie("owner", payer == "owner", since))
    if has_tenant:
        ties.append(Tie("tenant", payer == "tenant", since))
    return tuple(ties)
