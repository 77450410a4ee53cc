"""Invoice arithmetic (pure): exact decimals in, one rounding per line, integer fen out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from propfee.money import round_half_up


class InvalidLine(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LineInput:
    fee_item: str
    description: str
    quantity: str
    unit_price_fen: int


@dataclass(frozen=True, slots=True)
class PricedLine:
    fee_item: str
    description: str
    quantity: str
    unit_price_fen: int
    amount_fen: int


def price_line(line: LineInput) -> PricedLine:
    """quantity × unit price, rounded half up to the fen once."""
    try:
        quantity = Decimal(line.quantity)
    except InvalidOperation as exc:
        raise InvalidLine(f"{line.fee_item}: quantity {line.quantity!r} is not a number") from exc
    if not quantity.is_finite() or quantity < 0:
        raise InvalidLine(f"{line.fee_item}: quantity must be a finite number >= 0")
    amount = round_half_up(quantity * line.unit_price_fen)
    return PricedLine(line.fee_item, line.description, line.quantity, line.unit_price_fen, amount)


def invoice_total(lines: list[PricedLine]) -> int:
    """Totals are sums of rounded lines."""
    return sum(line.amount_fen for line in lines)
