"""Amounts in Chinese capital numerals (大写金额) for claims, receipts and letters."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propfee.money import MoneyError, format_yuan, yuan_in_words

EXAMPLES = [
    (0, "人民币零元整"),
    (5, "人民币伍分"),
    (50, "人民币伍角整"),
    (56, "人民币伍角陆分"),
    (1_000, "人民币壹拾元整"),
    (1_050, "人民币壹拾元伍角整"),
    (1_005, "人民币壹拾元零伍分"),
    (123_456, "人民币壹仟贰佰叁拾肆元伍角陆分"),
    (100_500, "人民币壹仟零伍元整"),
    (101_000, "人民币壹仟零壹拾元整"),
    (100_005, "人民币壹仟元零伍分"),
    (1_001_000, "人民币壹万零壹拾元整"),
    (10_100_000, "人民币壹拾万壹仟元整"),
    (100_000_101, "人民币壹佰万零壹元零壹分"),
    (27_580, "人民币贰佰柒拾伍元捌角整"),
    (10_000_000_000, "人民币壹亿元整"),
    (10_000_100_000, "人民币壹亿零壹仟元整"),
    (10_100_000_000, "人民币壹亿零壹佰万元整"),
    (11_000_000_000, "人民币壹亿壹仟万元整"),
    (100_000_000_000_000, "人民币壹万亿元整"),
]


@pytest.mark.parametrize(("fen", "words"), EXAMPLES)
def test_yuan_in_words_examples(fen: int, words: str) -> None:
    assert yuan_in_words(fen) == words


def test_negative_and_non_integers_are_refused() -> None:
    for bad in (-1, True, 1.5, "100"):
        with pytest.raises(MoneyError):
            yuan_in_words(bad)  # type: ignore[arg-type]


def test_grouped_figures() -> None:
    assert format_yuan(123_456_789, grouped=True) == "1,234,567.89"
    assert format_yuan(5, grouped=True) == "0.05"
    assert format_yuan(-100_000, grouped=True) == "-1,000.00"
    assert format_yuan(100_000) == "1000.00"


DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
UNITS = {"拾": 10, "佰": 100, "仟": 1000}


def _section(text: str) -> int:
    total, digit = 0, 0
    for char in text:
        if char in DIGITS:
            digit = DIGITS[char]
        else:
            total, digit = total + digit * UNITS[char], 0
    return total + digit


def _whole(text: str) -> int:
    if "亿" in text:
        high, low = text.split("亿", 1)
        return _whole(high) * 10**8 + _whole(low)
    if "万" in text:
        high, low = text.split("万", 1)
        return _whole(high) * 10**4 + _whole(low)
    return _section(text)


def read_back(words: str) -> int:
    """An independent reader of capital amounts: the oracle of the property test."""
    assert words.startswith("人民币")
    body = words.removeprefix("人民币").removesuffix("整")
    whole, _, rest = body.rpartition("元") if "元" in body else ("", "", body)
    fen = _whole(whole) * 100
    if "角" in rest:
        jiao, rest = rest.split("角")
        fen += DIGITS[jiao] * 10
    if rest.endswith("分"):
        fen += DIGITS[rest[-2]]
    return fen


@given(st.integers(min_value=0, max_value=10**16))
def test_words_read_back_to_the_amount(fen: int) -> None:
    words = yuan_in_words(fen)
    assert read_back(words) == fen
    assert "零零" not in words and not words.removesuffix("整").endswith("零")
    assert words.endswith("整") == (fen % 10 == 0)
