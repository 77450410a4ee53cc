"""The advance-collection cap on prepayments (预收上限), pure (the day is an argument).

Money paid on account beyond what the household owes today is a prepayment of fees not yet
billed. It may cover at most ``advance_cap_months`` (the community's, default 12) of the
unit's regular monthly charge, and never months past the contract end (issue 17, rule 7).
The months counted start after the last regular invoice's period (or today, if later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from payments.domain.orders import OrderError
from payments.domain.owed import monthly_charge, months_spanned
from propfee.money import format_yuan, round_half_up

#: Months ahead a community may collect when billing names no cap.
DEFAULT_ADVANCE_CAP_MONTHS = 12


@dataclass(frozen=True, slots=True)
class RegularInvoice:
    """The unit's latest regular property invoice (not utilities, not opening arrears)."""

    period_start: date
    period_end: date
    total_fen: int

    @property
    def monthly_fen(self) -> Fraction:
        return monthly_charge(self.period_start, self.period_end, self.total_fen)


@dataclass(frozen=True, slots=True)
class AdvanceCap:
    months: int = DEFAULT_ADVANCE_CAP_MONTHS
    contract_end: date | None = None


def advance_months(cap: AdvanceCap, latest: RegularInvoice, day: date) -> int:
    """How many months may be collected ahead on ``day``: the cap, cut at the contract end."""
    first = max(latest.period_end + timedelta(days=1), day)
    if cap.contract_end is None:
        return max(cap.months, 0)
    return max(min(cap.months, months_spanned(first, cap.contract_end)), 0)


def advance_limit_fen(cap: AdvanceCap, latest: RegularInvoice, day: date) -> int:
    return round_half_up(latest.monthly_fen * advance_months(cap, latest, day))


def check_prepayment(
    amount_fen: int,
    *,
    owed_fen: int,
    credit_fen: int,
    latest: RegularInvoice | None,
    cap: AdvanceCap,
    day: date,
) -> None:
    """Refuse (``OrderError``) a payment on account that would leave more on account than the
    cap allows: ``credit_fen`` already there plus what ``amount_fen`` leaves after paying the
    ``owed_fen`` an unnamed payment pays today. ``latest`` None: the unit's charge is not known
    yet (no regular invoice); the cap cannot be measured and the payment is taken."""
    if latest is None:
        return
    on_account = credit_fen + amount_fen - owed_fen
    limit = advance_limit_fen(cap, latest, day)
    if on_account <= limit:
        return
    months = advance_months(cap, latest, day)
    why = f"{cap.months} months ahead"
    if cap.contract_end is not None and months < cap.months:
        why = f"{months} months ahead (the service contract ends on {cap.contract_end})"
    most = max(limit - credit_fen + owed_fen, 0)
    raise OrderError(
        f"advance collection is capped at {why}: {format_yuan(limit)} yuan at "
        f"{format_yuan(round_half_up(latest.monthly_fen))} yuan a month; this payment would "
        f"leave {format_yuan(on_account)} yuan on account (owed today "
        f"{format_yuan(owed_fen)}, already on account {format_yuan(credit_fen)}); at most "
        f"{format_yuan(most)} yuan can be paid on account now"
    )
