"""EXAMPLES.md, "Property fee", and the schedule rules."""

from datetime import date
from decimal import Decimal

import pytest

from billing.domain.calendar import Period
from billing.domain.charges import (
    Discounts,
    ExtraCharge,
    PayerSpan,
    Reading,
    UnitFacts,
    bill_unit,
    split_shared_meter,
)
from billing.domain.schedule import (
    FeeItem,
    FeeSchedule,
    ScheduleError,
    ScheduleHistory,
    validate_schedule,
)


def schedule(version: int, effective: date, rate: str = "280", **extra: FeeItem) -> FeeSchedule:
    items = [
        FeeItem("property_fee", "物业服务费", "area", Decimal(rate), "residential"),
        FeeItem("property_fee", "物业服务费", "area", Decimal("480"), "shop"),
        FeeItem("parking", "车位管理费", "parking", Decimal("30000")),
        FeeItem("water", "水费", "metered", Decimal("410"), pass_through=True),
        FeeItem("stair_light", "公共照明", "shared_meter", Decimal("65"), pass_through=True),
        FeeItem("moving", "装修垃圾清运", "one_off", Decimal("20000")),
    ]
    return FeeSchedule(
        f"s{version}", version, date(2025, 1, 1), effective, "发改价〔2025〕12号", tuple(items)
    )


HISTORY = ScheduleHistory([schedule(1, date(2025, 2, 1))])
OWNER = (PayerSpan("owner", date(2019, 6, 1)),)


def unit(**kw: object) -> UnitFacts:
    data: dict[str, object] = dict(
        unit_id="3-2-1201", unit_type="residential", floor_area_m2=Decimal("98.50"), payers=OWNER
    )
    data.update(kw)
    return UnitFacts(**data)  # type: ignore[arg-type]


def amounts(draft_lines: object) -> list[tuple[str, int]]:
    return [(line.fee_item, line.amount_fen) for line in draft_lines]  # type: ignore[attr-defined]


def test_monthly_property_fee() -> None:
    [draft] = bill_unit(unit(), Period.of_months(date(2026, 1, 1), 1), HISTORY)
    assert amounts(draft.lines) == [("property_fee", 27580)]
    assert draft.total_fen == 27580
    assert draft.schedule_version == 1


def test_quarterly_with_prepayment_discount() -> None:
    [draft] = bill_unit(unit(), Period.of_months(date(2026, 1, 1), 3), HISTORY, cycle="quarterly")
    assert amounts(draft.lines) == [("property_fee", 82740), ("prepay_discount_quarterly", -4137)]
    assert draft.total_fen == 78603


def test_yearly_with_prepayment_discount() -> None:
    [draft] = bill_unit(unit(), Period.of_months(date(2026, 1, 1), 12), HISTORY, cycle="yearly")
    assert amounts(draft.lines) == [("property_fee", 330960), ("prepay_discount_yearly", -39715)]
    assert draft.total_fen == 291245


def test_rate_change_mid_month_splits_by_days() -> None:
    history = ScheduleHistory(
        [schedule(1, date(2025, 2, 1)), schedule(2, date(2026, 4, 16), rate="300")]
    )
    [draft] = bill_unit(unit(), Period.of_months(date(2026, 4, 1), 1), history)
    assert amounts(draft.lines) == [("property_fee", 13790), ("property_fee", 14775)]
    assert draft.total_fen == 28565
    assert draft.schedule_version == 2


def test_vacancy_discount_after_six_months() -> None:
    vacant = unit(vacancy_registered_on=date(2025, 9, 1))
    discounts = Discounts(vacancy_after_months=6, vacancy_payable_share=Decimal("0.70"))
    [feb] = bill_unit(vacant, Period.of_months(date(2026, 2, 1), 1), HISTORY, discounts=discounts)
    [mar] = bill_unit(vacant, Period.of_months(date(2026, 3, 1), 1), HISTORY, discounts=discounts)
    assert feb.total_fen == 27580
    assert amounts(mar.lines) == [("property_fee", 27580), ("vacancy_discount", -8274)]
    assert mar.total_fen == 19306


def test_handover_developer_pays_the_month_of_handover() -> None:
    # Handed over 2026-02-14: the developer pays January and February, the buyer from March.
    payers = (
        PayerSpan("developer", date(2018, 1, 1), date(2026, 2, 28)),
        PayerSpan("buyer", date(2026, 3, 1)),
    )
    drafts = bill_unit(
        unit(payers=payers), Period.of_months(date(2026, 1, 1), 3), HISTORY, cycle="quarterly"
    )
    assert [(d.payer_party_id, d.period.months, d.total_fen) for d in drafts] == [
        ("developer", 2, 55160),
        ("buyer", 1, 27580),
    ]  # no prepayment discount on a split quarter


def test_shop_rate_parking_metered_shared_and_one_off() -> None:
    shop = unit(
        unit_type="shop",
        floor_area_m2=Decimal("60.00"),
        parking_spaces=("B346",),
        readings=(Reading("water", Decimal("100.0"), Decimal("112.5")),),
        extras=(ExtraCharge("moving", Decimal(1)),),
    )
    [draft] = bill_unit(shop, Period.of_months(date(2026, 1, 1), 1), HISTORY)
    assert amounts(draft.lines) == [
        ("property_fee", 28800),
        ("parking", 30000),
        ("water", 5125),
        ("moving", 20000),
    ]


def test_shared_meter_split_by_area_loses_no_fen() -> None:
    shares = split_shared_meter(
        "stair_light",
        Decimal("100"),
        Decimal("65"),
        [("a", Decimal("98.5")), ("b", Decimal("120"))],
    )
    assert sum(s.amount_fen or 0 for s in shares.values()) == 6500
    assert shares["a"].amount_fen == 2930 and shares["b"].amount_fen == 3570


def test_bad_readings_and_unpublished_items_fail_loudly() -> None:
    period = Period.of_months(date(2026, 1, 1), 1)
    backwards = unit(readings=(Reading("water", Decimal("10"), Decimal("9")),))
    with pytest.raises(ValueError, match="below the previous"):
        bill_unit(backwards, period, HISTORY)
    unknown = unit(readings=(Reading("gas", Decimal("1"), Decimal("2")),))
    with pytest.raises(ScheduleError, match="'gas' is not in schedule version 1"):
        bill_unit(unknown, period, HISTORY)
    with pytest.raises(ScheduleError, match="no fee schedule is effective on 2025-01-01"):
        bill_unit(unit(), Period.of_months(date(2025, 1, 1), 1), HISTORY)
    with pytest.raises(ValueError, match="floor area"):
        bill_unit(unit(floor_area_m2=Decimal("-1")), period, HISTORY)


def test_schedule_publication_rules() -> None:
    good = schedule(2, date(2026, 3, 1))
    validate_schedule(good, previous=schedule(1, date(2025, 2, 1)))
    early = FeeSchedule("s3", 3, date(2026, 3, 1), date(2026, 3, 20), "ref", good.items)
    with pytest.raises(ScheduleError, match="less than 30 days after publication"):
        validate_schedule(early, previous=good)
    no_ref = FeeSchedule("s3", 3, date(2026, 3, 1), date(2026, 5, 1), " ", good.items)
    with pytest.raises(ScheduleError, match="approval reference"):
        validate_schedule(no_ref, previous=good)
    negative = FeeSchedule(
        "s3",
        3,
        date(2026, 3, 1),
        date(2026, 5, 1),
        "ref",
        (FeeItem("x", "x", "fixed", Decimal("-1")),),
    )
    with pytest.raises(ScheduleError, match=r"items\[0\] \(x\): rate"):
        validate_schedule(negative, previous=good)


def test_period_must_be_whole_months() -> None:
    with pytest.raises(ValueError):
        Period(date(2026, 1, 2), date(2026, 1, 31))
    assert Period.of_months(date(2026, 11, 1), 3).end == date(2027, 1, 31)


# EXAMPLES.md, "Late fee"
def test_late_fee_capped_and_uncapped() -> None:
    from propfee.late_fees import LateFeeTerms, accrued_late_fee, interest_starts

    rate = Decimal("0.0003")
    uncapped = LateFeeTerms(rate, annual_cap=Decimal("0.99"))
    capped = LateFeeTerms(rate)
    start = interest_starts(date(2026, 1, 31), date(2026, 1, 1))
    assert start == date(2026, 2, 1)
    assert accrued_late_fee(27580, start, date(2026, 3, 2), uncapped) == 248
    assert accrued_late_fee(27580, start, date(2026, 3, 2), capped) == 88
    paid = [(date(2026, 2, 15), 10000)]
    assert accrued_late_fee(27580, start, date(2026, 3, 2), capped, paid) == 71
    assert accrued_late_fee(27580, start, date(2026, 1, 31), capped) == 0
    assert accrued_late_fee(27580, start, date(2026, 3, 2), LateFeeTerms(None)) == 0


def test_a_contract_rate_above_the_cap_applies_at_the_cap() -> None:
    """DOMAIN.md, "Late-fee cap": valid, stored as written, accrues at annual cap / 365."""
    from propfee.late_fees import LateFeeTerms, accrued_late_fee

    above = LateFeeTerms(Decimal("0.0003"), Decimal("0.039"))
    below = LateFeeTerms(Decimal("0.0001"), Decimal("0.039"))
    assert above.capped and not below.capped
    assert above.daily_rate == Decimal("0.0003")
    # 10,000 fen for 365 days at the cap: exactly 3.9% of it.
    assert accrued_late_fee(10000, date(2026, 1, 1), date(2026, 12, 31), above) == 390
    assert accrued_late_fee(10000, date(2026, 1, 1), date(2026, 12, 31), below) == 365


def test_no_interest_before_the_invoice_existed() -> None:
    """An invoice issued after its due date bears interest from the day after it was issued."""
    from propfee.late_fees import LateFeeTerms, accrued_late_fee, interest_starts

    terms = LateFeeTerms(Decimal("0.0001"))
    start = interest_starts(date(2026, 1, 31), date(2026, 6, 10))
    assert start == date(2026, 6, 11)
    assert accrued_late_fee(100000, start, date(2026, 6, 10), terms) == 0
    assert accrued_late_fee(100000, start, date(2026, 6, 20), terms) == 100


def test_late_fee_on_continues_a_published_basis_exactly() -> None:
    """What payments computes from a balance change equals billing's own accrual."""
    from propfee.late_fees import AccrualBasis, LateFeeTerms, accrued_late_fee, late_fee_on

    terms = LateFeeTerms(Decimal("0.0003"))
    start, paid = date(2026, 2, 1), [(date(2026, 2, 15), 10000)]
    basis = AccrualBasis(terms, start, date(2026, 2, 15), 27580 * 14 + 17580, 17580)
    for day in (date(2026, 2, 15), date(2026, 3, 2), date(2027, 5, 9)):
        assert late_fee_on(basis, day) == accrued_late_fee(27580, start, day, terms, paid)
    barred = AccrualBasis(terms, start, date(2026, 2, 15), 27580 * 14 + 17580, 17580,
                          stops_on=date(2026, 3, 2))
    assert late_fee_on(barred, date(2027, 1, 1)) == late_fee_on(basis, date(2026, 3, 2))


def test_shop_gets_one_combined_statement_with_rent() -> None:
    """A published rent item for shops puts property fee and rent on one invoice."""
    with_rent = FeeSchedule(
        "s9",
        1,
        date(2025, 1, 1),
        date(2025, 2, 1),
        "ref",
        (
            FeeItem("property_fee", "物业服务费", "area", Decimal("480"), "shop"),
            FeeItem("rent", "商铺租金", "fixed", Decimal("600000"), "shop"),
        ),
    )
    shop = unit(unit_type="shop", floor_area_m2=Decimal("60.00"))
    [draft] = bill_unit(
        shop, Period.of_months(date(2026, 1, 1), 3), ScheduleHistory([with_rent]), cycle="quarterly"
    )
    assert amounts(draft.lines) == [
        ("property_fee", 86400),
        ("rent", 1800000),
        ("prepay_discount_quarterly", -4320),  # the discount is on the property fee only
    ]
    home = unit()
    # No residential rate in this schedule and rent is for shops: no empty invoice.
    assert (
        bill_unit(home, Period.of_months(date(2026, 1, 1), 1), ScheduleHistory([with_rent])) == []
    )
