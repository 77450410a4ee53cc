"""Late fees (违约金): the one home of the rule, pure (time is an argument).

Simple daily interest on the unpaid principal, no compounding, at
min(contract daily rate, annual cap / 365): a contract rate above the cap is valid and accrues
at the cap, it is never refused (DOMAIN.md, "Decisions, December 2026"). Interest runs from the
day after max(due date, issue date): never before an invoice existed. A payment on day D stops
interest on the paid part from day D. Rounded half up once. (EXAMPLES.md, "Late fee".)

Billing's account replay uses :func:`accrued_late_fee`; payments asks a pay link for what is
owed that day with :func:`late_fee_on`, from the :class:`AccrualBasis` billing publishes on
``InvoiceBalanceChanged``, so both compute the same fen with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from propfee.money import round_half_up

#: The default annual cap: 1.3 x a 3.0% one-year LPR. The only place this number is written.
DEFAULT_ANNUAL_CAP = Decimal("0.039")


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
        return _effective_daily_rate(self.daily_rate, self.annual_cap)

    @property
    def capped(self) -> bool:
        """True when the contract's rate is above the cap and accrues at the cap instead."""
        return self.daily_rate is not None and Fraction(self.daily_rate) > self.effective_daily_rate


@lru_cache(maxsize=256)
def _effective_daily_rate(daily_rate: Decimal | None, annual_cap: Decimal) -> Fraction:
    """min(contract daily rate, annual cap / 365), exact; memoised (a Fraction from a Decimal
    costs microseconds, and an allocation of a month end's payments asks it per invoice)."""
    if daily_rate is None:
        return Fraction(0)
    return min(Fraction(daily_rate), Fraction(annual_cap) / 365)


def interest_starts(due_date: date, issued_on: date) -> date:
    """The first day that bears interest: the day after max(due date, issue date)."""
    return max(due_date, issued_on) + timedelta(days=1)


def principal_days(
    principal_fen: int, start: date, as_of: date, changes: Sequence[tuple[date, int]]
) -> int:
    """Σ over days from ``start`` to ``as_of`` of the principal unpaid that day, in fen-days.

    ``changes`` are (day, fen) reductions of principal (payments positive, reversals negative);
    a change on day D counts for day D.
    """
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
    start: date,
    as_of: date,
    terms: LateFeeTerms,
    changes: Sequence[tuple[date, int]] = (),
) -> int:
    """Late fee accrued on one invoice from ``start`` (see :func:`interest_starts`) up to and
    including ``as_of``."""
    if terms.daily_rate is None:
        return 0
    fen_days = principal_days(principal_fen, start, as_of, changes)
    return round_half_up(fen_days * terms.effective_daily_rate)


@dataclass(frozen=True, slots=True)
class AccrualBasis:
    """Enough to continue an invoice's late fee after the last balance change, without its
    history: ``fen_days`` counted from ``starts_on`` through ``through``; after that the
    unpaid principal bears interest each day up to ``stops_on`` (the limitation expiry of a
    time-barred invoice; None: no end). ``fixed_fen``: the late fee no longer grows (principal
    paid in full)."""

    terms: LateFeeTerms
    starts_on: date
    through: date
    fen_days: int
    principal_outstanding_fen: int
    stops_on: date | None = None
    fixed_fen: int | None = None


def late_fee_on(basis: AccrualBasis, day: date) -> int:
    """The late fee accrued up to and including ``day`` (before payments and waivers)."""
    if basis.fixed_fen is not None:
        return basis.fixed_fen
    if basis.terms.daily_rate is None:
        return 0
    end = day if basis.stops_on is None else min(day, basis.stops_on)
    first = max(basis.through + timedelta(days=1), basis.starts_on)
    extra = max((end - first).days + 1, 0) * max(basis.principal_outstanding_fen, 0)
    return round_half_up((basis.fen_days + extra) * basis.terms.effective_daily_rate)
