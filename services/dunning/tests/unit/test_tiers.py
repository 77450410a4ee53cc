"""EXAMPLES.md "Tiers as of a date", and months overdue at the edges."""

from datetime import date

import pytest

from dunning.domain.tiers import TierThresholds, months_overdue, tier_of

AS_OF = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("oldest_due", "owed_yuan", "tier"),
    [
        (date(2025, 9, 30), 6_000, "red"),
        (date(2025, 9, 30), 4_000, "yellow"),
        (date(2026, 4, 30), 6_000, "yellow"),
        (date(2026, 8, 31), 100, "green"),
        (date(2026, 10, 31), 100, "current"),
    ],
)
def test_examples(oldest_due: date, owed_yuan: int, tier: str) -> None:
    assert tier_of(oldest_due, owed_yuan * 100, AS_OF) == tier


@pytest.mark.parametrize(
    ("due", "as_of", "months"),
    [
        (date(2025, 9, 30), AS_OF, 13),
        (date(2026, 4, 30), AS_OF, 6),
        (date(2026, 8, 31), AS_OF, 2),
        (date(2026, 10, 31), AS_OF, 0),
        (date(2026, 1, 31), date(2026, 2, 28), 0),
        (date(2026, 1, 31), date(2026, 3, 31), 2),
        (date(2026, 1, 15), date(2026, 2, 15), 1),
        (date(2026, 1, 15), date(2026, 2, 14), 0),
        (date(2026, 12, 1), AS_OF, 0),
    ],
)
def test_months_overdue_counts_whole_calendar_months(due: date, as_of: date, months: int) -> None:
    assert months_overdue(due, as_of) == months


def test_boundaries_red_needs_more_than_twelve_months_and_more_than_5000_yuan() -> None:
    assert tier_of(date(2025, 11, 22), 600_000, AS_OF) == "yellow"  # exactly 12 months
    assert tier_of(date(2025, 10, 22), 500_000, AS_OF) == "yellow"  # exactly 5,000 yuan
    assert tier_of(date(2025, 10, 22), 500_001, AS_OF) == "red"
    assert tier_of(date(2026, 5, 22), 1, AS_OF) == "yellow"  # exactly 6 months
    assert tier_of(date(2026, 10, 22), 1, AS_OF) == "green"  # exactly 1 month
    assert tier_of(None, 1, AS_OF) == "current"
    assert tier_of(date(2020, 1, 1), 0, AS_OF) == "current"


def test_thresholds_are_configurable_per_community() -> None:
    strict = TierThresholds(red_months=6, red_amount_fen=100_000, yellow_months=3)
    assert tier_of(date(2026, 3, 31), 200_000, AS_OF, strict) == "red"
    assert tier_of(date(2026, 7, 31), 200_000, AS_OF, strict) == "yellow"
    with pytest.raises(ValueError):
        TierThresholds(green_months=7, yellow_months=6)


def test_the_red_line_runs_on_overdue_principal_not_late_fee() -> None:
    """Issue 18 rule 6: 4,500 yuan principal + 1,000 yuan late fee is not over the red line."""
    assert tier_of(date(2025, 1, 31), 550_000, AS_OF, principal_fen=450_000) == "yellow"
    assert tier_of(date(2025, 1, 31), 550_000, AS_OF, principal_fen=500_001) == "red"
    assert tier_of(date(2025, 1, 31), 8_000, AS_OF, principal_fen=0) == "yellow"
