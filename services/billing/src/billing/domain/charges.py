"""What one unit owes for one billing period (pure): lines per fee item, discounts as lines.

Exact arithmetic (fractions of a month, rates with sub-fen precision) is rounded half up once
per line; totals are sums of lines (EXAMPLES.md, "Money and rounding", "Property fee").

Utilities collected on behalf of suppliers (水电暖代收: the schedule's pass-through items) are
billed on their own invoice (``collection='utilities'``), apart from the property fee: no
property discount (vacancy, prepayment) ever touches them (DOMAIN.md, "Decisions, December
2026").

Vacancy discount (空置房优惠) is granted by whole calendar months, in every cycle alike: a
month is discounted when the unit was registered vacant, past the waiting time, for all of
it. The first discounted month is the first that starts on or after ``registered_on`` plus
the waiting months (EXAMPLES.md: registered 2025-09-01, 6 months, from March 2026); the last
is the last month that ends on or before ``ended_on`` (the last vacant day, inclusive): a
vacancy that ends mid-month leaves that month undiscounted, just as a waiting time that ends
mid-month does. A unit may have several vacancy spells; each has its own waiting time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from billing.domain.calendar import Period, add_months, days_in_month, month_end, month_start
from billing.domain.schedule import FeeItem, FeeSchedule, ScheduleError, ScheduleHistory
from propfee.money import Money, round_half_up

Cycle = Literal["monthly", "quarterly", "half_yearly", "yearly"]
Collection = Literal["property", "utilities"]
CYCLE_MONTHS: dict[Cycle, int] = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}


@dataclass(frozen=True, slots=True)
class PayerSpan:
    """Who pays a unit from ``valid_from`` to ``valid_to`` (inclusive; None: open)."""

    party_id: str
    valid_from: date
    valid_to: date | None = None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class Reading:
    item_code: str
    previous: Decimal
    current: Decimal


@dataclass(frozen=True, slots=True)
class ExtraCharge:
    """A pre-computed quantity to bill: a one-off service, or a unit's share of a shared meter."""

    item_code: str
    quantity: Decimal
    description: str = ""
    amount_fen: int | None = None  # shared meters: the exact share already split by area


@dataclass(frozen=True, slots=True)
class VacancySpell:
    """A registered vacancy (空置登记) from ``registered_on`` to ``ended_on`` (the last vacant
    day, inclusive; None: still vacant)."""

    registered_on: date
    ended_on: date | None = None


@dataclass(frozen=True, slots=True)
class UnitFacts:
    unit_id: str
    unit_type: str
    floor_area_m2: Decimal
    payers: tuple[PayerSpan, ...]
    parking_spaces: tuple[str, ...] = ()
    vacancies: tuple[VacancySpell, ...] = ()
    readings: tuple[Reading, ...] = ()
    extras: tuple[ExtraCharge, ...] = ()


@dataclass(frozen=True, slots=True)
class Discounts:
    prepayment: dict[Cycle, Decimal] = field(
        default_factory=lambda: {
            "quarterly": Decimal("0.05"),
            "half_yearly": Decimal("0.08"),
            "yearly": Decimal("0.12"),
        }
    )
    vacancy_after_months: int | None = None  # per-city rule, e.g. 6
    vacancy_payable_share: Decimal = Decimal(1)  # e.g. 0.70 pays 70%


@dataclass(frozen=True, slots=True)
class DraftLine:
    fee_item: str
    description: str
    quantity: Decimal
    unit_price_fen: Decimal
    amount_fen: int
    pass_through: bool = False  # collected on behalf of a supplier: the utilities invoice


@dataclass(frozen=True, slots=True)
class DraftInvoice:
    unit_id: str
    payer_party_id: str
    period: Period
    lines: tuple[DraftLine, ...]
    schedule_version: int
    collection: Collection = "property"

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def _quantity(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.0001"))


def _segments(month: date, history: ScheduleHistory) -> list[tuple[date, date, FeeSchedule]]:
    """Split one month at schedule changes: (first day, last day, schedule) per piece."""
    end = month_end(month)
    cuts = [month, *history.changes_within(month, end)]
    pieces = []
    for i, start in enumerate(cuts):
        stop = add_months(month, 1) if i + 1 == len(cuts) else cuts[i + 1]
        schedule = history.effective_on(start)
        if schedule is None:
            raise ScheduleError(f"no fee schedule is effective on {start}")
        pieces.append((start, min(end, date.fromordinal(stop.toordinal() - 1)), schedule))
    return pieces


def _item(schedule: FeeSchedule, code: str, unit_type: str, on: date) -> FeeItem:
    item = schedule.item(code, unit_type)
    if item is None:
        raise ScheduleError(
            f"fee item {code!r} is not in schedule version {schedule.version} "
            f"effective on {on}: only published items can be billed"
        )
    return item


def bill_unit(
    unit: UnitFacts,
    period: Period,
    history: ScheduleHistory,
    *,
    cycle: Cycle = "monthly",
    discounts: Discounts | None = None,
    cache: dict[tuple[object, ...], tuple[list[DraftLine], int]] | None = None,
) -> list[DraftInvoice]:
    """One draft invoice per payer of the unit within the period, and a second one
    (``collection='utilities'``) for the payer's pass-through lines, if any.

    ``cache`` (one dict per run, same history and discounts) reuses the priced lines of units
    that bill alike: most of a community shares a handful of floor areas.

    The payer of each month is whoever pays on its first day (the developer pays the whole
    month of handover). Metered and one-off charges go to the payer of the period's last month.
    """
    discounts = discounts or Discounts()
    if unit.floor_area_m2 <= 0:
        raise ValueError(f"unit {unit.unit_id}: floor area must be positive")
    months_by_payer: dict[str, list[date]] = {}
    for month in period.each_month():
        payer = next((p.party_id for p in unit.payers if p.covers(month)), None)
        if payer is None:
            raise ValueError(f"unit {unit.unit_id}: nobody pays for {month:%Y-%m}")
        months_by_payer.setdefault(payer, []).append(month)
    last_payer = next(p.party_id for p in unit.payers if p.covers(month_start(period.end)))
    drafts = []
    for payer, months in months_by_payer.items():
        sub = Period(months[0], month_end(months[-1]))
        prepaid = cycle if sub == period and period.months == CYCLE_MONTHS[cycle] else None
        key = (
            unit.unit_type,
            unit.floor_area_m2,
            len(unit.parking_spaces),
            unit.vacancies,
            tuple(months),
            prepaid,
        )
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _period_lines(unit, months, history, discounts, prepaid)
            if cache is not None:
                cache[key] = found
        lines, version = list(found[0]), found[1]
        if payer == last_payer:
            lines += _usage_lines(unit, history.effective_on(period.end), period.end)
        # Nothing published applies to this unit: no empty invoice.
        own = tuple(line for line in lines if not line.pass_through)
        utilities = tuple(line for line in lines if line.pass_through)
        if own:
            drafts.append(DraftInvoice(unit.unit_id, payer, sub, own, version))
        if utilities:
            drafts.append(DraftInvoice(unit.unit_id, payer, sub, utilities, version, "utilities"))
    return drafts


@dataclass
class _Accrual:
    item: FeeItem
    quantity: Fraction = Fraction(0)
    amount: Fraction = Fraction(0)


def _period_lines(
    unit: UnitFacts,
    months: list[date],
    history: ScheduleHistory,
    discounts: Discounts,
    prepaid_cycle: Cycle | None,
) -> tuple[list[DraftLine], int]:
    """Time-based items (area, fixed, parking), month by month, split at rate changes."""
    area = Fraction(unit.floor_area_m2)
    accruals: dict[tuple[str, Decimal], _Accrual] = {}
    vacant_amount = Fraction(0)
    version = 0
    for month in months:
        for start, end, schedule in _segments(month, history):
            version = max(version, schedule.version)
            share = Fraction((end - start).days + 1, days_in_month(month))
            for item in schedule.items:
                if item.kind == "area" and item.applies_to(unit.unit_type):
                    quantity = area * share
                elif item.kind == "fixed" and item.applies_to(unit.unit_type):
                    quantity = share
                elif item.kind == "parking" and unit.parking_spaces:
                    quantity = share * len(unit.parking_spaces)
                else:
                    continue
                if _item(schedule, item.code, unit.unit_type, start) is not item:
                    continue  # a rate for this unit type overrides the generic one
                accrual = accruals.setdefault((item.code, item.rate_fen), _Accrual(item))
                accrual.quantity += quantity
                amount = quantity * Fraction(item.rate_fen)
                accrual.amount += amount
                if (
                    item.kind == "area"
                    and not item.pass_through
                    and vacancy_discounted(unit.vacancies, month, discounts)
                ):
                    vacant_amount += amount
    span = f"{months[0]:%Y-%m}" if len(months) == 1 else f"{months[0]:%Y-%m}~{months[-1]:%Y-%m}"
    lines = [
        DraftLine(
            code,
            f"{a.item.name} {span}",
            _quantity(a.quantity),
            rate,
            round_half_up(a.amount),
            a.item.pass_through,
        )
        for (code, rate), a in accruals.items()
    ]
    property_fee = sum(
        line.amount_fen
        for line, a in zip(lines, accruals.values(), strict=True)
        if a.item.kind == "area" and not a.item.pass_through
    )
    if vacant_amount:
        off = round_half_up(vacant_amount * (1 - Fraction(discounts.vacancy_payable_share)))
        lines.append(DraftLine("vacancy_discount", "空置房优惠", Decimal(1), Decimal(0), -off))
        property_fee -= off
    rate = discounts.prepayment.get(prepaid_cycle) if prepaid_cycle else None
    if rate and property_fee > 0:
        off = Money(property_fee).times(rate).fen
        lines.append(
            DraftLine(f"prepay_discount_{prepaid_cycle}", "预缴优惠", Decimal(1), Decimal(0), -off)
        )
    return lines, version


def vacancy_discounted(spells: Sequence[VacancySpell], month: date, discounts: Discounts) -> bool:
    """Whether the month (its first day) is discounted: some spell, past its waiting time on
    the month's first day, still vacant on its last day (see the module's docstring)."""
    after = discounts.vacancy_after_months
    if after is None or discounts.vacancy_payable_share >= 1:
        return False
    last = month_end(month)
    return any(
        add_months(spell.registered_on, after) <= month
        and (spell.ended_on is None or spell.ended_on >= last)
        for spell in spells
    )


def _usage_lines(unit: UnitFacts, schedule: FeeSchedule | None, on: date) -> list[DraftLine]:
    if schedule is None:
        raise ScheduleError(f"no fee schedule is effective on {on}")
    lines = []
    for reading in unit.readings:
        item = _item(schedule, reading.item_code, unit.unit_type, on)
        if item.kind != "metered":
            raise ScheduleError(f"fee item {item.code!r} is not a metered item")
        if not (reading.previous.is_finite() and reading.current.is_finite()):
            raise ValueError(f"unit {unit.unit_id}: {item.code} reading is not a number")
        used = reading.current - reading.previous
        if used < 0:
            raise ValueError(
                f"unit {unit.unit_id}: {item.code} reading {reading.current} is below the "
                f"previous {reading.previous}"
            )
        amount = round_half_up(Fraction(used) * Fraction(item.rate_fen))
        lines.append(
            DraftLine(
                item.code, f"{item.name} {used}", used, item.rate_fen, amount, item.pass_through
            )
        )
    for extra in unit.extras:
        item = _item(schedule, extra.item_code, unit.unit_type, on)
        if item.kind not in ("one_off", "shared_meter"):
            raise ScheduleError(f"fee item {item.code!r} cannot be charged as an extra")
        if extra.quantity < 0:
            raise ValueError(f"unit {unit.unit_id}: {item.code} quantity is negative")
        amount = (
            extra.amount_fen
            if extra.amount_fen is not None
            else round_half_up(Fraction(extra.quantity) * Fraction(item.rate_fen))
        )
        name = extra.description or item.name
        lines.append(
            DraftLine(item.code, name, extra.quantity, item.rate_fen, amount, item.pass_through)
        )
    return lines


def split_shared_meter(
    item_code: str, quantity: Decimal, rate_fen: Decimal, areas: Sequence[tuple[str, Decimal]]
) -> dict[str, ExtraCharge]:
    """公摊: the shared meter's bill split over units by floor area; no fen lost or created."""
    if quantity < 0:
        raise ValueError("shared meter quantity is negative")
    total = round_half_up(Fraction(quantity) * Fraction(rate_fen))
    weights = [int(area * 100) for _, area in areas]
    parts = Money(total).split(weights)
    area_sum = sum((a for _, a in areas), Decimal(0))
    return {
        unit_id: ExtraCharge(
            item_code,
            (quantity * area / area_sum).quantize(Decimal("0.0001")),
            description="公摊",
            amount_fen=part.fen,
        )
        for (unit_id, area), part in zip(areas, parts, strict=True)
    }
