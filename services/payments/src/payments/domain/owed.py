"""What a household owes on a day, as a pay link asks for it (pure: the day is an argument).

An invoice is owed as its unpaid principal plus the late fee accrued up to the day before the
payment day, less what was paid or waived of the fee. Billing allocates the same way: a
payment on day D owes late fees accrued up to D - 1 (the payment itself stops interest on day
D). The fee comes from the one home of the rule, :func:`propfee.late_fees.late_fee_on`, over
the :class:`~propfee.late_fees.AccrualBasis` billing last published for the invoice
(``InvoiceBalanceChanged.late_fee_basis``); before any balance change the basis is the
community's contract terms from the invoice's ``interest_from`` over the whole total
(:func:`accrual_basis`). DOMAIN.md, "Decisions, December 2026": *pay links ask for what is
owed that day*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

from propfee.events import LateFeeBasis
from propfee.late_fees import AccrualBasis, LateFeeTerms, late_fee_on

Collection = Literal["property", "utilities"]
#: What payments knows of an invoice's state: ``open`` can be paid; the others cannot.
InvoiceState = Literal["open", "paid", "void", "written_off"]


def accrual_basis(
    *,
    total_fen: int,
    interest_from: date | None,
    community_terms: LateFeeTerms | None,
    balance_known: bool,
    published: LateFeeBasis | None,
    reported_late_fee_fen: int = 0,
) -> AccrualBasis | None:
    """How the invoice's late fee grows, from what payments was told (None: it bears none).

    - a balance change with its basis: that basis, as billing computes it;
    - a balance change without one (a billing that does not publish it yet): the late fee
      billing reported then, no accrual since (an under-ask the payer's next statement shows);
    - no balance change yet: the community's contract terms from ``interest_from`` (the first
      day bearing interest) over the whole total; none when either is unknown.
    """
    if published is not None:
        return published.accrual()
    if balance_known:
        if reported_late_fee_fen <= 0:
            return None
        start = interest_from or date.min
        return AccrualBasis(LateFeeTerms(), start, start, 0, 0, fixed_fen=reported_late_fee_fen)
    if interest_from is None or community_terms is None or community_terms.daily_rate is None:
        return None
    return AccrualBasis(
        terms=community_terms,
        starts_on=interest_from,
        through=interest_from - timedelta(days=1),
        fen_days=0,
        principal_outstanding_fen=total_fen,
    )


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An invoice of billing's as payments' read model knows it."""

    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    total_fen: int
    #: Unpaid principal (None: nothing paid yet, the whole total).
    principal_outstanding_fen: int | None = None
    late_fee_paid_fen: int = 0
    late_fee_waived_fen: int = 0
    basis: AccrualBasis | None = None
    collection: Collection = "property"
    state: InvoiceState = "open"
    #: Past its limitation date: paid only when the payer names it.
    time_barred: bool = False

    @property
    def principal_fen(self) -> int:
        if self.principal_outstanding_fen is None:
            return self.total_fen
        return self.principal_outstanding_fen


def late_fee_owed(invoice: OpenInvoice, day: date) -> int:
    """The open late fee of a payment made on ``day``: accrued up to ``day - 1``, less what
    was paid or waived of it (never below zero)."""
    if invoice.basis is None:
        return 0
    accrued = late_fee_on(invoice.basis, day - timedelta(days=1))
    return max(accrued - invoice.late_fee_paid_fen - invoice.late_fee_waived_fen, 0)


def amount_owed(invoice: OpenInvoice, day: date) -> int:
    """What paying the invoice in full on ``day`` takes: unpaid principal plus open late fee."""
    if invoice.state != "open":
        return 0
    return max(invoice.principal_fen, 0) + late_fee_owed(invoice, day)


def grows_overnight(invoice: OpenInvoice, day: date) -> bool:
    """True when the same invoice paid on the next day would owe more (its fee accrues)."""
    return amount_owed(invoice, day + timedelta(days=1)) != amount_owed(invoice, day)


def local_day(at: datetime, time_zone: str) -> date:
    """The community's calendar day at an instant."""
    return at.astimezone(ZoneInfo(time_zone)).date()


def end_of_local_day(day: date, time_zone: str) -> datetime:
    """The instant the community's ``day`` ends (its next local midnight)."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(time_zone))


def months_spanned(first: date, last: date) -> int:
    """Calendar months from ``first``'s month to ``last``'s, both counted (0 if last < first)."""
    if last < first:
        return 0
    return (last.year - first.year) * 12 + last.month - first.month + 1


def monthly_charge(period_start: date, period_end: date, total_fen: int) -> Fraction:
    """A regular invoice's total per month of its period (a quarter's bill / 3)."""
    return Fraction(total_fen, max(months_spanned(period_start, period_end), 1))
