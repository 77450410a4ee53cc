"""Published fee schedules (明码标价) and the rates they set (pure).

Only items in the effective schedule can be billed. A new version is effective no earlier than
30 days after publication and carries its approval reference; versions are never edited.

The 30 days run from the day a version is *recorded* (DOMAIN.md, "Schedule notice"):
``published_on`` is the community's today, never a date a caller chooses, except for the
schedules a community had before Propfee (imported once with their original dates,
:func:`validate_import`) and the service role on the simulation clock (its own day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

ItemKind = Literal["area", "fixed", "parking", "metered", "shared_meter", "one_off"]
ITEM_KINDS: tuple[ItemKind, ...] = (
    "area",
    "fixed",
    "parking",
    "metered",
    "shared_meter",
    "one_off",
)
UNIT_TYPES = ("residential", "shop", "office", "parking", "storage")
MIN_NOTICE = timedelta(days=30)
ANY_TYPE = "*"


class ScheduleError(ValueError):
    """A schedule that may not be published, or an item that may not be billed."""


class NoticeTooShort(ScheduleError):
    """A version effective less than 30 days after its recording; ``earliest`` is the first
    day it may take effect (the console shows it; the problem body carries it)."""

    def __init__(self, effective_from: date, published_on: date) -> None:
        self.earliest = published_on + MIN_NOTICE
        self.published_on = published_on
        super().__init__(
            f"effective_from: {effective_from} is less than 30 days after publication "
            f"on {published_on} (earliest {self.earliest})"
        )


@dataclass(frozen=True, slots=True)
class FeeItem:
    """One priced item. ``rate_fen`` is per m² per month (area), per month (fixed, parking),
    per unit consumed (metered, shared_meter: the supplier's tariff) or per service (one_off)."""

    code: str
    name: str
    kind: ItemKind
    rate_fen: Decimal
    unit_type: str = ANY_TYPE
    pass_through: bool = False  # utilities collected on behalf of the supplier: no surcharge
    #: Pass-through items only: the supplier's own tariff (same unit as ``rate_fen``) and where
    #: it is published (the supplier's price notice); ``rate_fen`` may not exceed it.
    supplier_tariff_fen: Decimal | None = None
    tariff_source: str = ""

    def applies_to(self, unit_type: str) -> bool:
        return self.unit_type in (ANY_TYPE, unit_type)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    schedule_id: str
    version: int
    published_on: date
    effective_from: date
    approval_ref: str
    items: tuple[FeeItem, ...]
    pricing_type: str = "market"
    service_level: str = ""
    legal_basis: str = ""
    complaint_line: str = ""

    def item(self, code: str, unit_type: str) -> FeeItem | None:
        specific = [i for i in self.items if i.code == code and i.unit_type == unit_type]
        generic = [i for i in self.items if i.code == code and i.unit_type == ANY_TYPE]
        found = specific or generic
        return found[0] if found else None


def validate_schedule(schedule: FeeSchedule, *, previous: FeeSchedule | None) -> None:
    """Refuse what the law or arithmetic forbids, naming what and where."""
    if not schedule.approval_ref.strip():
        raise ScheduleError("approval_ref: a published schedule carries its approval reference")
    if schedule.effective_from < schedule.published_on + MIN_NOTICE:
        raise NoticeTooShort(schedule.effective_from, schedule.published_on)
    if previous is not None and schedule.effective_from <= previous.effective_from:
        raise ScheduleError(
            f"effective_from: {schedule.effective_from} must be after version "
            f"{previous.version}'s {previous.effective_from}"
        )
    if not schedule.items:
        raise ScheduleError("items: a schedule needs at least one item")
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(schedule.items):
        where = f"items[{n}] ({item.code})"
        if item.kind not in ITEM_KINDS:
            raise ScheduleError(f"{where}: unknown kind {item.kind!r}")
        if item.unit_type != ANY_TYPE and item.unit_type not in UNIT_TYPES:
            raise ScheduleError(f"{where}: unknown unit type {item.unit_type!r}")
        if not item.rate_fen.is_finite() or item.rate_fen < 0:
            raise ScheduleError(f"{where}: rate must be a number >= 0")
        check_pass_through(where, item)
        if (item.code, item.unit_type) in seen:
            raise ScheduleError(f"{where}: duplicate item for unit type {item.unit_type}")
        seen.add((item.code, item.unit_type))


def check_pass_through(where: str, item: FeeItem) -> None:
    """Utilities collected on behalf of a supplier (水电暖代收) are billed at the supplier's
    tariff, recorded with its source; a rate above it (a surcharge) is refused."""
    tariff = item.supplier_tariff_fen
    if not item.pass_through:
        if tariff is not None or item.tariff_source.strip():
            raise ScheduleError(
                f"{where}: supplier_tariff_fen and tariff_source belong to pass-through items "
                "(utilities collected on behalf of a supplier)"
            )
        return
    if tariff is None or not item.tariff_source.strip():
        raise ScheduleError(
            f"{where}: a pass-through item carries the supplier's tariff "
            "(supplier_tariff_fen) and its source (tariff_source, e.g. the supplier's price "
            "notice)"
        )
    if not tariff.is_finite() or tariff < 0:
        raise ScheduleError(f"{where}: supplier_tariff_fen must be a number >= 0")
    if item.rate_fen > tariff:
        raise ScheduleError(
            f"{where}: rate {item.rate_fen} is above the supplier's tariff {tariff} "
            f"({item.tariff_source.strip()}): a surcharge on utilities collected on behalf "
            "of a supplier is refused"
        )


def recording_date(requested: date | None, today: date, *, own_clock: bool) -> date:
    """The ``published_on`` of a version recorded now: the community's ``today``. A caller
    may send it (it must then be today); the service role on the simulation clock
    (``own_clock``) records as of the day it sends."""
    if requested is None:
        return today
    if own_clock or requested == today:
        return requested
    raise ScheduleError(
        f"published_on: {requested} is not the day of recording ({today}): the 30 days' "
        "notice runs from the day a version is recorded; the schedules a community had before "
        "Propfee are imported with their original dates (POST "
        "/communities/{id}/fee-schedules/import, company level, once)"
    )


def validate_import(versions: Sequence[FeeSchedule], today: date) -> None:
    """The schedules a community had before it came to Propfee, oldest first, with their
    original publication dates: each a valid version after the one before, none published
    after ``today``."""
    if not versions:
        raise ScheduleError("versions: an import needs at least one version")
    previous = None
    for n, schedule in enumerate(versions):
        if schedule.published_on > today:
            raise ScheduleError(
                f"versions[{n}].published_on: {schedule.published_on} is after today ({today}); "
                "an import records schedules already published"
            )
        try:
            validate_schedule(schedule, previous=previous)
        except ScheduleError as exc:
            raise ScheduleError(f"versions[{n}].{exc}") from exc
        previous = schedule


@dataclass(frozen=True)
class ScheduleHistory:
    """Every published version of one community's schedule, oldest first."""

    versions: Sequence[FeeSchedule] = field(default_factory=tuple)

    def effective_on(self, day: date) -> FeeSchedule | None:
        current = None
        for schedule in sorted(self.versions, key=lambda s: s.effective_from):
            if schedule.effective_from <= day:
                current = schedule
        return current

    def changes_within(self, start: date, end: date) -> list[date]:
        """Dates inside (start, end] on which another version takes effect."""
        return sorted(s.effective_from for s in self.versions if start < s.effective_from <= end)

    def codes_of(self, kinds: Sequence[ItemKind]) -> frozenset[str]:
        """The codes of every item of these kinds in any version."""
        return frozenset(i.code for s in self.versions for i in s.items if i.kind in kinds)

    def without(self, codes: frozenset[str]) -> ScheduleHistory:
        """The same versions (numbers and dates) without the items of these codes: what is
        left to bill where those items are billed already."""
        return ScheduleHistory(
            [
                replace(s, items=tuple(i for i in s.items if i.code not in codes))
                for s in self.versions
            ]
        )
