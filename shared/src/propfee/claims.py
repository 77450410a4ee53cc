"""How a claim for unpaid fees is worded (issue 19), pure: the one home shared by dunning's
evidence bundle (the court's claim per period) and the notifier's letters (the demand letter's
statement), so the letter an owner received and the claim a judge reads say the same thing.

- :func:`day`: a date as people write it (2026年3月1日);
- :func:`yuan`: fen as a document writes yuan (1,234.50元);
- :func:`percent`: a rate (0.0005 -> 0.05%);
- :func:`period_of`: an invoice's period (2026年3月; a quarter: 2026年1月1日至2026年3月31日);
- :func:`late_fee_terms`: how a late fee was computed (rate, cap, from which day to which, how
  many days), from billing's ``LateFeeBasis``;
- :func:`days_of_late_fee`: the days counted in it.

Inputs are mappings as JSON or a database row gives them (dates as ``date`` or ISO strings),
so dunning's rows and the notifier's stored parameters both fit. Facts not known are written
"（待补充）", never invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propfee.money import format_yuan

TO_COMPLETE = "（待补充）"


def as_date(value: Any) -> date | None:
    """A date from a ``date``, a ``datetime`` or an ISO string (its first ten characters)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def day(value: Any) -> str:
    """2026-03-01 -> '2026年3月1日'; text that is not a date is kept as it is; None -> ''."""
    parsed = as_date(value)
    if parsed is None:
        return "" if value is None else str(value)
    return f"{parsed.year}年{parsed.month}月{parsed.day}日"


def yuan(fen: int | None) -> str:
    """123456 -> '1,234.56元' (grouped, as documents write amounts); None -> ''."""
    return "" if fen is None else f"{format_yuan(int(fen), grouped=True)}元"


def percent(value: Any) -> str:
    """A rate as a percentage without trailing zeros: '0.0005' -> '0.05%'."""
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{number.normalize():f}%"


def period_of(invoice: Mapping[str, Any]) -> str:
    """The invoice's period: a calendar month as '2026年3月', any other span from day to day;
    without a period, the due date it has."""
    start, end = as_date(invoice.get("period_start")), as_date(invoice.get("period_end"))
    if start is None or end is None:
        return f"{TO_COMPLETE}（{day(invoice.get('due_date'))}到期）"
    if start.day == 1 and start.year == end.year and start.month == end.month:
        return f"{start.year}年{start.month}月"
    return f"{day(start)}至{day(end)}"


def days_of_late_fee(basis: Mapping[str, Any] | None, accrued_to: Any = None) -> int | None:
    """The days a late fee ran: from the basis's first day to the day it was accrued to
    (``accrued_to``, else the basis's own ``through``), no later than ``stops_on`` (a
    time-barred invoice's expiry). None when the basis does not say."""
    if not basis:
        return None
    starts = as_date(basis.get("starts_on"))
    end = as_date(accrued_to) or as_date(basis.get("through"))
    if starts is None or end is None:
        return None
    stops = as_date(basis.get("stops_on"))
    if stops is not None:
        end = min(end, stops)
    return max((end - starts).days + 1, 0)


def late_fee_terms(
    basis: Mapping[str, Any] | None, late_fee_fen: int, accrued_to: Any = None
) -> str:
    """The late fee's rate, cap and days from billing's LateFeeBasis, as far as it is known:
    the days run from its first day to the day the amount owed was accrued to
    (``accrued_to``: the newest balance's or assessment's; else the basis's own)."""
    if not basis:
        return TO_COMPLETE if late_fee_fen else "无"
    if basis.get("daily_rate") is None:
        return "合同未约定滞纳金"
    text = f"日费率{percent(basis['daily_rate'])}，年上限{percent(basis.get('annual_cap'))}"
    days = days_of_late_fee(basis, accrued_to)
    if days is not None:
        starts = as_date(basis.get("starts_on"))
        end = as_date(accrued_to) or as_date(basis.get("through"))
        stops = as_date(basis.get("stops_on"))
        if end is not None and stops is not None:
            end = min(end, stops)
        text += f"，自{day(starts)}计至{day(end)}，共{days}天"
    if basis.get("stops_on"):
        text += f"（诉讼时效届满，计至{day(basis['stops_on'])}止）"
    if basis.get("fixed_fen") is not None:
        text += "（本金已缴清，滞纳金不再增加）"
    return text
