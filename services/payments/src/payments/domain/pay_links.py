"""Whether a pay link still opens (pure: the instant is an argument).

A pay link (``propfee.pay_links``: a short signed token the notifier made for one household
and occasion) opens the household's statement until its expiry instant, unless staff revoked
it. Revocation wins over expiry (a revoked link says so, whenever it is opened). The expiry
instant itself is the first that no longer opens: a link issued at 09:00 for 7 days answers
at 08:59:59 on the seventh day and is expired at 09:00:00. The server's clock decides, never
the client's; a link issued already past its expiry is kept and is expired from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from propfee.problems import Gone, NotFound

PayLinkState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class PayLink:
    """A stored pay link (``pay_links``)."""

    token: str
    community_id: str
    unit_id: str
    party_id: str
    occasion: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


def link_state(link: PayLink, now: datetime) -> PayLinkState:
    """``revoked`` if staff revoked it, else ``expired`` from its expiry instant on, else
    ``active``."""
    if link.revoked_at is not None:
        return "revoked"
    if now >= link.expires_at:
        return "expired"
    return "active"


class UnknownPayLink(NotFound, LookupError):
    """Forged, malformed or never issued: one answer for all (no oracle telling which)."""

    def __init__(self) -> None:
        super().__init__("unknown pay link")


class PayLinkGone(Gone):
    """A real link that no longer opens: expired, or revoked by staff (410, saying which:
    ``state`` and ``expires_at`` or ``revoked_at`` as extension members)."""

    def __init__(self, link: PayLink, state: PayLinkState) -> None:
        revoked = state == "revoked" and link.revoked_at is not None
        if revoked:
            detail = "this pay link was revoked"
        else:
            detail = f"this pay link expired at {link.expires_at.isoformat()}"
        super().__init__(
            detail,
            state=state,
            expires_at=None if revoked else link.expires_at.isoformat(),
            revoked_at=link.revoked_at.isoformat() if revoked and link.revoked_at else None,
        )
        self.link = link
        self.state = state


def opened(link: PayLink | None, now: datetime) -> PayLink:
    """The link if it opens at ``now``; :class:`UnknownPayLink` when none is stored,
    :class:`PayLinkGone` when it expired or was revoked."""
    if link is None:
        raise UnknownPayLink()
    state = link_state(link, now)
    if state != "active":
        raise PayLinkGone(link, state)
    return link
