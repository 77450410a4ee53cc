"""Tiers as of a date (红黄绿三级预警, seed 002) and months overdue.

Months overdue are whole calendar months from the oldest unpaid due date to the as-of date;
the same rule lives in SQL as ``dunning_months_overdue`` (migration 0003) for the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

TierName = Literal["red", "yellow", "green", "current"]
TIER_RANK: dict[str, int] = {"red": 3, "yellow": 2, "green": 1, "current": 0}


def months_overdue(oldest_due: date, as_of: date) -> int:
    """Whole calendar months from ``oldest_due`` to ``as_of`` (0 when not yet a month)."""
    months = (as_of.year - oldest_due.year) * 12 + (as_of.month - oldest_due.month)
    if as_of.day < oldest_due.day:
        months -= 1
    return max(months, 0)


@dataclass(frozen=True, slots=True)
class TierThresholds:
    """Configurable per community; defaults from seed 002."""

    red_months: int = 12  # more than this many months ...
    red_amount_fen: int = 500_000  # ... and more than this much (5,000 yuan)
    yellow_months: int = 6  # this many months or more
    green_months: int = 1  # this many months or more

    def __post_init__(self) -> None:
        if not 0 < self.green_months <= self.yellow_months <= self.red_months:
            raise ValueError("tier thresholds must satisfy 0 < green <= yellow <= red months")
        if self.red_amount_fen < 0:
            raise ValueError("red amount must not be negative")


def tier_of(
    oldest_due: date | None,
    outstanding_fen: int,
    as_of: date,
    thresholds: TierThresholds = TierThresholds(),
    *,
    principal_fen: int | None = None,
) -> TierName:
    """Top down, first match wins: red, yellow, green, else current (no tier).

    ``outstanding_fen`` is the overdue amount chased (issue 18 rules 4 and 6: never a bill not
    yet due; a late fee alone only from the community's de-minimis on, ``dunning_chased_fen``)
    and ``oldest_due`` the due date it ages from; the red line runs on the overdue
    ``principal_fen`` (default: all of ``outstanding_fen``), so a late fee alone is never red.
    The sweep's SQL (``adapters/sweep_sql.py``) is the production home; this is its oracle."""
    if oldest_due is None or outstanding_fen <= 0:
        return "current"
    months = months_overdue(oldest_due, as_of)
    principal = outstanding_fen if principal_fen is None else principal_fen
    if months > thresholds.red_months and principal > thresholds.red_amount_fen:
        return "red"
    if months >= thresholds.yellow_months:
        return "yellow"
    if months >= thresholds.green_months:
        return "green"
    return "current"
