from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propfee.money import Money, MoneyError, format_yuan, round_half_up, yuan_to_fen


def test_yuan_to_fen_rounds_half_up_once() -> None:
    assert yuan_to_fen("275.80") == 27580
    assert yuan_to_fen("0.005") == 1
    assert yuan_to_fen("0.004") == 0
    assert yuan_to_fen(Decimal("-0.005")) == -1
    assert yuan_to_fen("1,234.5") == 123450


def test_floats_and_garbage_are_refused() -> None:
    with pytest.raises(MoneyError):
        yuan_to_fen(1.1)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        yuan_to_fen("12元")
    with pytest.raises(MoneyError):
        yuan_to_fen("NaN")
    with pytest.raises(MoneyError):
        Money(1.5)  # type: ignore[arg-type]


def test_property_fee_example_from_examples_md() -> None:
    # 98.50 m² × 2.80 yuan = 275.80 yuan; quarterly 5% discount line −4,137.
    monthly = round_half_up(Decimal("98.50") * Decimal("2.80") * 100)
    assert monthly == 27580
    quarter = Money(3 * monthly)
    assert quarter.times(Decimal("-0.05")) == Money(-4137)
    assert quarter.fen - 4137 == 78603


def test_format_yuan() -> None:
    assert format_yuan(27580) == "275.80"
    assert format_yuan(-4137) == "-41.37"
    assert format_yuan(5) == "0.05"
    assert str(Money(100)) == "¥1.00"


@given(st.integers(-(10**9), 10**9), st.lists(st.integers(0, 1000), min_size=1, max_size=20))
def test_split_never_creates_or_loses_a_fen(amount: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = Money(amount).split(weights)
    assert sum(p.fen for p in parts) == amount
    assert len(parts) == len(weights)


def test_split_by_floor_area_shared_meter() -> None:
    # 100.00 yuan over areas 98.5, 120.0, 81.5 (in hundredths of m²).
    parts = Money(10000).split([9850, 12000, 8150])
    assert [p.fen for p in parts] == [3283, 4000, 2717]


def _reference_round_half_up(amount: Decimal | Fraction | int) -> int:
    """The rule as first written (Fraction arithmetic), against which the integer form runs."""
    value = Fraction(amount)
    sign = -1 if value < 0 else 1
    return sign * int(abs(value) + Fraction(1, 2))


@given(st.fractions(max_denominator=10**9) | st.integers(-(10**15), 10**15))
def test_round_half_up_integer_form_equals_the_fraction_rule(amount: Fraction | int) -> None:
    assert round_half_up(amount) == _reference_round_half_up(amount)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    )
)
def test_round_half_up_of_decimals_equals_the_fraction_rule(amount: Decimal) -> None:
    assert round_half_up(amount) == _reference_round_half_up(amount)


def test_round_half_up_halves_away_from_zero() -> None:
    assert [round_half_up(Fraction(n, 2)) for n in (-3, -1, 1, 3)] == [-2, -1, 1, 2]
    assert round_half_up(Fraction(-7, 3)) == -2 and round_half_up(Fraction(7, 3)) == 2
