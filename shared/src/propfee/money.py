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
    if isinstance(amount_fen, int):
        return int(amount_fen)
    value = amount_fen if isinstance(amount_fen, Fraction) else Fraction(amount_fen)
    # Exact integer arithmetic (int(|n/d| + 1/2) = (2|n| + d) // 2d): no Fraction arithmetic
    # on the hot path of every late fee of every replayed account.
    n, d = value.numerator, value.denominator
    return (2 * n + d) // (2 * d) if n >= 0 else -((-2 * n + d) // (2 * d))


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


def format_yuan(fen: int, *, grouped: bool = False) -> str:
    """27580 -> '275.80'; -4137 -> '-41.37'; with ``grouped`` 123456789 -> '1,234,567.89'
    (as people write amounts in documents)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}" if grouped else f"{sign}{whole}.{cents:02d}"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def _below_ten_thousand(n: int) -> str:
    """1..9999 in capital numerals; a zero between digits is written once, trailing zeros not."""
    out: list[str] = []
    gap = False
    for value, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            gap = bool(out)
            continue
        if gap:
            out.append("零")
            gap = False
        out.append(_DIGITS[digit] + unit)
    return "".join(out)


def _whole_in_words(n: int) -> str:
    """A positive whole number in capital numerals, by 亿 and 万 sections: a section that
    does not fill its four digits after a higher one is joined with one 零."""
    for size, unit in ((10**8, "亿"), (10**4, "万")):
        if n >= size:
            high, low = divmod(n, size)
            tail = ("零" if low < size // 10 else "") + _whole_in_words(low) if low else ""
            return _whole_in_words(high) + unit + tail
    return _below_ten_thousand(n)


def yuan_in_words(fen: int) -> str:
    """An amount in Chinese capital numerals (大写金额), as a court filing, a receipt or a
    cheque writes it: 123456 -> '人民币壹仟贰佰叁拾肆元伍角陆分', 1000 -> '人民币壹拾元整',
    100000101 -> '人民币壹佰万零壹元零壹分', 5 -> '人民币伍分', 0 -> '人民币零元整'.

    整 closes an amount that ends at 元 or 角 (nothing can be appended); a missing 角 between
    元 and 分 is written 零. A negative amount has no capital form in a claim: refused."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise MoneyError(f"fen must be an int, got {type(fen).__name__}")
    if fen < 0:
        raise MoneyError("a negative amount has no capital form (大写金额)")
    whole, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    if whole == 0 and cents == 0:
        return "人民币零元整"
    words = _whole_in_words(whole) + "元" if whole else ""
    if jiao:
        words += _DIGITS[jiao] + "角" + (_DIGITS[fen_digit] + "分" if fen_digit else "整")
    elif fen_digit:
        words += ("零" if whole else "") + _DIGITS[fen_digit] + "分"
    else:
        words += "整"
    return "人民币" + words


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
