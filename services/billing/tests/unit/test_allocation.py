from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.allocation import Allocation, OpenInvoice, allocate_payment

A = OpenInvoice("A", date(2026, 1, 31), 27580)
B = OpenInvoice("B", date(2026, 2, 28), 27580)


def test_oldest_due_first_rest_stays_open() -> None:
    # EXAMPLES.md: 40,000 paid, nothing named: A 27,580; B 12,420.
    result = allocate_payment(40000, [B, A])
    assert result.allocations == (Allocation("A", 27580), Allocation("B", 12420))
    assert result.credit_fen == 0


def test_named_invoices_come_first() -> None:
    result = allocate_payment(30000, [A, B], named_invoice_ids=["B"])
    assert result.allocations == (Allocation("B", 27580), Allocation("A", 2420))


def test_overpayment_becomes_credit() -> None:
    result = allocate_payment(60000, [A, B])
    assert result.allocated_fen == 55160
    assert result.credit_fen == 4840


def test_payment_before_any_invoice_is_all_credit() -> None:
    result = allocate_payment(10000, [])
    assert result.allocations == ()
    assert result.credit_fen == 10000


def test_negative_payment_is_refused() -> None:
    with pytest.raises(ValueError):
        allocate_payment(-1, [A])


invoices = st.lists(
    st.builds(
        OpenInvoice,
        st.uuids().map(str),
        st.dates(date(2020, 1, 1), date(2030, 1, 1)),
        st.integers(0, 10**7),
    ),
    max_size=30,
)


@given(st.integers(0, 10**8), invoices)
def test_no_fen_appears_or_disappears(amount: int, open_invoices: list[OpenInvoice]) -> None:
    result = allocate_payment(amount, open_invoices)
    assert result.allocated_fen + result.credit_fen == amount
    outstanding = {i.invoice_id: i.outstanding_fen for i in open_invoices}
    for allocation in result.allocations:
        assert 0 < allocation.amount_fen <= outstanding[allocation.invoice_id]
    if result.credit_fen:
        assert result.allocated_fen == sum(outstanding.values())
