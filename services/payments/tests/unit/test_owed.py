"""Pure pricing of pay links (issue 17, rules 6, 7 and 9): what an order asks for on a day,
when it expires, and the advance-collection cap on prepayments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from payments.domain.advance import AdvanceCap, RegularInvoice, check_prepayment
from payments.domain.orders import OrderError, order_expiry, terms_for_invoices
from payments.domain.owed import (
    OpenInvoice,
    accrual_basis,
    amount_owed,
    end_of_local_day,
    late_fee_owed,
    local_day,
    monthly_charge,
)
from payments.domain.settlement import GatewayReport, OrderState, Review, settle
from propfee.events import LateFeeBasis
from propfee.late_fees import LateFeeTerms

RATE = LateFeeTerms(Decimal("0.0001"))  # 0.01% a day, under the default cap
DAY = date(2026, 2, 11)  # paid on the 11th: late fee accrued through the 10th


def _invoice(**kw: object) -> OpenInvoice:
    data: dict[str, object] = dict(
        invoice_id="inv-1", community_id="c", unit_id="u", payer_party_id="p", total_fen=27580
    )
    data.update(kw)
    return OpenInvoice(**data)  # type: ignore[arg-type]


def _issued(terms: LateFeeTerms | None = RATE, interest_from: date | None = date(2026, 2, 1)):  # type: ignore[no-untyped-def]
    """An invoice billing published no balance of yet: the contract terms from interest_from."""
    return _invoice(
        basis=accrual_basis(
            total_fen=27580,
            interest_from=interest_from,
            community_terms=terms,
            balance_known=False,
            published=None,
        )
    )


def test_an_unpaid_invoice_on_time_asks_its_total() -> None:
    assert amount_owed(_issued(), date(2026, 1, 31)) == 27580
    assert amount_owed(_issued(), date(2026, 2, 1)) == 27580  # the first fee day not yet over


def test_an_overdue_invoice_asks_principal_plus_the_fee_to_the_day_before() -> None:
    # 1 to 10 February: 10 days x 27580 fen x 0.0001 = 27.58 fen -> 28.
    assert late_fee_owed(_issued(), DAY) == 28
    assert amount_owed(_issued(), DAY) == 27580 + 28


def test_a_contract_rate_above_the_cap_accrues_at_the_cap() -> None:
    capped = _issued(LateFeeTerms(Decimal("0.001")))
    # 10 x 27580 x 0.039 / 365 = 29.47 fen -> 29 (at 0.001 it would be 276).
    assert late_fee_owed(capped, DAY) == 29


def test_no_fee_without_a_contract_rate_or_before_interest_from() -> None:
    assert amount_owed(_issued(terms=None), DAY) == 27580
    assert amount_owed(_issued(LateFeeTerms(None)), DAY) == 27580
    assert amount_owed(_issued(interest_from=None), DAY) == 27580  # utilities: bears none


def _part_paid(**basis: object) -> OpenInvoice:
    # 10000 paid on 5 February: 1-4 Feb on 27580, from the 5th on 17580 (the payment stops
    # interest on its own day).
    published = dict(
        daily_rate=Decimal("0.0001"),
        annual_cap=Decimal("0.039"),
        starts_on=date(2026, 2, 1),
        through=date(2026, 2, 5),
        fen_days=4 * 27580 + 17580,
        principal_outstanding_fen=17580,
    )
    published.update(basis)
    return _invoice(
        principal_outstanding_fen=17580,
        basis=accrual_basis(
            total_fen=27580,
            interest_from=date(2026, 2, 1),
            community_terms=RATE,
            balance_known=True,
            published=LateFeeBasis(**published),  # type: ignore[arg-type]
            reported_late_fee_fen=13,
        ),
    )


def test_a_part_paid_invoice_asks_its_unpaid_principal_not_the_billed_total() -> None:
    no_fee = _part_paid(daily_rate=None)
    assert amount_owed(no_fee, DAY) == 17580
    # fen-days: 127900 to the 5th, then 6-10 Feb 5 x 17580 = 87900; 215800 x 0.0001 = 21.58.
    assert amount_owed(_part_paid(), DAY) == 17580 + 22


def test_late_fee_paid_or_waived_is_not_asked_again() -> None:
    invoice = _part_paid()
    paid = replace(invoice, late_fee_paid_fen=15, late_fee_waived_fen=5)
    assert late_fee_owed(paid, DAY) == 2
    waived = replace(invoice, late_fee_waived_fen=100)
    assert amount_owed(waived, DAY) == 17580  # never below the principal


def test_a_balance_without_its_basis_asks_the_fee_billing_last_reported() -> None:
    basis = accrual_basis(
        total_fen=27580,
        interest_from=date(2026, 2, 1),
        community_terms=RATE,
        balance_known=True,
        published=None,
        reported_late_fee_fen=13,
    )
    invoice = _invoice(principal_outstanding_fen=17580, basis=basis)
    assert amount_owed(invoice, DAY) == amount_owed(invoice, DAY + timedelta(days=30)) == 17593


def test_an_order_for_invoices_charges_what_they_owe_and_ends_with_its_day() -> None:
    invoices = {"inv-1": _issued(), "inv-2": _invoice(invoice_id="inv-2", total_fen=500)}
    terms = terms_for_invoices(["inv-1", "inv-2"], invoices, "u", DAY)
    assert terms.amount_fen == 27580 + 28 + 500
    assert terms.priced_for_the_day  # tomorrow it owes one more day of fee
    assert not terms_for_invoices(["inv-2"], invoices, "u", DAY).priced_for_the_day
    created = datetime(2026, 2, 11, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
    ends = end_of_local_day(local_day(created, "Asia/Shanghai"), "Asia/Shanghai")
    assert ends == datetime(2026, 2, 11, 16, 0, tzinfo=UTC)
    assert order_expiry(created, timedelta(minutes=30), ends) == ends
    assert order_expiry(created, timedelta(minutes=5), ends) == created + timedelta(minutes=5)
    assert order_expiry(created, timedelta(minutes=30)) == created + timedelta(minutes=30)


def test_a_closed_invoice_cannot_be_ordered() -> None:
    for state in ("paid", "void", "written_off"):
        invoices = {"inv-1": _invoice(state=state)}
        with pytest.raises(OrderError, match=state.replace("_", " ")):
            terms_for_invoices(["inv-1"], invoices, "u", DAY)


def test_a_utilities_invoice_alone_can_be_ordered_while_property_arrears_are_open() -> None:
    invoices = {
        "old-property": _invoice(invoice_id="old-property", basis=_issued().basis),
        "water": _invoice(invoice_id="water", total_fen=4200, collection="utilities"),
    }
    terms = terms_for_invoices(["water"], invoices, "u", DAY)
    assert (terms.invoice_ids, terms.amount_fen) == (("water",), 4200)


def test_money_for_a_failed_order_goes_to_finance_review() -> None:
    at = datetime(2026, 2, 11, 2, 0, tzinfo=UTC)
    order = OrderState("o", 100, "CNY", "failed", at + timedelta(minutes=30), None)
    report = GatewayReport("wechatpay", "wechat_pay", "t", "o", 100, "CNY", at)
    decision = settle(order, report)
    assert isinstance(decision, Review) and decision.reason == "expired_order"


MARCH = RegularInvoice(date(2026, 3, 1), date(2026, 3, 31), 27580)


def test_the_monthly_charge_of_a_quarterly_bill_is_a_third() -> None:
    assert monthly_charge(date(2026, 1, 1), date(2026, 3, 31), 82740) == 27580
    assert RegularInvoice(date(2026, 1, 1), date(2026, 3, 31), 82740).monthly_fen == 27580


def test_a_prepayment_may_put_at_most_twelve_months_on_account() -> None:
    day = date(2026, 3, 5)
    owed = 27580  # March is open: an unnamed payment pays it first
    kw = dict(owed_fen=owed, credit_fen=0, latest=MARCH, cap=AdvanceCap(), day=day)
    check_prepayment(12 * 27580 + owed, **kw)  # type: ignore[arg-type]
    with pytest.raises(OrderError, match="capped at 12 months ahead"):
        check_prepayment(12 * 27580 + owed + 1, **kw)  # type: ignore[arg-type]
    # Money already on account counts.
    with pytest.raises(OrderError, match=r"at most 827\.40 yuan"):
        check_prepayment(12 * 27580, **{**kw, "credit_fen": 10 * 27580})  # type: ignore[arg-type]
    # The community's own cap.
    with pytest.raises(OrderError):
        check_prepayment(7 * 27580 + owed, **{**kw, "cap": AdvanceCap(6)})  # type: ignore[arg-type]


def test_a_prepayment_never_reaches_past_the_contract_end() -> None:
    cap = AdvanceCap(12, contract_end=date(2026, 8, 31))  # April to August: 5 months
    kw = dict(owed_fen=0, credit_fen=0, latest=MARCH, cap=cap, day=date(2026, 3, 5))
    check_prepayment(5 * 27580, **kw)  # type: ignore[arg-type]
    with pytest.raises(OrderError, match="contract ends on 2026-08-31"):
        check_prepayment(5 * 27580 + 1, **kw)  # type: ignore[arg-type]
    ended = dict(kw, cap=AdvanceCap(12, contract_end=date(2026, 3, 31)))
    with pytest.raises(OrderError):
        check_prepayment(1, **ended)  # type: ignore[arg-type]


def test_a_prepayment_before_any_regular_invoice_is_taken() -> None:
    check_prepayment(10**9, owed_fen=0, credit_fen=0, latest=None, cap=AdvanceCap(), day=DAY)
