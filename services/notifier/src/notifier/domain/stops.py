"""What stops a queued reminder (pure): dunning paused the case (or one disputed invoice of
it), the household paid, or promised to pay. A reminder requested before the stop's instant
and not yet sent is cancelled, never sent late; bills, receipts and confirmations still go.
A pause that ends does not bring cancelled reminders back: dunning escalates again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

#: Only chasing is stopped; transactional messages (bills, receipts, confirmations) go.
STOPPABLE_TYPES = frozenset({"reminder"})


@dataclass(frozen=True, slots=True)
class Stop:
    kind: str  # pause | payment | promise
    unit_id: str
    case_id: str | None  # None: every case of the unit
    invoice_id: str | None  # a pause of one disputed invoice
    stops_before: datetime
    reason: str

    def covers(
        self,
        message_type: str,
        unit_id: str,
        subject_id: str,
        invoice_ids: Sequence[str],
        requested_at: datetime,
    ) -> bool:
        return (
            message_type in STOPPABLE_TYPES
            and unit_id == self.unit_id
            and (self.case_id is None or self.case_id == subject_id)
            and (self.invoice_id is None or self.invoice_id in invoice_ids)
            and requested_at < self.stops_before
        )


def stopped_by(
    message_type: str,
    unit_id: str,
    subject_id: str,
    invoice_ids: Sequence[str],
    requested_at: datetime,
    stops: Iterable[Stop],
) -> Stop | None:
    """The first stop that cancels this message, or None when it may go."""
    for stop in stops:
        if stop.covers(message_type, unit_id, subject_id, invoice_ids, requested_at):
            return stop
    return None


def pause_reason(reason: str, invoice_id: str | None) -> str:
    scope = f"invoice {invoice_id}" if invoice_id else "case"
    return f"cancelled: dunning paused the {scope} ({reason})"
