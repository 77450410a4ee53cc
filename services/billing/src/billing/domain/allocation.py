"""Allocation of a payment to a household's invoices (pure, no I/O).

Propfee's default order, stated in the service contract and owner-friendly: the invoices the
payer named first; then the principal of every other open invoice, oldest due date first;
the rest becomes credit on the account. (Late fees and art. 561's order arrive with the
billing issue; the invariant below already holds for them.)

Invariant: ``sum(allocations) + credit == amount``; no fen appears or disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: str
    due_date: date
    outstanding_fen: int


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    credit_fen: int

    @property
    def allocated_fen(self) -> int:
        return sum(a.amount_fen for a in self.allocations)


def allocate_payment(
    amount_fen: int, open_invoices: Sequence[OpenInvoice], named_invoice_ids: Sequence[str] = ()
) -> AllocationResult:
    if amount_fen < 0:
        raise ValueError("a payment amount cannot be negative")
    named = {invoice_id: rank for rank, invoice_id in enumerate(named_invoice_ids)}
    ordered = sorted(
        (i for i in open_invoices if i.outstanding_fen > 0),
        key=lambda i: (
            i.invoice_id not in named,
            named.get(i.invoice_id, 0),
            i.due_date,
            i.invoice_id,
        ),
    )
    left = amount_fen
    allocations: list[Allocation] = []
    for invoice in ordered:
        if left == 0:
            break
        take = min(left, invoice.outstanding_fen)
        allocations.append(Allocation(invoice.invoice_id, take))
        left -= take
    return AllocationResult(tuple(allocations), left)
