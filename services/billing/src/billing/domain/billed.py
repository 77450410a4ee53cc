"""A unit-month is billed once per fee item (pure).

Time-based items (area, fixed, parking) bill a unit by the month: once a month of an item is
billed (a monthly run, a manual invoice), a later run over that month (a quarterly run over the
same quarter) bills only what is left, and a manual invoice for it is refused. Metered,
shared-meter and one-off charges are billed by their own source rows (a reading, a service),
each once; they are not tracked here.

Months that are left keep their prices: a run over them is priced by the same rules
(``bill_unit``) over the same schedule history, without the items already billed. A prepayment
discount applies only to a whole cycle (a quarter of which one month was billed is no longer a
prepaid quarter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date

from billing.domain.calendar import Period, month_end
from billing.domain.charges import (
    Cycle,
    Discounts,
    DraftInvoice,
    DraftLine,
    UnitFacts,
    bill_unit,
)
from billing.domain.schedule import ItemKind, ScheduleHistory

#: Items billed by the month: a unit-month of each is billed once.
TIME_BASED: tuple[ItemKind, ...] = ("area", "fixed", "parking")

#: Per month (its first day), the time-based item codes already billed for a unit.
Billed = Mapping[date, frozenset[str]]
#: ``bill_unit``'s memo of priced lines (valid for one history and one set of discounts).
PriceCache = dict[tuple[object, ...], tuple[list[DraftLine], int]]


def billed_by_month(rows: Iterable[tuple[str, date]]) -> dict[date, frozenset[str]]:
    """``(fee item, month)`` pairs as :data:`Billed`."""
    months: dict[date, set[str]] = {}
    for code, month in rows:
        months.setdefault(month, set()).add(code)
    return {month: frozenset(codes) for month, codes in months.items()}


def spans(period: Period, billed: Billed) -> list[tuple[Period, frozenset[str]]]:
    """The period cut into runs of consecutive months with the same items already billed."""
    result: list[tuple[Period, frozenset[str]]] = []
    for month in period.each_month():
        codes = billed.get(month, frozenset())
        if result and result[-1][1] == codes:
            result[-1] = (Period(result[-1][0].start, month_end(month)), codes)
        else:
            result.append((Period(month, month_end(month)), codes))
    return result


def bill_unbilled(
    unit: UnitFacts,
    period: Period,
    history: ScheduleHistory,
    billed: Billed,
    *,
    cycle: Cycle = "monthly",
    discounts: Discounts | None = None,
    caches: dict[frozenset[str], PriceCache] | None = None,
) -> list[DraftInvoice]:
    """What ``bill_unit`` would bill for the period, less the unit-month-items already billed:
    one draft per payer (the spans of one payer merged into one invoice whose lines name
    their months). Readings and extras go with the period's last month, as in ``bill_unit``.

    ``caches`` (one dict per run): ``bill_unit``'s memo per set of items left out, so units
    that bill alike are priced once on this path too."""
    caches = {} if caches is None else caches
    if not any(billed.get(m) for m in period.each_month()):
        return bill_unit(
            unit,
            period,
            history,
            cycle=cycle,
            discounts=discounts,
            cache=caches.setdefault(frozenset(), {}),
        )
    no_usage = replace(unit, readings=(), extras=())
    # One draft per payer and collection: utilities stay on their own invoice.
    merged: dict[tuple[str, str], DraftInvoice] = {}
    for span, codes in spans(period, billed):
        drafts = bill_unit(
            unit if span.end == period.end else no_usage,
            span,
            history.without(codes) if codes else history,
            cycle=cycle,
            discounts=discounts,
            cache=caches.setdefault(codes, {}),
        )
        for draft in drafts:
            key = (draft.payer_party_id, draft.collection)
            before = merged.get(key)
            if before is None:
                merged[key] = draft
                continue
            merged[key] = DraftInvoice(
                draft.unit_id,
                draft.payer_party_id,
                Period(
                    min(before.period.start, draft.period.start),
                    max(before.period.end, draft.period.end),
                ),
                before.lines + draft.lines,
                max(before.schedule_version, draft.schedule_version),
                draft.collection,
            )
    return list(merged.values())
