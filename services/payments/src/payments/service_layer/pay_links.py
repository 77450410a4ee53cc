"""Pay links (issue 19): kept from the notifier's ``PayLinkIssued``, resolved for the owner,
listed and revoked by staff.

The notifier makes the token (``propfee.pay_links.new_token``) and publishes it; payments is
where it is looked up, so the expiry and revocation live here. Resolving checks the signature
first (``propfee.pay_links.token_valid``): a guessed or mistyped token is refused without a
database read, with the same answer as a signed token never issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from payments.adapters.gateways import Gateways
from payments.domain.pay_links import PayLink, UnknownPayLink, opened
from payments.errors import TooManyReads
from payments.service_layer import access, qr_links
from payments.service_layer.ordering import check_payer_id
from payments.service_layer.rate_limit import take
from payments.service_layer.statements import OwedToday, owed_today
from propfee import audit
from propfee.auth import Principal
from propfee.consumer import EventContext
from propfee.events import PayLinkIssued
from propfee.logging import get_logger
from propfee.pay_links import token_valid
from propfee.problems import FieldProblem, InvalidInput

log = get_logger(__name__)

_COLUMNS = (
    "token, community_id, unit_id, party_id, occasion, issued_at, expires_at, revoked_at, "
    "revoked_by, revoke_reason"
)


def _link(row: asyncpg.Record | None) -> PayLink | None:
    return None if row is None else PayLink(**dict(row))


async def pay_link_issued(
    conn: asyncpg.Connection, event: PayLinkIssued, context: EventContext
) -> None:
    """Keep the link once. A second event with the same token changes nothing; one naming
    another household is refused (logged), never overwrites the link a message carries."""
    stored = await conn.fetchval(
        f"INSERT INTO pay_links ({_COLUMNS}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL) "
        "ON CONFLICT (token) DO NOTHING RETURNING token",
        event.token,
        event.community_id,
        event.unit_id,
        event.party_id,
        event.occasion,
        event.issued_at,
        event.expires_at,
    )
    if stored is not None:
        return
    held = await conn.fetchrow(
        "SELECT community_id, unit_id FROM pay_links WHERE token = $1", event.token
    )
    if held is not None and (held["unit_id"], held["community_id"]) != (
        event.unit_id,
        event.community_id,
    ):
        log.warning(
            "pay link refused: its token is another household's",
            event_id=context.envelope.id,
            community_id=event.community_id,
            held_by_community=held["community_id"],
        )


async def find(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> PayLink | None:
    return _link(await conn.fetchrow(f"SELECT {_COLUMNS} FROM pay_links WHERE token = $1", token))


def signed(secret: bytes, token: str) -> None:
    """:class:`UnknownPayLink` unless the token is well formed and signed with ``secret``."""
    if not token_valid(secret, token):
        raise UnknownPayLink()


async def resolve(conn: Any, secret: bytes, token: str, now: datetime) -> PayLink:
    """The link a token opens at ``now`` (the server's clock): the signature first (no
    database read for a forged token), then the stored link, its revocation and expiry.
    Raises ``UnknownPayLink`` or ``PayLinkGone`` (``domain.pay_links.opened``)."""
    signed(secret, token)
    return opened(await find(conn, token), now)


async def revoke(
    conn: asyncpg.Connection, token: str, by: str, reason: str, now: datetime
) -> tuple[PayLink, bool]:
    """Revoke a link (inside the caller's transaction, the row locked by the caller's
    scoped read). Idempotent: a link revoked already keeps its first revocation; the flag
    says whether this call revoked it."""
    row = await conn.fetchrow(
        "UPDATE pay_links SET revoked_at = $2, revoked_by = $3, revoke_reason = $4 "
        f"WHERE token = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}",
        token,
        now,
        by,
        reason,
    )
    if row is not None:
        link = _link(row)
        assert link is not None
        return link, True
    link = await find(conn, token)
    if link is None:
        raise UnknownPayLink()
    return link, False


async def unit_links(conn: asyncpg.Connection, unit_id: str) -> list[PayLink]:
    """The unit's links, newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM pay_links WHERE unit_id = $1 ORDER BY issued_at DESC, token",
        unit_id,
    )
    return [link for row in rows if (link := _link(row)) is not None]


async def household(conn: Any, link: PayLink) -> tuple[str | None, str | None]:
    """What the owner is shown of the household: the room as billing labels it (its newest
    invoice's ``room_label``) and the community's name. Never names or phones."""
    row = await conn.fetchrow(
        "SELECT (SELECT room_label FROM invoices WHERE unit_id = $1 AND room_label IS NOT NULL "
        "        ORDER BY issued_at DESC NULLS LAST, invoice_id DESC LIMIT 1) AS room_label, "
        "       (SELECT name FROM communities WHERE community_id = $2) AS community_name",
        link.unit_id,
        link.community_id,
    )
    return row["room_label"], row["community_name"]


@dataclass(frozen=True, slots=True)
class ReadLimit:
    """Opening links per client address: ``burst`` at once, then ``per_hour``."""

    burst: int
    per_hour: float


@dataclass(frozen=True, slots=True)
class LinkStatement:
    """What an opened link shows: the household as the owner knows it and what it owes."""

    link: PayLink
    room_label: str | None
    community_name: str | None
    owed: OwedToday


async def open_link(
    pool: asyncpg.Pool,
    secret: bytes,
    token: str,
    *,
    client: str,
    limit: ReadLimit,
    now: datetime,
) -> LinkStatement:
    """The owner opens a pay link: the signature (no database work for a forged token), one
    read from the client address's bucket (committed whatever the answer, so guessing ids
    counts; :class:`TooManyReads` beyond), the stored link (``resolve``), then what the
    household owes today (``statements.owed_today``, as the QR statement)."""
    signed(secret, token)
    async with pool.acquire() as conn:
        async with conn.transaction():
            wait = await take(
                conn,
                f"pay-link-client:{client}",
                burst=limit.burst,
                per_hour=limit.per_hour,
                now=now,
            )
        if wait is not None:
            raise TooManyReads(wait)
        link = await resolve(conn, secret, token, now)
        room_label, community_name = await household(conn, link)
        owed = await owed_today(conn, link.unit_id, now, link.community_id)
    return LinkStatement(link, room_label, community_name, owed)


async def pay_from_link(
    pool: asyncpg.Pool,
    gateways: Gateways,
    token: str,
    ask: qr_links.LinkPayment,
    client: str,
    now: datetime,
) -> dict[str, Any]:
    """An order from a pay link, as from the QR code (``qr_links.pay_qr_statement``): the
    signature first, then the stored link (404 / 410), the QR rate limits, the order and the
    gateway's prepay."""
    if gateways.clients.get(ask.channel) is not None:
        check_payer_id(ask.channel, ask.scene, ask.payer_openid)
    key = gateways.settings.pay_link_key()
    signed(key, token)
    async with pool.acquire() as conn, conn.transaction():
        link = await resolve(conn, key, token, now)
        await qr_links.limit_orders(conn, gateways, f"pay-link:{token}", client, now)
        row = await qr_links.order_for_link(conn, gateways, link.unit_id, ask, now)
    return await qr_links.prepay_view(pool, gateways, row, ask, now)


async def revoke_link(
    pool: asyncpg.Pool, principal: Principal, token: str, reason: str, now: datetime
) -> PayLink:
    """Staff revoke a pay link of their communities (404 for another's): it answers 410 from
    now on. Idempotent: revoking a revoked link keeps the first revocation and audits nothing
    new; the first is audited (``pay_link.revoked``, with the reason)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "a reason is required",
            errors=[FieldProblem(field="reason", reason="a reason is required")],
        )
    async with pool.acquire() as conn, conn.transaction():
        row = await access.pay_link(conn, principal, token, for_update=True)
        was_expired = now >= row["expires_at"]
        link, revoked = await revoke(conn, token, principal.subject[:64], reason, now)
        if revoked:
            await audit.record(
                conn,
                principal,
                "pay_link.revoked",
                "pay_link",
                token,
                community_id=link.community_id,
                unit_id=link.unit_id,
                before={"state": "expired" if was_expired else "active"},
                after={"state": "revoked", "revoked_at": now},
                reason=reason,
                company_id=row["company_id"],
            )
    return link


async def list_unit_links(
    pool: asyncpg.Pool,
    principal: Principal,
    unit_id: str,
    after: list[Any] | None,
    limit: int,
) -> list[PayLink]:
    """A unit of the caller's scope (404 otherwise): its links, newest first, ``limit`` after
    the key ``after`` (``issued_at`` descending, ``token``)."""
    async with pool.acquire() as conn:
        await access.unit(conn, principal, unit_id)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM pay_links WHERE unit_id = $1 AND ($2::timestamptz IS NULL "
            "OR issued_at < $2 OR (issued_at = $2 AND token > $3)) "
            "ORDER BY issued_at DESC, token LIMIT $4",
            unit_id,
            *(after or (None, None)),
            limit,
        )
    return [link for row in rows if (link := _link(row)) is not None]
