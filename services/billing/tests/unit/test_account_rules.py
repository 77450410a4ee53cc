"""Issue 17's money rules on the account replay (the one home of allocation): interest only
after an invoice existed, the capped rate, time-barred invoices, utilities apart, prepayment
discounts earned by paying early, statements as of a past day, sales, the published basis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from billing.domain.account import (
    AccountError,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SaleFact,
    day_end,
    replay,
)
from billing.service_layer.accounts import late_fee_basis
from propfee.late_fees import AccrualBasis, LateFeeTerms, late_fee_on
from propfee.money import round_half_up

TERMS = LateFeeTerms(Decimal("0.0003"))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 4) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)  # 12:00 in Shanghai


def fee(principal: int, days: int, terms: LateFeeTerms = TERMS) -> int:
    return round_half_up(principal * days * terms.effective_daily_rate)


A = InvoiceFact("A", date(2026, 1, 31), at(date(2026, 1, 1)), 27580)
B = InvoiceFact("B", date(2026, 2, 28), at(date(2026, 2, 1)), 27580)


# --- the allocation basics (formerly a tested twin in domain/allocation.py) ---------------


def test_named_first_then_oldest_due_and_overpayment_is_credit() -> None:
    state = replay([A, B], [PaymentFact("p", 30000, at(date(2026, 2, 10)), ("B",))], terms=TERMS)
    assert [(a.invoice_id, a.amount_fen) for a in state.allocations] == [
        ("B", 27580),
        ("A", 2420),
    ]
    state = replay([A, B], [PaymentFact("p", 60000, at(date(2026, 1, 20)))], terms=TERMS)
    assert state.credit_fen == 60000 - 2 * 27580  # B was paid from credit when issued


def test_payment_before_any_invoice_is_credit_and_a_negative_one_is_refused() -> None:
    state = replay([], [PaymentFact("p", 10000, at(date(2026, 1, 1)))], terms=TERMS)
    assert state.allocations == [] and state.credit_fen == 10000
    with pytest.raises(AccountError, match="negative"):
        replay([A], [PaymentFact("p", -1, at(date(2026, 1, 2)))], terms=TERMS)


# --- rule 1: the cap applies, it does not refuse ------------------------------------------


def test_a_rate_above_the_cap_accrues_at_the_cap() -> None:
    terms = LateFeeTerms(Decimal("0.001"), Decimal("0.039"))  # 36.5% a year, cap 3.9%
    assert terms.capped and terms.effective_daily_rate == Fraction(39, 365000)
    state = replay([A], terms=terms)
    # Interest from 02-01 to 03-02: 30 days at 0.039 / 365, not at 0.001.
    assert state.invoices["A"].late_fee_accrued(date(2026, 3, 2), terms) == fee(27580, 30, terms)
    assert fee(27580, 30, terms) == 88 != round_half_up(27580 * 30 * Fraction(1, 1000))


# --- rule 2: no interest before an invoice existed ----------------------------------------


def test_an_invoice_issued_after_its_due_date_bears_interest_from_the_day_after_issue() -> None:
    late = InvoiceFact("L", date(2026, 1, 31), at(date(2026, 3, 10)), 27580)
    state = replay([late], terms=TERMS)
    bal = state.invoices["L"]
    assert bal.interest_from == date(2026, 3, 11)
    assert bal.late_fee_accrued(date(2026, 3, 10), TERMS) == 0
    assert bal.late_fee_accrued(date(2026, 3, 20), TERMS) == fee(27580, 10)  # 03-11..03-20
    # Paid on 03-12: one day of interest (03-11) is owed, never the 38 days since 01-31.
    state = replay([late], [PaymentFact("p", 30000, at(date(2026, 3, 12)))], terms=TERMS)
    assert [(a.component, a.amount_fen) for a in state.allocations] == [
        ("principal", 27580),
        ("late_fee", fee(27580, 1)),
    ]


def test_opening_arrears_accrue_from_the_import_and_an_imported_late_fee_is_fixed() -> None:
    opening = datetime(2025, 1, 1, tzinfo=SHANGHAI)  # opening_as_of, as the import stores it
    arrears = InvoiceFact("O", date(2023, 12, 31), opening, 20000)
    old_fee = InvoiceFact("F", date(2024, 12, 31), opening, 1234, bears_late_fee=False)
    state = replay([arrears, old_fee], terms=TERMS)
    assert state.invoices["O"].interest_from == date(2025, 1, 2)
    assert state.invoices["O"].late_fee_accrued(date(2025, 1, 31), TERMS) == fee(20000, 30)
    assert state.invoices["F"].late_fee_accrued(date(2027, 1, 1), TERMS) == 0


# --- rule 5: time-barred debts are voluntary ----------------------------------------------


OLD = InvoiceFact(
    "OLD", date(2022, 1, 31), at(date(2022, 1, 1)), 10000, limitation_expires_on=date(2025, 1, 31)
)
NEW = InvoiceFact("NEW", date(2025, 6, 30), at(date(2025, 6, 1)), 5000)


def test_an_unnamed_payment_or_credit_never_pays_a_time_barred_invoice() -> None:
    pay = PaymentFact("p", 20000, at(date(2025, 7, 1)))
    state = replay([OLD, NEW], [pay], terms=TERMS)
    assert state.invoices["OLD"].principal_paid_fen == 0
    assert state.invoices["NEW"].status == "paid"
    assert state.credit_fen == 20000 - 5000 - state.invoices["NEW"].late_fee_paid_fen
    # The credit does not pay it either when the next invoice is issued.
    later = InvoiceFact("LATER", date(2025, 8, 31), at(date(2025, 8, 1)), 3000)
    state = replay([OLD, NEW, later], [pay], terms=TERMS)
    assert (
        state.invoices["LATER"].status == "paid" and state.invoices["OLD"].principal_paid_fen == 0
    )
    # Before the expiry the same payment pays it (oldest due first).
    early = PaymentFact("p", 20000, at(date(2025, 1, 31)))
    assert replay([OLD], [early], terms=TERMS).invoices["OLD"].principal_paid_fen == 10000


def test_a_payment_that_names_a_time_barred_invoice_pays_it() -> None:
    pay = PaymentFact("p", 20000, at(date(2025, 7, 1)), ("OLD",))
    state = replay([OLD, NEW], [pay], terms=TERMS)
    old = state.invoices["OLD"]
    assert old.principal_paid_fen == 10000
    # Its late fee stopped growing at the expiry: 2022-02-01 .. 2025-01-31.
    days = (date(2025, 1, 31) - date(2022, 2, 1)).days + 1
    assert old.late_fee_paid_fen == fee(10000, days)


def test_the_late_fee_of_a_time_barred_invoice_stops_at_expiry() -> None:
    bal = replay([OLD], terms=TERMS).invoices["OLD"]
    assert bal.time_barred(date(2025, 2, 1)) and not bal.time_barred(date(2025, 1, 31))
    assert bal.late_fee_accrued(date(2026, 6, 1), TERMS) == bal.late_fee_accrued(
        date(2025, 1, 31), TERMS
    )
    assert bal.late_fee_accrued(date(2025, 1, 31), TERMS) > bal.late_fee_accrued(
        date(2025, 1, 30), TERMS
    )


def test_a_restart_arriving_late_un_bars_the_invoice() -> None:
    restarted = InvoiceFact(
        "OLD", OLD.due_date, OLD.issued_at, 10000, limitation_expires_on=date(2027, 1, 31)
    )
    pay = PaymentFact("p", 20000, at(date(2025, 7, 1)))
    state = replay([restarted, NEW], [pay], terms=TERMS)
    assert state.invoices["OLD"].principal_paid_fen == 10000


# --- rule 9: utilities stand apart --------------------------------------------------------


PROP = InvoiceFact("PROP", date(2026, 1, 31), at(date(2026, 1, 1)), 30000)
WATER = InvoiceFact(
    "WATER", date(2026, 2, 28), at(date(2026, 2, 1)), 4000, collection="utilities",
    bears_late_fee=False,
)  # fmt: skip
POWER = InvoiceFact(
    "POWER", date(2026, 3, 31), at(date(2026, 3, 1)), 6000, collection="utilities",
    bears_late_fee=False,
)  # fmt: skip


def test_a_payment_for_utilities_never_pays_the_property_fee() -> None:
    pay = PaymentFact("p", 10000, at(date(2026, 2, 10)), ("WATER",))
    state = replay([PROP, WATER, POWER], [pay], terms=TERMS)
    assert state.invoices["WATER"].status == "paid"
    assert state.invoices["PROP"].principal_paid_fen == 0  # overdue, yet untouched
    # The rest waited as utilities credit and paid the next utilities invoice.
    assert state.invoices["POWER"].status == "paid"
    assert state.credit_fen == 0


def test_unnamed_money_pays_due_utilities_before_property_arrears() -> None:
    pay = PaymentFact("p", 5000, at(date(2026, 3, 5)))
    state = replay([PROP, WATER], [pay], terms=TERMS)
    assert [(a.invoice_id, a.amount_fen) for a in state.allocations] == [
        ("WATER", 4000),
        ("PROP", 1000),
    ]


def test_utilities_bear_no_late_fee_unless_the_contract_names_one() -> None:
    state = replay([WATER], terms=TERMS)
    assert state.invoices["WATER"].late_fee_accrued(date(2026, 12, 31), TERMS) == 0
    named = InvoiceFact("W2", WATER.due_date, WATER.issued_at, 4000, collection="utilities")
    assert replay([named], terms=TERMS).invoices["W2"].late_fee_accrued(
        date(2026, 3, 10), TERMS
    ) == fee(4000, 10)


# --- rule 11: prepayment discounts are earned by paying early -----------------------------


# A quarter's property fee 30,000 less 5% (1,500): billed 28,500, due 2026-01-31.
Q = InvoiceFact("Q", date(2026, 1, 31), at(date(2026, 1, 1)), 28500, prepay_discount_fen=1500)


def test_paid_in_full_by_the_due_date_keeps_the_discount() -> None:
    state = replay([Q], [PaymentFact("p", 28500, at(date(2026, 1, 31)))], terms=TERMS)
    q = state.invoices["Q"]
    assert q.status == "paid" and q.discount_lapsed_fen == 0 and q.principal_fen == 28500


def test_not_paid_in_full_the_discount_lapses_the_day_after_the_due_date() -> None:
    pay = PaymentFact("p", 20000, at(date(2026, 1, 20)))
    before = replay([Q], [pay], terms=TERMS, until=day_end(date(2026, 1, 31), SHANGHAI))
    assert before.invoices["Q"].principal_fen == 28500
    state = replay([Q], [pay], terms=TERMS, until=day_end(date(2026, 2, 1), SHANGHAI))
    q = state.invoices["Q"]
    assert q.discount_lapsed_fen == 1500 and q.principal_fen == 30000
    assert q.principal_due_fen == 10000  # arrears are the undiscounted amount
    # The late fee runs on the undiscounted arrears from 02-01.
    assert q.late_fee_accrued(date(2026, 2, 10), TERMS) == fee(10000, 10)


def test_credit_on_account_pays_the_lapsed_amount() -> None:
    pay = PaymentFact("p", 28000, at(date(2026, 1, 20)))
    late = PaymentFact("q", 5000, at(date(2026, 2, 5)))
    state = replay([Q], [pay, late], terms=TERMS)
    q = state.invoices["Q"]
    assert q.principal_paid_fen == 30000 and q.discount_lapsed_fen == 1500
    assert state.credit_fen == 33000 - 30000 - q.late_fee_paid_fen


# --- rule 12: a statement as of a past day is as of that day ------------------------------


def test_a_statement_as_of_a_past_day_shows_the_fee_to_that_day_not_to_the_payoff() -> None:
    payoff = PaymentFact("p", 40000, at(date(2026, 6, 1)))
    as_of = date(2026, 3, 2)
    state = replay([A, B], [payoff], terms=TERMS, until=day_end(as_of, SHANGHAI))
    a = state.invoices["A"]
    assert state.allocations == [] and a.principal_paid_fen == 0
    assert a.late_fee_accrued(as_of, TERMS) == fee(27580, 30)  # 02-01 .. 03-02
    # Replayed whole, A was paid off on 06-01 and its fee fixed there: more than as of 03-02.
    whole = replay([A, B], [payoff], terms=TERMS).invoices["A"]
    assert whole.late_fee_accrued(as_of, TERMS) == fee(27580, 120) > fee(27580, 30)
    # An invoice issued after the day is not on that day's statement.
    assert (
        "B" not in replay([A, B], terms=TERMS, until=day_end(date(2026, 1, 31), SHANGHAI)).invoices
    )


# --- rule 13: a sale settles the account --------------------------------------------------


SOLD_AT = at(date(2026, 3, 15))
SELLER_INV = InvoiceFact(
    "S1", date(2026, 2, 28), at(date(2026, 2, 1)), 27580, payer_party_id="seller"
)
BUYER_INV = InvoiceFact(
    "B1", date(2026, 4, 30), at(date(2026, 4, 1)), 27580, payer_party_id="buyer"
)


def sale(choice: str) -> SaleFact:
    return SaleFact("sale", SOLD_AT, ("seller",), "buyer", choice)  # type: ignore[arg-type]


def test_the_buyers_money_never_pays_the_sellers_arrears() -> None:
    pay = PaymentFact("p", 60000, at(date(2026, 4, 2)), payer_party_id="buyer")
    state = replay([SELLER_INV, BUYER_INV], [pay], sales=[sale("refund")], terms=TERMS)
    assert state.invoices["S1"].principal_paid_fen == 0
    assert state.invoices["B1"].status == "paid"
    # Named or not.
    named = PaymentFact("p", 60000, at(date(2026, 4, 2)), ("S1",), payer_party_id="buyer")
    state = replay([SELLER_INV, BUYER_INV], [named], sales=[sale("refund")], terms=TERMS)
    assert state.invoices["S1"].principal_paid_fen == 0


def test_the_sellers_money_pays_only_the_sellers_invoices() -> None:
    pay = PaymentFact("p", 60000, at(date(2026, 4, 2)), payer_party_id="seller")
    state = replay([SELLER_INV, BUYER_INV], [pay], sales=[sale("refund")], terms=TERMS)
    assert state.invoices["S1"].status == "paid"
    assert state.invoices["B1"].principal_paid_fen == 0


def test_transferred_seller_credit_pays_the_buyer_never_the_sellers_arrears() -> None:
    prepaid = PaymentFact("pre", 10000, at(date(2026, 1, 5)), payer_party_id="seller")
    # The seller's last invoice is issued after the sale (its month is the seller's).
    after = InvoiceFact(
        "S2", date(2026, 3, 31), at(date(2026, 3, 20)), 20000, payer_party_id="seller"
    )
    state = replay([after, BUYER_INV], [prepaid], sales=[sale("transfer")], terms=TERMS)
    assert state.invoices["S2"].principal_paid_fen == 0
    assert state.invoices["B1"].principal_paid_fen == 10000
    # Only credit still on account at the sale moves: what paid the seller before stays.
    before = InvoiceFact(
        "S0", date(2026, 3, 31), at(date(2026, 3, 14)), 20000, payer_party_id="seller"
    )
    state = replay([before, BUYER_INV], [prepaid], sales=[sale("transfer")], terms=TERMS)
    assert state.invoices["S0"].principal_paid_fen == 10000
    assert state.invoices["B1"].principal_paid_fen == 0


def test_refunded_seller_credit_is_frozen_until_its_refund() -> None:
    prepaid = PaymentFact("pre", 10000, at(date(2026, 1, 5)), payer_party_id="seller")
    after = InvoiceFact(
        "S2", date(2026, 3, 31), at(date(2026, 3, 20)), 20000, payer_party_id="seller"
    )
    state = replay([after, BUYER_INV], [prepaid], sales=[sale("refund")], terms=TERMS)
    assert state.allocations == []
    assert state.credit_fen == 10000 and state.frozen_credit_fen == 10000
    refund = RefundFact("r", "pre", 10000, at(date(2026, 3, 25)))
    state = replay([after, BUYER_INV], [prepaid], [refund], sales=[sale("refund")], terms=TERMS)
    assert state.credit_fen == 0 and state.allocations == []


# --- rule 6: the published basis continues the replay's own fee ---------------------------


@pytest.mark.parametrize(
    "terms", [TERMS, LateFeeTerms(Decimal("0.001"), Decimal("0.039"))], ids=["rate", "capped"]
)
def test_late_fee_on_the_published_basis_equals_the_replays_fee_later(terms: LateFeeTerms) -> None:
    pay = PaymentFact("p", 12345, at(date(2026, 2, 20)))
    state = replay([A], [pay], terms=terms)
    bal = state.invoices["A"]
    published = late_fee_basis(bal, date(2026, 2, 20), terms)  # what the event carries
    basis = published.accrual()
    for later in (date(2026, 2, 20), date(2026, 3, 1), date(2026, 9, 30), date(2028, 1, 1)):
        assert late_fee_on(basis, later) == bal.late_fee_accrued(later, terms)
    # A time-barred invoice: the basis stops where the replay stops.
    barred = replay([OLD], terms=terms).invoices["OLD"]
    basis = late_fee_basis(barred, date(2024, 6, 1), terms).accrual()
    assert basis.stops_on == date(2025, 1, 31)
    for later in (date(2024, 12, 1), date(2025, 1, 31), date(2026, 5, 1)):
        assert late_fee_on(basis, later) == barred.late_fee_accrued(later, terms)


def test_the_basis_at_issue_from_invoice_issued_and_community_terms() -> None:
    """With no balance change yet, payments prices a pay link from InvoiceIssued.interest_from
    and the community's terms (CommunityUpdated): the same fen as the replay."""
    late = InvoiceFact("L", date(2026, 1, 31), at(date(2026, 3, 10)), 27580)
    bal = replay([late], terms=TERMS).invoices["L"]
    basis = AccrualBasis(
        TERMS,
        starts_on=bal.interest_from,
        through=bal.interest_from - timedelta(days=1),
        fen_days=0,
        principal_outstanding_fen=27580,
    )
    for later in (date(2026, 3, 10), date(2026, 3, 11), date(2026, 12, 31)):
        assert late_fee_on(basis, later) == bal.late_fee_accrued(later, TERMS)
