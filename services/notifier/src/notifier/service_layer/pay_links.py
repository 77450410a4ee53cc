"""Issue pay links (issue 19): one short signed token per household and occasion, minted in
the dispatcher's transaction before the messages are composed and published as
``PayLinkIssued`` through the outbox in that same transaction.

An occasion is what a message was written for: ``subject_id|message_type|stage`` (a bill's
invoice, a reminder's case and stage, a confirmation's promise or plan). Every channel and
every retry of the occasion reuses its link (``pay_links_one_per_occasion``), so an owner who
gets the SMS and the WeChat message of one reminder sees one link. Payments keeps the link,
resolves it to what is owed on the day it is opened and revokes it; the notifier only issues.

Set-based: one read of the batch's existing links, one insert of the new ones (a token that
collides with a stored one is drawn again), one outbox write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from notifier.domain import sms
from notifier.settings import NotifierSettings
from propfee import pay_links
from propfee.events import PayLinkIssued
from propfee.outbox import add_events

#: Message types that carry a pay link (a receipt is for money already paid: none).
WITH_LINK = frozenset({"bill", "reminder", "confirmation"})


@dataclass(frozen=True, slots=True)
class Household:
    """Whose link it is and what for."""

    company_id: str | None
    community_id: str
    unit_id: str
    party_id: str
    occasion: str
    deadline: date | None
    zone: ZoneInfo


def occasion_of(row: Any) -> str:
    return f"{row['subject_id']}|{row['message_type']}|{row['stage'] or '-'}"


def household_of(row: Any, zone: ZoneInfo) -> Household:
    deadline = row["params"].get("deadline")
    return Household(
        company_id=row["company_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        party_id=row["party_id"],
        occasion=occasion_of(row),
        deadline=date.fromisoformat(deadline[:10]) if deadline else None,
        zone=zone,
    )


def expires_at(issued_at: datetime, h: Household, s: NotifierSettings) -> datetime:
    """``pay_link_lifetime_days`` after issue; a link whose message states a deadline (a
    demand) lives at least until the end of that day plus ``pay_link_after_deadline_days``."""
    end = issued_at + timedelta(days=s.pay_link_lifetime_days)
    if h.deadline is not None:
        after = datetime.combine(
            h.deadline + timedelta(days=s.pay_link_after_deadline_days + 1), time(), h.zone
        )
        end = max(end, after)
    return end


_KEY = "(unit_id, party_id, occasion)"
_EXISTING = f"""
SELECT unit_id, party_id, occasion, token FROM pay_links
 WHERE {_KEY} IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))
"""
_INSERT = """
INSERT INTO pay_links (token, company_id, community_id, unit_id, party_id, occasion, issued_at,
                       expires_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[])
    ON CONFLICT DO NOTHING
RETURNING token, unit_id, party_id, occasion, community_id, issued_at, expires_at
"""


async def issue(
    conn: asyncpg.Connection, wanted: list[Household], at: datetime, s: NotifierSettings
) -> dict[tuple[str, str, str], str]:
    """The token of each household's occasion, ``(unit_id, party_id, occasion)`` → token:
    the stored one, or a new one (stored and published now)."""
    unique = {(h.unit_id, h.party_id, h.occasion): h for h in wanted}
    if not unique:
        return {}
    keys = list(unique)
    found: dict[tuple[str, str, str], str] = {
        (r["unit_id"], r["party_id"], r["occasion"]): r["token"]
        for r in await conn.fetch(_EXISTING, *(list(col) for col in zip(*keys, strict=True)))
    }
    secret = s.pay_link_key()
    issued: list[tuple[PayLinkIssued, str, str]] = []
    for _ in range(5):  # a token colliding with a stored one is drawn again
        missing = [unique[k] for k in keys if k not in found]
        if not missing:
            break
        rows = await conn.fetch(
            _INSERT,
            [pay_links.new_token(secret) for _ in missing],
            [h.company_id for h in missing],
            [h.community_id for h in missing],
            [h.unit_id for h in missing],
            [h.party_id for h in missing],
            [h.occasion for h in missing],
            [at] * len(missing),
            [expires_at(at, h, s) for h in missing],
        )
        for r in rows:
            found[(r["unit_id"], r["party_id"], r["occasion"])] = r["token"]
            event = PayLinkIssued(
                token=r["token"],
                community_id=r["community_id"],
                unit_id=r["unit_id"],
                party_id=r["party_id"],
                occasion=r["occasion"],
                issued_at=r["issued_at"],
                expires_at=r["expires_at"],
            )
            issued.append((event, r["unit_id"], r["token"]))
    if len(found) < len(keys):  # another transaction stored them meanwhile
        rest = [k for k in keys if k not in found]
        for r in await conn.fetch(_EXISTING, *(list(col) for col in zip(*rest, strict=True))):
            found[(r["unit_id"], r["party_id"], r["occasion"])] = r["token"]
    if issued:
        await add_events(conn, issued, time=at)
    return found


def printed(token: str, channel: str, s: NotifierSettings) -> str:
    """The link as the channel prints it: in SMS without the ``https://`` scheme (shorter;
    phones linkify ``pf.cn/p/…``), elsewhere the full URL."""
    url = pay_links.link(s.pay_link_base_url, token)
    return sms.short_link(url) if channel == "sms" else url
