"""Rooms, periods and dates as people write them (issue 19: "What owners read").

Billing keys a unit ``"1栋/1单元/101"`` or ``"A座/-/1203"`` (building / entrance / room, ``-``
for none); an owner writes ``1栋1单元101`` and ``A座1203``. A bare number gets its unit word
(``9`` → ``9栋`` for a building, ``2`` → ``2单元`` for an entrance); a part that already has a
word (``A座``, ``东区3幢``, ``2单元``) is kept as written. The functions are idempotent: a label
already human passes through unchanged, so a consumer may normalise whatever it receives
(events from before the change carried the raw key).

Periods and dates are written the Chinese way: ``2026年11月``, a span of months
``2026年11月—2027年1月`` (``2026年10月—12月`` within one year), a span that is not whole months
as its dates, ``2026年12月31日`` and ``12月31日``.
"""

from __future__ import annotations

import calendar
from datetime import date

#: The separator of billing's unit key, and its "no entrance" part.
KEY_SEPARATOR = "/"
NO_PART = "-"
#: The dash between the ends of a span (an em dash, as in printed Chinese).
SPAN_DASH = "—"


def _part(value: str | None, word: str) -> str:
    text = (value or "").strip()
    if not text or text == NO_PART:
        return ""
    if text.isascii() and text.isdigit():
        return f"{text}{word}"
    return text


def room_label(building: str | None, entrance: str | None, room: str | None) -> str:
    """``room_label("9", "2", "502") == "9栋2单元502"``; ``room_label("A座", "-", "1203") ==
    "A座1203"``. The room number is kept as written (``502``, ``502室``)."""
    return f"{_part(building, '栋')}{_part(entrance, '单元')}{(room or '').strip()}"


def room_label_of_key(unit_key: str) -> str:
    """The label of billing's ``unit_key`` (``"1栋/1单元/101"`` → ``"1栋1单元101"``). Anything
    that is not a three-part key (a label already human, a free-form key) is returned as is
    (trimmed), so the function may be applied twice."""
    text = (unit_key or "").strip()
    parts = text.split(KEY_SEPARATOR)
    if len(parts) == 3:
        return room_label(*parts)
    if len(parts) == 2:  # building / room
        return room_label(parts[0], None, parts[1])
    return text


def date_label(day: date) -> str:
    """``2026年12月31日``."""
    return f"{day.year}年{day.month}月{day.day}日"


def month_day(day: date) -> str:
    """``12月31日``."""
    return f"{day.month}月{day.day}日"


def _is_whole_months(start: date, end: date) -> bool:
    last = calendar.monthrange(end.year, end.month)[1]
    return start.day == 1 and end.day == last


def period_label(start: date, end: date) -> str:
    """A billing period (``end`` inclusive): ``2026年11月`` for one whole month,
    ``2026年10月—12月`` or ``2026年11月—2027年1月`` for whole months, else its dates
    (``2026年11月15日—12月14日``, ``2026年12月20日—2027年1月19日``)."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    if _is_whole_months(start, end):
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.year}年{start.month}月"
        tail = f"{end.month}月" if end.year == start.year else f"{end.year}年{end.month}月"
        return f"{start.year}年{start.month}月{SPAN_DASH}{tail}"
    if start == end:
        return date_label(start)
    tail = month_day(end) if end.year == start.year else date_label(end)
    return f"{date_label(start)}{SPAN_DASH}{tail}"


def periods_label(periods: list[tuple[date, date]]) -> str:
    """Several periods (the invoices a payment covered): adjacent ones merged into one span,
    the spans joined with ``、`` in date order (``2026年1月—3月、2026年6月``)."""
    spans: list[tuple[date, date]] = []
    for start, end in sorted(set(periods)):
        if spans and (start - spans[-1][1]).days <= 1:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return "、".join(period_label(start, end) for start, end in spans)
