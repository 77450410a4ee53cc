"""Which channel a message goes by: the party's contacts and preferences, and the law.

Dunning (or billing) asks for a channel. A request for paper (a letter, a door notice: proof
of an individually delivered demand) stands; for an electronic message the party's own
preferred order comes first (an owner who follows the official account gets bills, receipts
and reminders on WeChat rather than by SMS), then the requested channel. Where the party
disallowed a channel or has no contact for it, the next usable one is taken. A
party that asked not to be contacted gets no non-essential message; essential ones (bills,
receipts, demands) still go by a lawful channel for which there is a contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["sms", "wechat", "app_push", "email", "letter", "door_notice"]
CHANNELS: tuple[str, ...] = ("sms", "wechat", "app_push", "email", "letter", "door_notice")
#: Order tried when a party states no preference (door notices only when asked for).
DEFAULT_ORDER: tuple[str, ...] = ("sms", "wechat", "app_push", "email", "letter")
#: Channels that need no quiet hours (printed and delivered by post or by hand).
PAPER: frozenset[str] = frozenset({"letter", "door_notice"})


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    app_user_id: str | None = None
    postal_address: str | None = None
    room_label: str | None = None

    def address_for(self, channel: str) -> str | None:
        """Where a message on ``channel`` goes, or None when there is no usable contact."""
        value = {
            "sms": self.phone,
            "wechat": self.wechat_openid,
            "app_push": self.app_user_id,
            "email": self.email,
            "letter": self.postal_address,
            "door_notice": self.room_label,
        }.get(channel)
        return value.strip() if value and value.strip() else None


@dataclass(frozen=True, slots=True)
class Preferences:
    allowed: frozenset[str] = frozenset()  # empty: every channel allowed
    preferred: tuple[str, ...] = ()
    do_not_contact: bool = False

    def allows(self, channel: str) -> bool:
        return not self.allowed or channel in self.allowed


@dataclass(frozen=True, slots=True)
class Chosen:
    channel: str
    address: str
    substituted: bool = False


@dataclass(frozen=True, slots=True)
class NotSent:
    reason: str
    suppressed: bool = False  # True: lawful silence (do-not-contact), not a failure
    tried: tuple[str, ...] = field(default_factory=tuple)


def _candidates(requested: str | None, prefs: Preferences) -> list[str]:
    preferred = [c for c in prefs.preferred if c in CHANNELS]
    asked = [requested] if requested in CHANNELS else []
    order = [*asked, *preferred] if requested in PAPER else [*preferred, *asked]
    order += list(DEFAULT_ORDER)
    return list(dict.fromkeys(c for c in order if c))


def choose_channel(
    requested: str | None,
    contact: Contact,
    prefs: Preferences,
    *,
    essential: bool,
    exclude: Iterable[str] = (),
) -> Chosen | NotSent:
    """The channel and address for one message, or why it cannot (or must not) be sent."""
    if prefs.do_not_contact and not essential:
        return NotSent("party asked not to be contacted; message is not essential", True)
    excluded = set(exclude)
    candidates = [c for c in _candidates(requested, prefs) if c not in excluded]
    for channel in candidates:
        address = contact.address_for(channel)
        if address and prefs.allows(channel):
            return Chosen(channel, address, substituted=channel != requested)
    if essential:  # the lawful channel: a contact the party gave, whatever the allowed list
        for channel in candidates:
            address = contact.address_for(channel)
            if address:
                return Chosen(channel, address, substituted=channel != requested)
    if not candidates:
        return NotSent("every channel was tried", tried=tuple(sorted(excluded)))
    missing = ", ".join(candidates)
    return NotSent(f"no usable contact for any allowed channel ({missing})")


def fallback_channel(
    failed: Iterable[str], contact: Contact, prefs: Preferences, *, essential: bool
) -> Chosen | None:
    """The next channel after a final failure on every channel in ``failed``, if any."""
    choice = choose_channel(None, contact, prefs, essential=essential, exclude=failed)
    return choice if isinstance(choice, Chosen) else None
