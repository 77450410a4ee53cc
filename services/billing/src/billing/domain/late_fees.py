"""Late fees (违约金), only where the contract sets a rate (pure).

Simple daily interest on the unpaid principal from the day after the due date, no
compounding, at min(contract daily rate, annual cap / 365). A payment on day D stops interest
on the paid part from day D. Rounded half up once. (EXAMPLES.md, "Late fee".)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from billing.domain.charges import round_half_up

DEFAULT_ANNUAL_CAP = Decimal("0.039")  # 1.3 x a 3.0% one-year LPR


class LateFeeTermsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LateFeeTerms:
    daily_rate: Decimal | None = None  # from the service contract; None: no late fee at all
    annual_cap: Decimal = DEFAULT_ANNUAL_CAP

    def __post_init__(self) -> None:
        if self.daily_rate is not None and not (0 <= self.daily_rate < 1):
            raise LateFeeTermsError("late-fee daily rate must be between 0 and 1")
        if not (0 <= self.annual_cap < 1):
            raise LateFeeTermsError("late-fee annual cap must be between 0 and 1")

    @property
    def effective_daily_rate(self) -> Fraction:
        if self.daily_rate is None:
            return Fraction(0)
        return min(Fraction(self.daily_rate), Fraction(self.annual_cap) / 365)


def validate_contract_rate(daily_rate: Decimal, annual_cap: Decimal) -> None:
    """A contract rate above the cap is refused when configured, not silently cut later."""
    if daily_rate * 365 > annual_cap:
        raise LateFeeTermsError(
            f"late_fee_daily_rate: {daily_rate} a day is {daily_rate * 365:.4f} a year, above the "
            f"cap of {annual_cap} a year"
        )


def principal_days(
    principal_fen: int, due_date: date, as_of: date, changes: Sequence[tuple[date, int]]
) -> int:
    """Σ over days from due_date+1 to as_of of the principal unpaid that day, in fen-days.

    ``changes`` are (day, fen) reductions of principal (payments positive, reversals negative);
    a change on day D counts for day D.
    """
    start = due_date + timedelta(days=1)
    if as_of < start:
        return 0
    total = 0
    unpaid = principal_fen - sum(fen for day, fen in changes if day < start)
    cursor = start
    for day, fen in sorted((d, f) for d, f in changes if start <= d <= as_of):
        total += max(unpaid, 0) * (day - cursor).days
        unpaid -= fen
        cursor = day
    total += max(unpaid, 0) * ((as_of - cursor).days + 1)
    return total


def accrued_late_fee(
    principal_fen: int,
    due_date: date,
    as_of: date,
    terms: LateFeeTerms,
    changes: Sequence[tuple[date, int]] = (),
) -> int:
    """Late fee accrued on one invoice up to and including ``as_of``."""
    if terms.daily_rate is None:
        return 0
    fen_days = principal_days(principal_fen, due_date, as_of, changes)
    return round_half_up(fen_days * terms.effective_daily_rate)
