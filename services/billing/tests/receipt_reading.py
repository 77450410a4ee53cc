"""Reading a printed receipt back as its reader does (``pdftotext``, tests/support/pdf_layout):
its item rows, its totals, its verification code; and the checks every receipt passes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from propfee.money import yuan_in_words
from tests.support import pdf_layout

PERIOD = r"\d{4}年\d{1,2}月(?:至\d{4}年\d{1,2}月)?|—"
#: An item row as laid out: [序号] 收费项目 所属期间 金额 (one line each).
ROW = re.compile(rf"^\s*(?:\d+\s+)?(\S+)\s+({PERIOD})\s+(-?[\d,]+\.\d\d)\s*$")
TOTAL = re.compile(r"合计（小写）\s+¥([\d,]+\.\d\d)")
CODE = re.compile(r"/receipts/verify/([a-z0-9]+)")


@dataclass(frozen=True)
class Row:
    item: str
    period: str
    fen: int


def fen(text: str) -> int:
    whole, cents = text.replace(",", "").split(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(cents))


def rows(pdf: bytes) -> list[Row]:
    return [
        Row(m[1], m[2], fen(m[3]))
        for line in pdf_layout.text(pdf).splitlines()
        if (m := ROW.match(line))
    ]


def flat(pdf: bytes) -> str:
    """The text with no spaces or line breaks (a cell's text may wrap)."""
    return re.sub(r"\s+", "", pdf_layout.text(pdf))


def total_fen(pdf: bytes) -> int:
    found = TOTAL.search(pdf_layout.text(pdf))
    assert found, "no total in figures"
    return fen(found[1])


def verification_code(pdf: bytes) -> str:
    found = CODE.search(flat(pdf))
    assert found, "no verification link"
    return found[1]


def check(pdf: bytes) -> list[Row]:
    """What every receipt must be: lines adding up to the total in figures, the total in
    capital numerals matching it, the seal box and the verification link, nothing past the
    printable area or drawn over other text, every font embedded. Returns its rows."""
    found = rows(pdf)
    assert found, "no item rows"
    total = total_fen(pdf)
    assert sum(r.fen for r in found) == total, "the lines do not add up to the total"
    text = flat(pdf)
    assert f"合计（大写）{yuan_in_words(total)}" in text
    assert "收款单位（盖章）" in text and "扫码或访问以下链接核验本收据" in text
    assert pdf_layout.layout_problems(pdf) == []
    assert pdf_layout.fonts_not_embedded(pdf) == []
    return found
