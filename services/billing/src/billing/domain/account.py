"""A household account replayed from its facts in business-time order (pure).

Invoices, payments, refunds, voids, waivers and write-offs are applied in the order they
happened (their own timestamps), never in the order they arrived: any arrival order of the
same facts gives the same allocations. Propfee's default order (stated in the contract,
owner-friendly): named invoices first; then principal of due invoices, oldest due first; then
late fees, oldest first; then invoices not yet due; the rest is credit, which pays invoices
as they are issued. ``civil_code_561`` follows art. 561 instead: due debts oldest first, each
late fee before its principal, then debts not yet due.

Invariant (property-tested): payments - refunds == allocated + credit, for every account, and
no invoice is paid beyond its principal plus its late fee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo

from propfee.late_fees import LateFeeTerms, accrued_late_fee, interest_starts

AllocationOrder = Literal["owner_friendly", "civil_code_561"]
Component = Literal["principal", "late_fee"]
COMPONENTS: tuple[Component, ...] = ("principal", "late_fee")
Status = Literal["issued", "partially_paid", "paid", "void", "written_off"]


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


@dataclass(frozen=True, slots=True)
class PaymentFact:
    payment_id: str
    amount_fen: int
    paid_at: datetime
    invoice_ids: tuple[str, ...] = ()


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
    principal_fen: int
    #: The first day bearing interest: the day after max(due date, issue date).
    interest_from: date
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

    def late_fee_accrued(self, on: date, terms: LateFeeTerms) -> int:
        if self.late_fee_fixed_fen is not None:
            return self.late_fee_fixed_fen
        return accrued_late_fee(self.principal_fen, self.interest_from, on, terms, self.changes)

    def late_fee_due(self, on: date, terms: LateFeeTerms) -> int:
        owed = self.late_fee_accrued(on, terms) - self.late_fee_paid_fen - self.late_fee_waived_fen
        return max(owed, 0)


@dataclass
class AccountState:
    invoices: dict[str, InvoiceBalance]
    allocations: list[Allocation]
    credit: dict[str, int]  # payment id -> its fen still on account (FIFO)

    @property
    def credit_fen(self) -> int:
        return sum(self.credit.values())


@dataclass(frozen=True)
class _Step:
    at: datetime
    rank: int  # same instant: invoices, then voids/write-offs, waivers, payments, refunds
    key: str
    apply: Callable[[], None]


def replay(
    invoices: Sequence[InvoiceFact],
    payments: Sequence[PaymentFact] = (),
    refunds: Sequence[RefundFact] = (),
    waivers: Sequence[WaiverFact] = (),
    *,
    terms: LateFeeTerms | None = None,
    order: AllocationOrder = "owner_friendly",
    tz: ZoneInfo | None = None,
) -> AccountState:
    return _Replay(terms or LateFeeTerms(), order, tz or ZoneInfo("Asia/Shanghai")).run(
        invoices, payments, refunds, waivers
    )


class _Replay:
    def __init__(self, terms: LateFeeTerms, order: AllocationOrder, tz: ZoneInfo) -> None:
        self.terms = terms
        self.order = order
        self.tz = tz
        self.state = AccountState({}, [], {})

    def run(
        self,
        invoices: Sequence[InvoiceFact],
        payments: Sequence[PaymentFact],
        refunds: Sequence[RefundFact],
        waivers: Sequence[WaiverFact],
    ) -> AccountState:
        steps: list[_Step] = []
        for inv in invoices:
            steps.append(_Step(inv.issued_at, 0, inv.invoice_id, partial(self._issue, inv)))
            if inv.voided_at is not None:
                release = partial(self._release, inv.invoice_id, inv.voided_at, "void")
                steps.append(_Step(inv.voided_at, 1, inv.invoice_id, release))
            if inv.written_off_at is not None:
                steps.append(
                    _Step(inv.written_off_at, 1, inv.invoice_id, partial(self._write_off, inv))
                )
        for w in waivers:
            steps.append(_Step(w.waived_at, 2, w.invoice_id, partial(self._waive, w)))
        for p in payments:
            steps.append(_Step(p.paid_at, 3, p.payment_id, partial(self._pay, p)))
        for r in refunds:
            steps.append(_Step(r.refunded_at, 4, r.refund_id, partial(self._refund, r)))
        for step in sorted(steps, key=lambda s: (s.at, s.rank, s.key)):
            step.apply()
        return self.state

    # -- facts -----------------------------------------------------------------------------
    def _issue(self, fact: InvoiceFact) -> None:
        if fact.principal_fen < 0:
            raise AccountError(f"invoice {fact.invoice_id} has a negative total")
        starts = interest_starts(fact.due_date, self._day(fact.issued_at))
        balance = InvoiceBalance(fact.invoice_id, fact.due_date, fact.principal_fen, starts)
        self.state.invoices[fact.invoice_id] = balance
        if fact.principal_fen == 0:
            self._mark(balance, fact.issued_at)
        self._spend_credit(fact.issued_at)

    def _pay(self, fact: PaymentFact) -> None:
        if fact.amount_fen < 0:
            raise AccountError(f"payment {fact.payment_id} is negative")
        self.state.credit[fact.payment_id] = (
            self.state.credit.get(fact.payment_id, 0) + fact.amount_fen
        )
        self._spend(fact.payment_id, fact.paid_at, fact.invoice_ids)

    def _refund(self, fact: RefundFact) -> None:
        """Undo the refunded payment's allocations, newest first, credit before all."""
        left = fact.amount_fen
        take = min(left, self.state.credit.get(fact.payment_id, 0))
        self._take_credit(fact.payment_id, take)
        left -= take
        for alloc in reversed(list(self.state.allocations)):
            if left == 0:
                break
            if alloc.payment_id != fact.payment_id:
                continue
            net = self._net_allocated(fact.payment_id, alloc.invoice_id, alloc.component)
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

    def _waive(self, fact: WaiverFact) -> None:
        balance = self.state.invoices.get(fact.invoice_id)
        if balance is None or balance.status in ("void", "written_off"):
            raise AccountError(f"waiver for invoice {fact.invoice_id}, which is not open")
        on = self._day(fact.waived_at)
        balance.late_fee_waived_fen += min(fact.amount_fen, balance.late_fee_due(on, self.terms))
        self._mark(balance, fact.waived_at)

    # -- allocation ------------------------------------------------------------------------
    def _spend_credit(self, at: datetime) -> None:
        for payment_id in [p for p, fen in self.state.credit.items() if fen > 0]:
            self._spend(payment_id, at, ())

    def _spend(self, payment_id: str, at: datetime, named: Sequence[str]) -> None:
        on = self._day(at)
        # Late fees owed when paying on day D are those accrued up to D-1: the payment itself
        # decides how much principal bears interest on day D.
        fee_day = on - timedelta(days=1)
        for balance, component in self._targets(on, named):
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

    def _targets(self, on: date, named: Sequence[str]) -> list[tuple[InvoiceBalance, Component]]:
        open_ = sorted(
            (b for b in self.state.invoices.values() if b.status in ("issued", "partially_paid")),
            key=lambda b: (b.due_date, b.invoice_id),
        )
        first = [b for n in named for b in open_ if b.invoice_id == n]
        rest = [b for b in open_ if b not in first]
        due = [b for b in rest if b.due_date <= on]
        later = [b for b in rest if b.due_date > on]
        targets: list[tuple[InvoiceBalance, Component]] = []
        for b in first:
            targets += [(b, "principal"), (b, "late_fee")]
        if self.order == "civil_code_561":
            for b in due:
                targets += [(b, "late_fee"), (b, "principal")]
        else:
            targets += [(b, "principal") for b in due] + [(b, "late_fee") for b in due]
        return targets + [(b, "principal") for b in later]

    def _allocate(
        self, payment_id: str, balance: InvoiceBalance, component: Component, fen: int, at: datetime
    ) -> None:
        self._take_credit(payment_id, fen)
        self.state.allocations.append(
            Allocation(payment_id, balance.invoice_id, component, fen, at)
        )
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
        self.state.allocations.append(Allocation(payment_id, invoice_id, component, -fen, at))
        if component == "principal":
            balance.principal_paid_fen -= fen
            balance.changes.append((self._day(at), -fen))
            balance.late_fee_fixed_fen = None  # interest runs again on what is unpaid
        else:
            balance.late_fee_paid_fen -= fen
        if balance.status in ("paid", "partially_paid", "issued"):
            balance.status = "issued"
            balance.settled_at = None
            self._mark(balance, at)

    def _release(self, invoice_id: str, at: datetime, status: Status) -> None:
        """Void with a credit note: what was paid on it returns to its payments as credit."""
        balance = self.state.invoices[invoice_id]
        for payment_id in {
            a.payment_id for a in self.state.allocations if a.invoice_id == invoice_id
        }:
            for component in COMPONENTS:
                net = self._net_allocated(payment_id, invoice_id, component)
                if net > 0:
                    self._reverse(payment_id, invoice_id, component, net, at)
                    self.state.credit[payment_id] = self.state.credit.get(payment_id, 0) + net
        balance.status = status
        balance.settled_at = None
        self._spend_credit(at)

    def _take_credit(self, payment_id: str, fen: int) -> None:
        self.state.credit[payment_id] = self.state.credit.get(payment_id, 0) - fen

    def _net_allocated(self, payment_id: str, invoice_id: str, component: Component) -> int:
        return sum(
            a.amount_fen
            for a in self.state.allocations
            if a.payment_id == payment_id
            and a.invoice_id == invoice_id
            and a.component == component
        )

    def _mark(self, balance: InvoiceBalance, at: datetime) -> None:
        if balance.status in ("void", "written_off"):
            return
        on = self._day(at)
        paid_any = balance.principal_paid_fen > 0 or balance.late_fee_paid_fen > 0
        if balance.principal_due_fen == 0 and balance.late_fee_due(on, self.terms) == 0:
            if balance.status != "paid":
                balance.status, balance.settled_at = "paid", at
        else:
            balance.status = "partially_paid" if paid_any else "issued"
            balance.settled_at = None

    def _day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()
