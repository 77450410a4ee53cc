"""The dispatcher's decision for one due message at one instant (pure).

Order of the questions: do we know the party yet; may and can we reach them (preferences,
contacts); may we reach them now (quiet hours, frequency cap). The answer is one of
``AwaitContacts``, ``Fail``, ``Suppress``, ``Defer`` or ``Send``; the dispatcher answers
``Cancel`` before asking, for a reminder that a pause, payment or promise stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.domain.channels import PAPER, Chosen, Contact, Preferences, choose_channel
from notifier.domain.schedule import FrequencyCap, QuietHours, earliest_send

CAPPED_TYPES = frozenset({"reminder"})


@dataclass(frozen=True, slots=True)
class Due:
    """A queued message as the dispatcher sees it."""

    message_type: str
    subject_id: str
    stage: str | None
    requested_channel: str
    essential: bool
    requested_at: datetime
    tried: tuple[str, ...] = ()

    @property
    def occasion(self) -> tuple[str, str | None]:
        """A reminder occasion: one stage of one case, whatever the number of channels."""
        return (self.subject_id, self.stage)


@dataclass(frozen=True, slots=True)
class Recipient:
    contact: Contact
    prefs: Preferences
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class Rules:
    quiet: QuietHours = field(default_factory=QuietHours)
    cap: FrequencyCap = field(default_factory=FrequencyCap)
    contact_grace: timedelta = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class AwaitContacts:
    reason: str = "party's contact data not received yet"


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str
    staff_task: bool = True


@dataclass(frozen=True, slots=True)
class Suppress:
    reason: str


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Send:
    channel: str
    address: str
    substituted: bool


Decision = AwaitContacts | Fail | Suppress | Cancel | Defer | Send


def decide(
    due: Due,
    recipient: Recipient | None,
    as_of: datetime,
    rules: Rules,
    sent_occasions: Sequence[tuple[datetime, tuple[str, str | None]]] = (),
) -> Decision:
    """What to do with ``due`` at ``as_of``. ``sent_occasions`` are the party's reminders sent
    so far as (instant, occasion); a second channel of one occasion is not a new reminder."""
    if recipient is None:
        if as_of >= due.requested_at + rules.contact_grace:
            return Fail(f"no contact data received for the party within {rules.contact_grace}")
        return AwaitContacts()
    choice = choose_channel(
        due.requested_channel,
        recipient.contact,
        recipient.prefs,
        essential=due.essential,
        exclude=due.tried,
    )
    if not isinstance(choice, Chosen):
        return Suppress(choice.reason) if choice.suppressed else Fail(choice.reason)
    quiet = (
        rules.quiet
        if choice.channel not in PAPER
        else QuietHours(rules.quiet.start, rules.quiet.start)
    )
    capped = due.message_type in CAPPED_TYPES and not any(
        occasion == due.occasion for _, occasion in sent_occasions
    )
    history = [at for at, _ in sent_occasions]
    when = earliest_send(as_of, recipient.zone, quiet, rules.cap if capped else None, history)
    if when > as_of:
        reason = (
            "quiet hours"
            if when == earliest_send(as_of, recipient.zone, quiet)
            else "frequency cap"
        )
        return Defer(when, reason)
    return Send(choice.channel, choice.address, choice.substituted)
