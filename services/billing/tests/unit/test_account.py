"""The account replay: EXAMPLES.md's allocation, refunds, voids, order independence."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.domain.account import (
    AccountError,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SaleFact,
    WaiverFact,
    replay,
)
from propfee.late_fees import LateFeeTerms

TERMS = LateFeeTerms(Decimal("0.0003"))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(day: date, hour: int = 4) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)  # 12:00 in Shanghai


A = InvoiceFact("A", date(2026, 1, 31), at(date(2026, 1, 1)), 27580)
B = InvoiceFact("B", date(2026, 2, 28), at(date(2026, 2, 1)), 27580)


def test_examples_md_allocation() -> None:
    # 40,000 paid on 2026-03-02, nothing named: A principal 27,580; B 12,420; A's late fee owed.
    # EXAMPLES.md lists A's late fee as 88: that is its fee as of 2026-03-02 before the payment.
    # By the rule stated there ("a payment on day D stops interest on the paid part from day
    # D"), the payment on 03-02 stops 03-02's interest, so 29 days are owed: 85 fen.
    state = replay([A, B], [PaymentFact("p", 40000, at(date(2026, 3, 2)))], terms=TERMS)
    assert [(a.invoice_id, a.component, a.amount_fen) for a in state.allocations] == [
        ("A", "principal", 27580),
        ("B", "principal", 12420),
    ]
    a, b = state.invoices["A"], state.invoices["B"]
    assert a.late_fee_due(date(2026, 3, 1), TERMS) == 85
    assert a.status == "partially_paid" and b.status == "partially_paid"
    assert b.principal_due_fen == 15160
    # A's late fee stopped growing when its principal was paid.
    assert a.late_fee_due(date(2026, 12, 31), TERMS) == 85


def test_principal_before_late_fees_then_credit() -> None:
    state = replay([A], [PaymentFact("p", 30000, at(date(2026, 3, 2)))], terms=TERMS)
    assert [(a.component, a.amount_fen) for a in state.allocations] == [
        ("principal", 27580),
        ("late_fee", 85),
    ]
    assert state.invoices["A"].status == "paid"
    assert state.credit_fen == 30000 - 27580 - 85


def test_civil_code_order_pays_interest_first() -> None:
    state = replay(
        [A], [PaymentFact("p", 10000, at(date(2026, 3, 2)))], terms=TERMS, order="civil_code_561"
    )
    assert [(a.component, a.amount_fen) for a in state.allocations] == [
        ("late_fee", 85),  # accrued to 03-01; 03-02 bears interest on what stays unpaid
        ("principal", 9915),
    ]


def test_named_invoice_first_and_credit_pays_the_next_invoice() -> None:
    early = PaymentFact("p", 60000, at(date(2026, 1, 10)), ("A",))
    c = InvoiceFact("C", date(2026, 3, 31), at(date(2026, 3, 1)), 27580)
    state = replay([A, B, c], [early], terms=TERMS)
    assert [(a.invoice_id, a.amount_fen) for a in state.allocations] == [
        ("A", 27580),
        ("B", 27580),
        ("C", 4840),
    ]
    assert state.invoices["B"].status == "paid"
    assert state.credit_fen == 0


def test_refund_reverses_its_allocation() -> None:
    pay = PaymentFact("p", 27580, at(date(2026, 1, 20)))
    state = replay([A], [pay], [RefundFact("r", "p", 27580, at(date(2026, 1, 25)))], terms=TERMS)
    assert state.invoices["A"].status == "issued"
    assert sum(a.amount_fen for a in state.allocations) == 0
    with pytest.raises(AccountError, match="exceeds"):
        replay([A], [pay], [RefundFact("r", "p", 27581, at(date(2026, 1, 25)))], terms=TERMS)


def test_void_returns_money_as_credit_for_the_next_invoice() -> None:
    voided = InvoiceFact(
        "A", A.due_date, A.issued_at, A.principal_fen, voided_at=at(date(2026, 1, 21))
    )
    pay = PaymentFact("p", 27580, at(date(2026, 1, 20)))
    state = replay([voided, B], [pay], terms=TERMS)
    assert state.invoices["A"].status == "void"
    assert state.invoices["B"].status == "paid"  # the credit paid B when it was issued
    assert state.credit_fen == 0


def test_waiver_and_write_off() -> None:
    pay = PaymentFact("p", 27580, at(date(2026, 3, 2)))
    waive = WaiverFact("A", 500, at(date(2026, 3, 3)))  # capped at what is owed
    state = replay([A], [pay], waivers=[waive], terms=TERMS)
    assert state.invoices["A"].status == "paid"
    assert state.invoices["A"].late_fee_waived_fen == 85
    gone = InvoiceFact(
        "A", A.due_date, A.issued_at, A.principal_fen, written_off_at=at(date(2026, 6, 1))
    )
    later = PaymentFact("q", 100, at(date(2026, 7, 1)))
    state = replay([gone], [later], terms=TERMS)
    assert state.invoices["A"].status == "written_off" and state.credit_fen == 100


# --- properties -------------------------------------------------------------------------

Account = tuple[list[InvoiceFact], list[PaymentFact], list[RefundFact], list[SaleFact]]


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    """Property and utilities invoices (some with a prepayment discount, some with a
    limitation clock that expires), payments by the seller, the buyer or nobody known, refunds,
    and at most one sale with either choice for the seller's credit."""
    n_inv = draw(st.integers(0, 6))
    invoices = []
    for i in range(n_inv):
        issued = T0 + timedelta(days=draw(st.integers(0, 300)), hours=draw(st.integers(0, 23)))
        void = draw(st.booleans()) and draw(st.booleans())
        utilities = draw(st.booleans()) and draw(st.booleans())
        due = (issued + timedelta(days=draw(st.integers(-20, 40)))).date()
        expires = draw(st.none() | st.integers(0, 200).map(lambda d, due=due: due + timedelta(d)))
        invoices.append(
            InvoiceFact(
                f"i{i}",
                due,
                issued,
                draw(st.integers(0, 100_000)),
                voided_at=issued + timedelta(days=draw(st.integers(1, 100))) if void else None,
                collection="utilities" if utilities else "property",
                payer_party_id=draw(st.sampled_from(["s", "b"])),
                bears_late_fee=not utilities or draw(st.booleans()),
                prepay_discount_fen=0 if utilities else draw(st.sampled_from([0, 0, 1500, 7])),
                limitation_expires_on=expires,
            )
        )
    payments, refunds = [], []
    for j in range(draw(st.integers(0, 6))):
        paid = T0 + timedelta(days=draw(st.integers(0, 400)), minutes=draw(st.integers(0, 1440)))
        named = tuple(
            draw(st.lists(st.sampled_from([f"i{i}" for i in range(n_inv)] or ["x"]), max_size=2))
        )
        amount = draw(st.integers(1, 150_000))
        payer = draw(st.sampled_from(["s", "b", None]))
        payments.append(PaymentFact(f"p{j}", amount, paid, named, payer))
        if draw(st.booleans()):
            refunds.append(
                RefundFact(
                    f"r{j}",
                    f"p{j}",
                    draw(st.integers(1, amount)),
                    paid + timedelta(days=draw(st.integers(0, 60))),
                )
            )
    sales = []
    if draw(st.booleans()):
        sold = T0 + timedelta(days=draw(st.integers(0, 300)), hours=draw(st.integers(0, 23)))
        choice = draw(st.sampled_from(["refund", "transfer"]))
        sales.append(SaleFact("sale", sold, ("s",), "b", choice))
    return invoices, payments, refunds, sales


def _picture(state):  # type: ignore[no-untyped-def]
    return (
        sorted(
            (a.payment_id, a.invoice_id, a.component, a.amount_fen, a.at) for a in state.allocations
        ),
        {
            k: (v.status, v.principal_paid_fen, v.late_fee_paid_fen, v.principal_fen)
            for k, v in state.invoices.items()
        },
        state.credit_fen,
    )


def _invoice_issued_at_the_sale() -> tuple[list, list, list, list]:  # type: ignore[type-arg]
    """Found by this test: credit paying an invoice issued at the very instant of a sale that
    freezes it (the invoice comes first, so paying it is right)."""
    at = datetime(2026, 1, 2, tzinfo=UTC)
    invoice = InvoiceFact(
        invoice_id="i5", due_date=date(2026, 1, 2), issued_at=at, principal_fen=1,
        voided_at=None, written_off_at=None, collection="property", payer_party_id="s",
        bears_late_fee=True, prepay_discount_fen=0, limitation_expires_on=None,
    )  # fmt: skip
    payment = PaymentFact(
        payment_id="p0", amount_fen=2, paid_at=datetime(2026, 1, 1, tzinfo=UTC),
        invoice_ids=(), payer_party_id="s",
    )  # fmt: skip
    sale = SaleFact(
        sale_id="sale", sold_at=at, seller_party_ids=("s",), buyer_party_id="b",
        seller_credit="refund",
    )  # fmt: skip
    return [invoice], [payment], [], [sale]


@settings(max_examples=400, deadline=None)
@given(accounts(), st.sampled_from(["owner_friendly", "civil_code_561"]), st.randoms())
@example(_invoice_issued_at_the_sale(), "owner_friendly", random.Random(0))
def test_no_fen_appears_or_disappears_in_any_order(account, order, rnd) -> None:  # type: ignore[no-untyped-def]
    invoices, payments, refunds, sales = account
    state = replay(invoices, payments, refunds, sales=sales, terms=TERMS, order=order)
    paid_in = sum(p.amount_fen for p in payments) - sum(r.amount_fen for r in refunds)
    assert paid_in == sum(a.amount_fen for a in state.allocations) + state.credit_fen
    assert all(fen >= 0 for fen in state.credit.values())
    end = date(2028, 1, 1)
    tz = ZoneInfo("Asia/Shanghai")
    for inv in invoices:
        bal = state.invoices[inv.invoice_id]
        assert inv.principal_fen <= bal.principal_fen <= inv.principal_fen + inv.prepay_discount_fen
        assert 0 <= bal.principal_paid_fen <= bal.principal_fen
        assert 0 <= bal.late_fee_paid_fen <= bal.late_fee_accrued(end, TERMS)
        if bal.status == "void":
            assert bal.principal_paid_fen == 0 and bal.late_fee_paid_fen == 0
        if not inv.bears_late_fee:
            assert bal.late_fee_accrued(end, TERMS) == 0
    facts = {i.invoice_id: i for i in invoices}
    by_id = {p.payment_id: p for p in payments}
    sale = sales[0] if sales else None
    for a in state.allocations:
        if a.amount_fen <= 0:
            continue
        inv, pay = facts[a.invoice_id], by_id[a.payment_id]
        # Utilities stand apart: money named only for utilities never pays the property fee.
        named = [facts[n].collection for n in pay.invoice_ids if n in facts]
        if named and all(c == "utilities" for c in named):
            assert inv.collection == "utilities"
        # A time-barred invoice is paid only by a payment naming it, when it is paid.
        expires = inv.limitation_expires_on
        if expires is not None and a.at.astimezone(tz).date() > expires:
            assert a.invoice_id in pay.invoice_ids and a.at == pay.paid_at
        if sale is not None and a.at >= sale.sold_at:
            side = state.invoices[a.invoice_id].side
            if pay.paid_at >= sale.sold_at and pay.payer_party_id == "b":
                assert side == "buyer"  # the buyer's money never pays the seller's arrears
            if pay.paid_at >= sale.sold_at and pay.payer_party_id == "s":
                assert side == "seller"
            if a.at > sale.sold_at:  # at the sale's instant, what came first may be paid
                assert a.payment_id not in state.frozen  # frozen credit pays nothing
    # The same facts in another arrival order give the same account.
    for seq in (invoices, payments, refunds):
        rnd.shuffle(seq)
    again = replay(invoices, payments, refunds, sales=sales, terms=TERMS, order=order)
    assert _picture(again) == _picture(state)
