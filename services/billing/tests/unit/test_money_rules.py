"""Issue 17, rules 4, 7 and 8 as pure rules: the day a schedule is recorded, advance
collection counted from the day of recording, a unit-month billed once per fee item,
installment parts and the missed judgement."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from billing.domain.advance import AdvanceCapError, advance_limit, check_advance
from billing.domain.billed import bill_unbilled, billed_by_month, spans
from billing.domain.calendar import Period
from billing.domain.charges import DraftLine, PayerSpan, Reading, UnitFacts, bill_unit
from billing.domain.plans import Part, PlanError, check_parts, part_statuses
from billing.domain.schedule import (
    FeeItem,
    FeeSchedule,
    ScheduleError,
    ScheduleHistory,
    recording_date,
    validate_import,
)


def schedule(version: int, effective: date) -> FeeSchedule:
    items = (
        FeeItem("property_fee", "物业服务费", "area", Decimal("280"), "residential"),
        FeeItem("parking", "车位管理费", "parking", Decimal("30000")),
        FeeItem(
            "water",
            "水费",
            "metered",
            Decimal("410"),
            pass_through=True,
            supplier_tariff_fen=Decimal("410"),
            tariff_source="杭州水务 2024 居民水价",
        ),
    )
    return FeeSchedule(
        f"s{version}", version, date(2025, 1, 1), effective, "发改价〔2025〕12号", items
    )


HISTORY = ScheduleHistory([schedule(1, date(2025, 2, 1))])


def unit(**kw: object) -> UnitFacts:
    data: dict[str, object] = dict(
        unit_id="3-2-1201",
        unit_type="residential",
        floor_area_m2=Decimal("98.50"),
        payers=(PayerSpan("owner", date(2019, 6, 1)),),
    )
    data.update(kw)
    return UnitFacts(**data)  # type: ignore[arg-type]


def amounts(lines: tuple[DraftLine, ...]) -> list[tuple[str, int]]:
    return [(line.fee_item, line.amount_fen) for line in lines]


TODAY = date(2026, 12, 2)


# --- 4. Thirty days' notice counts from the day a schedule is recorded --------------------


def test_a_version_is_recorded_today() -> None:
    assert recording_date(None, TODAY, own_clock=False) == TODAY
    assert recording_date(TODAY, TODAY, own_clock=False) == TODAY
    with pytest.raises(ScheduleError, match="not the day of recording"):
        recording_date(date(2026, 11, 1), TODAY, own_clock=False)  # back-dated
    with pytest.raises(ScheduleError, match="not the day of recording"):
        recording_date(date(2026, 12, 3), TODAY, own_clock=False)  # forward-dated


def test_the_simulation_clock_records_as_of_its_day() -> None:
    assert recording_date(date(2025, 11, 1), TODAY, own_clock=True) == date(2025, 11, 1)


def _version(n: int, published: date, effective: date) -> FeeSchedule:
    return replace(schedule(n, effective), published_on=published)


def test_an_import_keeps_the_original_dates_and_the_rules_between_versions() -> None:
    history = [
        _version(1, date(2019, 5, 1), date(2019, 6, 1)),
        _version(2, date(2023, 1, 1), date(2023, 3, 1)),
    ]
    validate_import(history, TODAY)  # years back: allowed, once, in an import
    with pytest.raises(ScheduleError, match=r"versions\[1\].effective_from"):
        validate_import([history[0], _version(2, date(2023, 1, 1), date(2023, 1, 15))], TODAY)
    with pytest.raises(ScheduleError, match=r"versions\[1\].effective_from: .* must be after"):
        validate_import([history[1], _version(2, date(2019, 5, 1), date(2019, 6, 1))], TODAY)
    with pytest.raises(ScheduleError, match="after today"):
        validate_import([_version(1, date(2026, 12, 3), date(2027, 1, 3))], TODAY)
    with pytest.raises(ScheduleError, match="at least one"):
        validate_import([], TODAY)


# --- 7. Advance collection is capped; a unit-month is billed once per fee item ------------


def test_advance_collection_counts_from_the_day_of_recording() -> None:
    assert advance_limit(TODAY, 12, None) == date(2027, 12, 31)
    assert advance_limit(TODAY, 12, date(2027, 6, 30)) == date(2027, 6, 30)
    check_advance(date(2027, 12, 31), TODAY, 12, None)
    with pytest.raises(AdvanceCapError, match="more than 12 months ahead of 2026-12-02"):
        check_advance(date(2028, 1, 31), TODAY, 12, None)
    with pytest.raises(AdvanceCapError, match="past the service contract's end 2027-06-30"):
        check_advance(date(2027, 7, 31), TODAY, 12, date(2027, 6, 30))
    with pytest.raises(AdvanceCapError, match="more than 0 months"):
        check_advance(date(2027, 1, 31), TODAY, 0, None)


PARKED = {"parking_spaces": ("B1-001",)}
Q1 = Period.of_months(date(2026, 1, 1), 3)


def test_nothing_billed_bills_as_before() -> None:
    u = unit(**PARKED)
    expected = bill_unit(u, Q1, HISTORY, cycle="quarterly")
    assert bill_unbilled(u, Q1, HISTORY, {}, cycle="quarterly") == expected
    assert amounts(expected[0].lines) == [
        ("property_fee", 82740),
        ("parking", 90000),
        ("prepay_discount_quarterly", -4137),
    ]


def test_a_quarterly_run_after_a_monthly_one_bills_the_months_left() -> None:
    billed = billed_by_month([("property_fee", date(2026, 1, 1)), ("parking", date(2026, 1, 1))])
    [draft] = bill_unbilled(unit(**PARKED), Q1, HISTORY, billed, cycle="quarterly")
    # February and March only; two months are no prepaid quarter: no discount.
    assert amounts(draft.lines) == [("property_fee", 55160), ("parking", 60000)]
    assert draft.period == Period(date(2026, 2, 1), date(2026, 3, 31))
    assert "2026-02~2026-03" in draft.lines[0].description


def test_only_the_item_billed_is_skipped_in_a_month() -> None:
    billed = billed_by_month([("property_fee", date(2026, 1, 1))])  # a manual invoice
    [draft] = bill_unbilled(unit(**PARKED), Q1, HISTORY, billed, cycle="quarterly")
    assert amounts(draft.lines) == [("parking", 30000), ("property_fee", 55160), ("parking", 60000)]
    assert draft.period == Q1
    assert draft.total_fen == 145160


def test_a_month_in_the_middle_and_usage_billed_once() -> None:
    water = Reading("water", Decimal("100"), Decimal("110"))
    billed = billed_by_month([("property_fee", date(2026, 2, 1))])
    draft, utilities = bill_unbilled(
        unit(readings=(water,)), Q1, HISTORY, billed, cycle="quarterly"
    )
    assert amounts(draft.lines) == [("property_fee", 27580), ("property_fee", 27580)]
    # Water collected for the supplier stays on its own invoice on this path too.
    assert utilities.collection == "utilities" and amounts(utilities.lines) == [("water", 4100)]
    assert [line.description for line in draft.lines][:2] == [
        "物业服务费 2026-01",
        "物业服务费 2026-03",
    ]


def test_everything_billed_bills_nothing() -> None:
    months = [date(2026, m, 1) for m in (1, 2, 3)]
    billed = billed_by_month([(c, m) for m in months for c in ("property_fee", "parking")])
    assert bill_unbilled(unit(**PARKED), Q1, HISTORY, billed, cycle="quarterly") == []


def test_spans_group_months_by_what_is_billed() -> None:
    billed = billed_by_month([("parking", date(2026, 2, 1)), ("parking", date(2026, 3, 1))])
    assert spans(Q1, billed) == [
        (Period(date(2026, 1, 1), date(2026, 1, 31)), frozenset()),
        (Period(date(2026, 2, 1), date(2026, 3, 31)), frozenset({"parking"})),
    ]


def test_without_keeps_versions_and_dates() -> None:
    history = ScheduleHistory([schedule(1, date(2025, 2, 1)), schedule(2, date(2026, 2, 16))])
    left = history.without(frozenset({"parking"}))
    assert [(s.version, s.effective_from) for s in left.versions] == [
        (1, date(2025, 2, 1)),
        (2, date(2026, 2, 16)),
    ]
    assert all(i.code != "parking" for s in left.versions for i in s.items)
    assert history.codes_of(("area", "fixed", "parking")) == frozenset({"property_fee", "parking"})


# --- 8. Installment plans -------------------------------------------------------------------


def test_parts_within_the_communitys_range() -> None:
    for parts in (3, 4, 6):
        check_parts(parts, 3, 6)
    for parts in (2, 7):
        with pytest.raises(PlanError, match="range of 3-6"):
            check_parts(parts, 3, 6)
    check_parts(12, 2, 12)


PARTS = [Part(1, date(2026, 3, 31), 10000), Part(2, date(2026, 4, 30), 10000)]


def test_a_part_is_paid_by_payments_since_the_plan_in_order() -> None:
    assert part_statuses(PARTS, 0, date(2026, 3, 31)) == ["due", "due"]
    assert part_statuses(PARTS, 0, date(2026, 4, 1)) == ["missed", "due"]
    assert part_statuses(PARTS, 10000, date(2026, 4, 1)) == ["paid", "due"]
    assert part_statuses(PARTS, 15000, date(2026, 5, 1)) == ["paid", "missed"]
    assert part_statuses(PARTS, 20000, date(2026, 5, 1)) == ["paid", "paid"]
