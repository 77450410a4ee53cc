"""WeChat subscription-message values (pure): each template keyword is typed by its prefix
(``thing1``, ``amount2``, ``time3``, ``character_string4`` ...) and WeChat refuses a value
that breaks its type's rule (errcode 47003). The rules, from WeChat's documentation:

- thing: 20 characters or fewer (Chinese, letters, digits, symbols) - longer text is cut
  with an ellipsis, since it is prose;
- character_string: 32 or fewer digits, letters or symbols (no Chinese) - never cut, a code
  cut short would be wrong;
- number: 32 or fewer digits, decimals allowed; letter: 32 or fewer letters;
  symbol: 5 or fewer symbols;
- amount: a currency sign and 10 or fewer digits, decimals allowed, may end in 元;
- time: 24-hour time, with the date allowed (2019年10月1日 15:01);
  date: the date, with the time allowed;
- phone_number: 17 or fewer digits and symbols; car_number: 8 or fewer;
- name: 10 or fewer Chinese characters or 20 or fewer letters; phrase: 5 or fewer Chinese
  characters; no control characters anywhere.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from propfee.money import format_yuan

_KIND = re.compile(r"^([a-z_]+?)\d*$")
_CJK = re.compile(r"^[\u3400-\u9fff]+$")
_SYMBOLS = re.compile(r"^[^\w\s\u3400-\u9fff]+$")


class FieldError(ValueError):
    """A value WeChat would refuse for its keyword (the message cannot go on this channel)."""


def kind_of(keyword: str) -> str:
    match = _KIND.match(keyword)
    if not match:
        raise FieldError(f"{keyword}: not a WeChat template keyword")
    return match.group(1)


def _clean(text: str) -> str:
    """No control characters (line breaks become spaces), whitespace collapsed."""
    spaced = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(spaced.split())


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _when(value: Any, kind: str, keyword: str) -> str:
    if isinstance(value, datetime):
        return f"{_day(value.date())} {value:%H:%M}"
    if isinstance(value, date):
        # A date in a time field: the end of that day (a deadline is "by the end of the day").
        return _day(value) if kind == "date" else f"{_day(value)} 23:59"
    if isinstance(value, str) and value:
        return _clean(value)
    raise FieldError(f"{keyword}: needs a date or time, got {value!r}")


def _amount(value: Any, keyword: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{keyword}: an amount needs integer fen, got {value!r}")
    text = format_yuan(value)
    if len(text.replace(".", "").lstrip("-")) > 10 or value < 0:
        raise FieldError(f"{keyword}: {text} does not fit 10 digits")
    return f"{text}元"


def format_value(keyword: str, value: Any) -> str:
    """The value to send for ``keyword``, or FieldError with the rule it breaks."""
    kind = kind_of(keyword)
    if value is None or value == "":
        raise FieldError(f"{keyword}: no value")
    if kind == "amount":
        return _amount(value, keyword)
    if kind in {"time", "date"}:
        return _when(value, kind, keyword)
    text = _clean(str(value))
    if kind == "thing":
        return text if len(text) <= 20 else text[:19] + "…"
    rules: dict[str, tuple[int, re.Pattern[str]]] = {
        "character_string": (32, re.compile(r"^[\x21-\x7e]+$")),
        "number": (32, re.compile(r"^-?\d+(\.\d+)?$")),
        "letter": (32, re.compile(r"^[A-Za-z]+$")),
        "symbol": (5, _SYMBOLS),
        "phone_number": (17, re.compile(r"^[\d+\-() ]+$")),
        "car_number": (8, re.compile(r"^[\w\u3400-\u9fff]+$")),
        "phrase": (5, _CJK),
    }
    if kind == "name":
        limit = 10 if re.search(r"[\u3400-\u9fff]", text) else 20
        if len(text) > limit:
            raise FieldError(f"{keyword}: a name has at most {limit} characters")
        return text
    if kind == "enum":
        return text
    if kind not in rules:
        raise FieldError(f"{keyword}: unknown WeChat keyword type {kind!r}")
    limit, pattern = rules[kind]
    if len(text) > limit or not pattern.match(text):
        raise FieldError(f"{keyword}: {kind} takes at most {limit} of {pattern.pattern}")
    return text


def template_data(mapping: dict[str, str], values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{keyword: {"value": ...}}`` from ``{keyword: variable}`` and the message's values."""
    return {
        keyword: {"value": format_value(keyword, values.get(variable))}
        for keyword, variable in mapping.items()
    }
