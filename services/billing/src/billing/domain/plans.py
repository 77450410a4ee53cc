"""Installment plans (分期): how many parts, and which part is paid, due or missed (pure).

DOMAIN.md, "Decisions, December 2026": 3-6 parts by default, configurable per community within
2-12; a missed part is judged only on payments made after the plan started (money paid before
it, even if allocated to the plan's invoices later, e.g. from credit, is not a part paid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

#: A community's range of parts when it sets none.
DEFAULT_PARTS = (3, 6)
#: The range a community may set.
PARTS_LIMITS = (2, 12)

PartStatus = Literal["paid", "due", "missed"]


class PlanError(ValueError):
    """A plan that may not be made; the message says why."""


def check_parts(parts: int, min_parts: int, max_parts: int) -> None:
    """Refuse a number of parts outside the community's range."""
    if not min_parts <= parts <= max_parts:
        raise PlanError(
            f"parts: {parts} is outside this community's range of {min_parts}-{max_parts} "
            "installments"
        )


@dataclass(frozen=True, slots=True)
class Part:
    part_no: int
    due_date: date
    amount_fen: int


def part_statuses(
    parts: Sequence[Part], paid_since_start_fen: int, as_of: date
) -> list[PartStatus]:
    """Each part in order: ``paid`` when the principal paid on the plan's invoices by payments
    made since the plan started covers it (parts are covered in order), otherwise ``missed``
    once its due date has passed, else ``due``."""
    covered = paid_since_start_fen
    statuses: list[PartStatus] = []
    for part in sorted(parts, key=lambda p: p.part_no):
        if covered >= part.amount_fen:
            statuses.append("paid")
        else:
            statuses.append("missed" if part.due_date < as_of else "due")
        covered = max(covered - part.amount_fen, 0)
    return statuses
