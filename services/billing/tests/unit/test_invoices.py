import pytest

from billing.domain.invoices import InvalidLine, LineInput, invoice_total, price_line


def test_line_is_rounded_half_up_once() -> None:
    # 98.50 m² × 280 fen/m² = 27,580 fen.
    line = price_line(LineInput("property_fee", "物业服务费", "98.50", 280))
    assert line.amount_fen == 27580
    # 0.5 fen rounds up.
    assert price_line(LineInput("water", "水费", "1.5", 3)).amount_fen == 5


def test_total_is_the_sum_of_rounded_lines() -> None:
    lines = [price_line(LineInput("x", "x", "0.5", 1)) for _ in range(3)]
    assert invoice_total(lines) == 3  # not round(1.5) == 2


def test_a_bad_quantity_fails_loudly() -> None:
    with pytest.raises(InvalidLine):
        price_line(LineInput("x", "x", "abc", 1))
    with pytest.raises(InvalidLine):
        price_line(LineInput("x", "x", "-1", 1))
