"""A household account replayed from its facts in business-time order (pure).

Invoices, payments, refunds, voids, waivers, write-offs and sales are applied in the order they
happened (their own timestamps), never in the order they arrived: any arrival order of the
same facts gives the same allocations. Time-driven changes (a prepayment discount that lapses)
happen at their own instant, but only up to ``until`` (the replay's "now"), so the replay stays
pure: time is an argument.

Allocation (the one home of the rule; DOMAIN.md "Decisions, December 2026"):

* Named invoices first (principal, then its late fee), in the order named.
* Then, for money not named: due utilities invoices (水电暖代收, collected for the supplier:
  arrears never block them), then due property-fee invoices (owner-friendly: principal of due
  invoices oldest due first, then their late fees; ``civil_code_561``: per invoice, late fee
  before principal, art. 561), then invoices not yet due (utilities first), oldest due first.
* The rest is credit (per payment, first in first out), which pays invoices as they are
  issued and whatever a lapse or a void makes payable, in the same order.
* A payment that names only utilities invoices never pays the property fee: its rest stays
  credit for utilities only.
* A time-barred invoice (the day after dunning's limitation clock expires) is paid only by a
  payment that names it; unnamed money and credit skip it, and its late fee stops growing after
  the expiry day.
* A sale (``SaleFact``) splits the account at ``sold_at``: every invoice issued before it, and
  every invoice whose payer is a seller, is the seller side; later invoices of others are the
  buyer side. From then the buyer's money (and money of a payer of buyer-side invoices) pays
  only buyer-side invoices, a seller's money only seller-side invoices, named or not. Credit on
  account at the sale is the seller's: ``transfer`` makes it the buyer's (it pays buyer-side
  invoices only: the buyer's account starts clean); ``refund`` freezes it until a refund of its
  payment takes it back.
* A prepayment discount (``prepay_discount_fen``) is kept only if the invoice's principal is
  paid in full by its due date (or its issue day if issued later); otherwise at the start of
  the first interest-bearing day the principal becomes the undiscounted amount.

Invariant (property-tested): payments - refunds == allocated + credit, for every account, and
no invoice is paid beyond its principal plus its late fee.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from operator import attrgetter
from typing import Literal
from zoneinfo import ZoneInfo

from propfee.late_fees import (
    AccrualBasis,
    LateFeeTerms,
    interest_starts,
    late_fee_on,
    principal_days,
)

AllocationOrder = Literal["owner_friendly", "civil_code_561"]
Component = Literal["principal", "late_fee"]
Collection = Literal["property", "utilities"]
Side = Literal["seller", "buyer"]
SellerCredit = Literal["refund", "transfer"]
COMPONENTS: tuple[Component, ...] = ("principal", "late_fee")
Status = Literal["issued", "partially_paid", "paid", "void", "written_off"]
OPEN: tuple[Status, ...] = ("issued", "partially_paid")
NO_LATE_FEE = LateFeeTerms()
_DUE_ORDER = attrgetter("due_date", "invoice_id")


class AccountError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class InvoiceFact:
    invoice_id: str
    due_date: date
    issued_at: datetime
    principal_fen: int
    voided_at: datetime | None = None
    written_off_at: datetime | None = None
    collection: Collection = "property"
    payer_party_id: str | None = None
    #: False: the invoice never bears a late fee (utilities without a contract term for them,
    #: a late fee the old system charged imported as its own fixed line).
    bears_late_fee: bool = True
    #: The prepayment discount granted on the invoice (positive fen; its lines are negative):
    #: kept only when the principal is paid in full by the due date.
    prepay_discount_fen: int = 0
    #: Last day of the limitation period (dunning's clock, with its restarts); from the next
    #: day the invoice is time-barred. None: no clock known.
    limitation_expires_on: date | None = None


@dataclass(frozen=True, slots=True)
class PaymentFact:
    payment_id: str
    amount_fen: int
    paid_at: datetime
    invoice_ids: tuple[str, ...] = ()
    payer_party_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefundFact:
    refund_id: str
    payment_id: str
    amount_fen: int
    refunded_at: datetime


@dataclass(frozen=True, slots=True)
class WaiverFact:
    """Late fee waived (in full up to ``amount_fen``) on one invoice, approved and audited."""

    invoice_id: str
    amount_fen: int
    waived_at: datetime


@dataclass(frozen=True, slots=True)
class SaleFact:
    """A change of owner (unit_sales): what the seller's credit becomes is an explicit choice."""

    sale_id: str
    sold_at: datetime
    seller_party_ids: tuple[str, ...]
    buyer_party_id: str
    seller_credit: SellerCredit


@dataclass(frozen=True, slots=True)
class Allocation:
    """One move of money between a payment and an invoice; reversals are negative."""

    payment_id: str
    invoice_id: str
    component: Component
    amount_fen: int
    at: datetime


@dataclass
class InvoiceBalance:
    invoice_id: str
    due_date: date
    #: The principal owed now: the billed total, plus a lapsed prepayment discount.
    principal_fen: int
    #: The first day bearing interest: the day after max(due date, issue date).
    interest_from: date
    collection: Collection = "property"
    payer_party_id: str | None = None
    bears_late_fee: bool = True
    prepay_discount_fen: int = 0
    discount_lapsed_fen: int = 0
    limitation_expires_on: date | None = None
    #: After a sale: whose invoice it is (None: no sale yet).
    side: Side | None = None
    principal_paid_fen: int = 0
    late_fee_paid_fen: int = 0
    late_fee_waived_fen: int = 0
    late_fee_fixed_fen: int | None = None  # once the principal is paid, interest stops
    status: Status = "issued"
    settled_at: datetime | None = None
    changes: list[tuple[date, int]] = field(default_factory=list)

    @property
    def principal_due_fen(self) -> int:
        return self.principal_fen - self.principal_paid_fen

    def time_barred(self, on: date) -> bool:
        """Past the limitation period on ``on``: paid only when named."""
        return self.limitation_expires_on is not None and on > self.limitation_expires_on

    def accrual_basis(self, on: date, terms: LateFeeTerms) -> AccrualBasis:
        """The late fee's state through ``on``: what billing publishes on a balance change
        and what :func:`late_fee_accrued` itself computes with (one rule, one code path)."""
        stops = self.limitation_expires_on
        through = on if stops is None else min(on, stops)
        return AccrualBasis(
            terms=terms if self.bears_late_fee else NO_LATE_FEE,
            starts_on=self.interest_from,
            through=on,
            fen_days=principal_days(self.principal_fen, self.interest_from, through, self.changes),
            principal_outstanding_fen=max(self.principal_due_fen, 0),
            stops_on=stops,
            fixed_fen=self.late_fee_fixed_fen,
        )

    def late_fee_accrued(self, on: date, terms: LateFeeTerms) -> int:
        if self.late_fee_fixed_fen is not None:
            return self.late_fee_fixed_fen
        if not self.bears_late_fee or terms.daily_rate is None:
            return 0
        return late_fee_on(self.accrual_basis(on, terms), on)

    def late_fee_due(self, on: date, terms: LateFeeTerms) -> int:
        owed = self.late_fee_accrued(on, terms) - self.late_fee_paid_fen - self.late_fee_waived_fen
        return max(owed, 0)


@dataclass
class AccountState:
    invoices: dict[str, InvoiceBalance]
    allocations: list[Allocation]
    credit: dict[str, int]  # payment id -> its fen still on account (FIFO)
    #: Payments whose credit waits, frozen at a sale, for its refund (seller_credit 'refund').
    frozen: set[str] = field(default_factory=set)

    @property
    def credit_fen(self) -> int:
        return sum(self.credit.values())

    @property
    def frozen_credit_fen(self) -> int:
        return sum(self.credit.get(p, 0) for p in self.frozen)


@dataclass
class _Scope:
    """What a payment's money may pay."""

    side: Side | None = None
    utilities_only: bool = False
    frozen: bool = False


@dataclass(frozen=True)
class _Step:
    at: datetime
    # same instant: lapses, invoices, voids/write-offs, waivers, sales, payments, refunds
    rank: int
    key: str
    apply: Callable[[], None]


def replay(
    invoices: Sequence[InvoiceFact],
    payments: Sequence[PaymentFact] = (),
    refunds: Sequence[RefundFact] = (),
    waivers: Sequence[WaiverFact] = (),
    *,
    sales: Sequence[SaleFact] = (),
    terms: LateFeeTerms | None = None,
    order: AllocationOrder = "owner_friendly",
    tz: ZoneInfo | None = None,
    until: datetime | None = None,
) -> AccountState:
    """Replay the facts that happened before ``until`` (None: all of them, and every lapse):
    a statement as of a past day passes the end of that day; a recompute passes now."""
    return _Replay(terms or LateFeeTerms(), order, tz or ZoneInfo("Asia/Shanghai")).run(
        invoices, payments, refunds, waivers, sales, until
    )


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after ``day`` in the time zone (a replay's ``until`` for that day)."""
    return datetime.combine(day + timedelta(days=1), time(0), tz)


class _Replay:
    def __init__(self, terms: LateFeeTerms, order: AllocationOrder, tz: ZoneInfo) -> None:
        self.terms = terms
        self.order = order
        self.tz = tz
        self.state = AccountState({}, [], {})
        self.open: dict[str, InvoiceBalance] = {}
        self.scopes: dict[str, _Scope] = {}
        self.seq: dict[str, int] = {}  # payment id -> arrival order in business time (FIFO)
        self.with_credit: set[str] = set()
        self.net: dict[tuple[str, str, Component], int] = {}
        self.payers_of: dict[str, set[str]] = {}  # invoice id -> payment ids that paid it
        self.collection_of: dict[str, Collection] = {}
        self.sale: SaleFact | None = None
        self.side_payers: dict[str, Side] = {}

    def run(
        self,
        invoices: Sequence[InvoiceFact],
        payments: Sequence[PaymentFact],
        refunds: Sequence[RefundFact],
        waivers: Sequence[WaiverFact],
        sales: Sequence[SaleFact],
        until: datetime | None,
    ) -> AccountState:
        self.collection_of = {inv.invoice_id: inv.collection for inv in invoices}
        steps: list[_Step] = []
        for inv in invoices:
            steps.append(_Step(inv.issued_at, 1, inv.invoice_id, partial(self._issue, inv)))
            if inv.prepay_discount_fen:
                starts = interest_starts(inv.due_date, self._day(inv.issued_at))
                lapse_at = datetime.combine(starts, time(0), self.tz)
                steps.append(
                    _Step(lapse_at, 0, inv.invoice_id, partial(self._lapse, inv, lapse_at))
                )
            if inv.voided_at is not None:
                release = partial(self._release, inv.invoice_id, inv.voided_at, "void")
                steps.append(_Step(inv.voided_at, 2, inv.invoice_id, release))
            if inv.written_off_at is not None:
                steps.append(
                    _Step(inv.written_off_at, 2, inv.invoice_id, partial(self._write_off, inv))
                )
        for w in waivers:
            steps.append(_Step(w.waived_at, 3, w.invoice_id, partial(self._waive, w)))
        for s in sales:
            steps.append(_Step(s.sold_at, 4, s.sale_id, partial(self._sell, s)))
        for p in payments:
            steps.append(_Step(p.paid_at, 5, p.payment_id, partial(self._pay, p)))
        for r in refunds:
            steps.append(_Step(r.refunded_at, 6, r.refund_id, partial(self._refund, r)))
        if until is not None:
            steps = [s for s in steps if s.at < until]
        for step in sorted(steps, key=lambda s: (s.at, s.rank, s.key)):
            step.apply()
        return self.state

    # -- facts -----------------------------------------------------------------------------
    def _issue(self, fact: InvoiceFact) -> None:
        if fact.principal_fen < 0:
            raise AccountError(f"invoice {fact.invoice_id} has a negative total")
        if fact.prepay_discount_fen < 0:
            raise AccountError(f"invoice {fact.invoice_id} has a negative prepayment discount")
        starts = interest_starts(fact.due_date, self._day(fact.issued_at))
        balance = InvoiceBalance(
            fact.invoice_id,
            fact.due_date,
            fact.principal_fen,
            starts,
            collection=fact.collection,
            payer_party_id=fact.payer_party_id,
            bears_late_fee=fact.bears_late_fee,
            prepay_discount_fen=fact.prepay_discount_fen,
            limitation_expires_on=fact.limitation_expires_on,
        )
        if self.sale is not None:
            seller = fact.payer_party_id in self.sale.seller_party_ids
            balance.side = "seller" if seller else "buyer"
            if fact.payer_party_id is not None:
                self.side_payers.setdefault(fact.payer_party_id, balance.side)
        self.state.invoices[fact.invoice_id] = balance
        self.open[fact.invoice_id] = balance
        if fact.principal_fen == 0:
            self._mark(balance, fact.issued_at)
        self._spend_credit(fact.issued_at)

    def _lapse(self, fact: InvoiceFact, at: datetime) -> None:
        """The first interest-bearing day: a discount not earned by full payment lapses."""
        balance = self.state.invoices[fact.invoice_id]
        if balance.status not in OPEN or balance.principal_due_fen <= 0:
            return
        balance.principal_fen += balance.prepay_discount_fen
        balance.discount_lapsed_fen = balance.prepay_discount_fen
        self._mark(balance, at)
        self._spend_credit(at)

    def _sell(self, fact: SaleFact) -> None:
        self.sale = fact
        self.side_payers = {p: "seller" for p in fact.seller_party_ids}
        self.side_payers[fact.buyer_party_id] = "buyer"
        for balance in self.state.invoices.values():
            balance.side = "seller"
            if balance.payer_party_id is not None:
                self.side_payers.setdefault(balance.payer_party_id, "seller")
        for payment_id, scope in self.scopes.items():
            scope.side = "seller"
            if self.state.credit.get(payment_id, 0) > 0 and not scope.frozen:
                if fact.seller_credit == "transfer":
                    scope.side = "buyer"
                else:
                    scope.frozen = True
                    self.state.frozen.add(payment_id)
        self._spend_credit(fact.sold_at)

    def _pay(self, fact: PaymentFact) -> None:
        if fact.amount_fen < 0:
            raise AccountError(f"payment {fact.payment_id} is negative")
        self.seq.setdefault(fact.payment_id, len(self.seq))
        if fact.payment_id not in self.scopes:
            known = [self.collection_of[n] for n in fact.invoice_ids if n in self.collection_of]
            self.scopes[fact.payment_id] = _Scope(
                side=self._side_of_payer(fact.payer_party_id),
                utilities_only=bool(known) and all(c == "utilities" for c in known),
            )
        self._add_credit(fact.payment_id, fact.amount_fen)
        self._spend(fact.payment_id, fact.paid_at, fact.invoice_ids)

    def _side_of_payer(self, payer: str | None) -> Side | None:
        if self.sale is None or payer is None:
            return None
        return self.side_payers.get(payer)

    def _refund(self, fact: RefundFact) -> None:
        """Undo the refunded payment's allocations, newest first, credit before all."""
        left = fact.amount_fen
        take = min(left, self.state.credit.get(fact.payment_id, 0))
        self._take_credit(fact.payment_id, take)
        left -= take
        for alloc in reversed(self.state.allocations):
            if left == 0:
                break
            if alloc.payment_id != fact.payment_id or alloc.amount_fen <= 0:
                continue
            net = self.net.get((fact.payment_id, alloc.invoice_id, alloc.component), 0)
            back = min(left, net, alloc.amount_fen)
            if back <= 0:
                continue
            self._reverse(
                fact.payment_id, alloc.invoice_id, alloc.component, back, fact.refunded_at
            )
            left -= back
        if left:
            raise AccountError(
                f"refund {fact.refund_id} of {fact.amount_fen} fen exceeds what payment "
                f"{fact.payment_id} brought"
            )

    def _write_off(self, fact: InvoiceFact) -> None:
        balance = self.state.invoices[fact.invoice_id]
        if balance.status in ("paid", "void"):
            return
        balance.status = "written_off"
        self.open.pop(fact.invoice_id, None)

    def _waive(self, fact: WaiverFact) -> None:
        balance = self.state.invoices.get(fact.invoice_id)
        if balance is None or balance.status in ("void", "written_off"):
            raise AccountError(f"waiver for invoice {fact.invoice_id}, which is not open")
        on = self._day(fact.waived_at)
        balance.late_fee_waived_fen += min(fact.amount_fen, balance.late_fee_due(on, self.terms))
        self._mark(balance, fact.waived_at)

    # -- allocation ------------------------------------------------------------------------
    def _spend_credit(self, at: datetime) -> None:
        for payment_id in sorted(self.with_credit, key=self.seq.__getitem__):
            self._spend(payment_id, at, ())

    def _spend(self, payment_id: str, at: datetime, named: Sequence[str]) -> None:
        scope = self.scopes[payment_id]
        if scope.frozen or self.state.credit.get(payment_id, 0) == 0:
            return
        on = self._day(at)
        # Late fees owed when paying on day D are those accrued up to D-1: the payment itself
        # decides how much principal bears interest on day D.
        fee_day = on - timedelta(days=1)
        for balance, component in self._targets(on, named, scope):
            available = self.state.credit.get(payment_id, 0)
            if available == 0:
                return
            owed = (
                balance.principal_due_fen
                if component == "principal"
                else balance.late_fee_due(fee_day, self.terms)
            )
            amount = min(available, owed)
            if amount > 0:
                self._allocate(payment_id, balance, component, amount, at)

    def _may_pay(self, scope: _Scope, balance: InvoiceBalance) -> bool:
        if scope.utilities_only and balance.collection != "utilities":
            return False
        return scope.side is None or balance.side is None or scope.side == balance.side

    def _targets(
        self, on: date, named: Sequence[str], scope: _Scope
    ) -> Iterator[tuple[InvoiceBalance, Component]]:
        """What the money pays, in order; lazy, so a payment that runs out stops early."""
        first = [
            self.open[n]
            for n in dict.fromkeys(named)
            if n in self.open and self._may_pay(scope, self.open[n])
        ]
        for b in first:
            yield b, "principal"
            yield b, "late_fee"
        chosen = {b.invoice_id for b in first}
        restricted = scope.utilities_only or scope.side is not None
        rest = sorted(
            (
                b
                for b in self.open.values()
                if (b.limitation_expires_on is None or on <= b.limitation_expires_on)
                and b.invoice_id not in chosen
                and (not restricted or self._may_pay(scope, b))
            ),
            key=_DUE_ORDER,
        )
        for collection in ("utilities", "property"):
            due = [b for b in rest if b.due_date <= on and b.collection == collection]
            if self.order == "civil_code_561":
                for b in due:
                    yield b, "late_fee"
                    yield b, "principal"
            else:
                for b in due:
                    yield b, "principal"
                for b in due:
                    yield b, "late_fee"
        for collection in ("utilities", "property"):
            for b in rest:
                if b.due_date > on and b.collection == collection:
                    yield b, "principal"

    def _allocate(
        self, payment_id: str, balance: InvoiceBalance, component: Component, fen: int, at: datetime
    ) -> None:
        self._take_credit(payment_id, fen)
        self._journal(payment_id, balance.invoice_id, component, fen, at)
        if component == "principal":
            balance.principal_paid_fen += fen
            balance.changes.append((self._day(at), fen))
            if balance.principal_due_fen == 0 and balance.late_fee_fixed_fen is None:
                # Interest stops on the day the principal is paid in full.
                on = self._day(at)
                balance.late_fee_fixed_fen = balance.late_fee_accrued(on, self.terms)
        else:
            balance.late_fee_paid_fen += fen
        self._mark(balance, at)

    def _reverse(
        self, payment_id: str, invoice_id: str, component: Component, fen: int, at: datetime
    ) -> None:
        balance = self.state.invoices[invoice_id]
        self._journal(payment_id, invoice_id, component, -fen, at)
        if component == "principal":
            balance.principal_paid_fen -= fen
            balance.changes.append((self._day(at), -fen))
            balance.late_fee_fixed_fen = None  # interest runs again on what is unpaid
        else:
            balance.late_fee_paid_fen -= fen
        if balance.status in ("paid", "partially_paid", "issued"):
            balance.status = "issued"
            balance.settled_at = None
            self.open[invoice_id] = balance
            self._mark(balance, at)

    def _journal(
        self, payment_id: str, invoice_id: str, component: Component, fen: int, at: datetime
    ) -> None:
        self.state.allocations.append(Allocation(payment_id, invoice_id, component, fen, at))
        key = (payment_id, invoice_id, component)
        self.net[key] = self.net.get(key, 0) + fen
        self.payers_of.setdefault(invoice_id, set()).add(payment_id)

    def _release(self, invoice_id: str, at: datetime, status: Status) -> None:
        """Void with a credit note: what was paid on it returns to its payments as credit."""
        balance = self.state.invoices[invoice_id]
        for payment_id in sorted(self.payers_of.get(invoice_id, ()), key=self.seq.__getitem__):
            for component in COMPONENTS:
                net = self.net.get((payment_id, invoice_id, component), 0)
                if net > 0:
                    self._reverse(payment_id, invoice_id, component, net, at)
                    self._add_credit(payment_id, net)
        balance.status = status
        balance.settled_at = None
        self.open.pop(invoice_id, None)
        self._spend_credit(at)

    def _add_credit(self, payment_id: str, fen: int) -> None:
        left = self.state.credit.get(payment_id, 0) + fen
        self.state.credit[payment_id] = left
        if left > 0:
            self.with_credit.add(payment_id)

    def _take_credit(self, payment_id: str, fen: int) -> None:
        left = self.state.credit.get(payment_id, 0) - fen
        self.state.credit[payment_id] = left
        if left <= 0:
            self.with_credit.discard(payment_id)

    def _mark(self, balance: InvoiceBalance, at: datetime) -> None:
        if balance.status in ("void", "written_off"):
            return
        on = self._day(at)
        paid_any = balance.principal_paid_fen > 0 or balance.late_fee_paid_fen > 0
        if balance.principal_due_fen == 0 and balance.late_fee_due(on, self.terms) == 0:
            if balance.status != "paid":
                balance.status, balance.settled_at = "paid", at
            self.open.pop(balance.invoice_id, None)
        else:
            balance.status = "partially_paid" if paid_any else "issued"
            balance.settled_at = None
            self.open[balance.invoice_id] = balance

    def _day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()
