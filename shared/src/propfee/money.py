"""Money is integer fen (分). Decimal arithmetic happens only on the way in (rates, areas)
and is rounded half up to the fen once per invoice line; totals are sums of rounded lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field

CURRENCY: Literal["CNY"] = "CNY"
Currency = Literal["CNY"]

#: An amount in fen on the wire: a plain JSON integer, never a float or a string.
Fen = Annotated[int, Field(strict=True, description="Amount in fen (1 yuan = 100 fen)")]
#: A non-negative amount in fen.
NonNegativeFen = Annotated[int, Field(strict=True, ge=0, description="Amount in fen, >= 0")]


class MoneyError(ValueError):
    """A value that cannot be read as an amount of money."""


def round_half_up(amount_fen: Decimal | Fraction | int) -> int:
    """Round an exact amount of fen (a decimal or a fraction) to whole fen, half away from
    zero. The one rounding rule of money: every line, share and late fee goes through it."""
    value = Fraction(amount_fen)
    sign = -1 if value < 0 else 1
    return sign * int(abs(value) + Fraction(1, 2))


def yuan_to_fen(yuan: Decimal | str | int) -> int:
    """Parse an amount in yuan ("275.80", Decimal("12.5"), 3) into fen, rounding half up.

    Floats are refused: they cannot represent most amounts exactly.
    """
    if isinstance(yuan, float):
        raise MoneyError("amounts in yuan must be Decimal, str or int, not float")
    try:
        value = Decimal(str(yuan).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount in yuan: {yuan!r}") from exc
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {yuan!r}")
    return round_half_up(value * 100)


def format_yuan(fen: int) -> str:
    """27580 -> '275.80'; -4137 -> '-41.37'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of CNY in integer fen. Arithmetic never leaves whole fen."""

    fen: int
    currency: Currency = CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.fen, int) or isinstance(self.fen, bool):
            raise MoneyError(f"fen must be an int, got {type(self.fen).__name__}")
        if self.currency != CURRENCY:
            raise MoneyError(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def from_yuan(cls, yuan: Decimal | str | int) -> Money:
        return cls(yuan_to_fen(yuan))

    @classmethod
    def total(cls, amounts: Iterable[Money]) -> Money:
        return cls(sum(m.fen for m in amounts))

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)

    def __neg__(self) -> Money:
        return Money(-self.fen)

    def times(self, factor: Decimal | int) -> Money:
        """Multiply by an exact factor and round half up once."""
        return Money(round_half_up(Decimal(self.fen) * Decimal(factor)))

    def split(self, weights: list[int]) -> list[Money]:
        """Split into parts proportional to integer weights; the parts sum exactly to self.

        Largest-remainder method, ties to the earlier part, so no fen appears or disappears.
        """
        if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
            raise MoneyError("weights must be non-negative with a positive sum")
        total_w = sum(weights)
        sign = -1 if self.fen < 0 else 1
        amount = abs(self.fen)
        base = [amount * w // total_w for w in weights]
        remainders = [(amount * w % total_w, -i) for i, w in enumerate(weights)]
        for _, neg_i in sorted(remainders, reverse=True)[: amount - sum(base)]:
            base[-neg_i] += 1
        return [Money(sign * b) for b in base]

    def __str__(self) -> str:
        return f"¥{format_yuan(self.fen)}"
