"""The owners' open links: a unit's printed QR code (a random token, signed), the statement it
shows, and orders made from it or from a pay link, limited per link and per client address.

Open links are not signed in: the token and its signature are the credential, and a wrong one
answers the same 404 as an unknown one (``errors.UnknownCode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from payments.adapters.gateways import Gateways
from payments.domain.qr import new_link_token, qr_url, qr_valid
from payments.errors import TooManyOrders, UnknownCode
from payments.service_layer import access, orders
from payments.service_layer.ordering import check_payer_id
from payments.service_layer.prepay import prepay
from payments.service_layer.rate_limit import take
from payments.service_layer.statements import OwedToday, order_statement, owed_today
from payments.settings import read_secret
from propfee.auth import Principal


@dataclass(frozen=True)
class LinkPayment:
    """What an owner asks to pay from an open link."""

    channel: str
    scene: str
    payer_openid: str | None = None
    invoice_ids: list[str] = field(default_factory=list)
    collection: Literal["property", "utilities"] | None = None


def qr_secret(gateways: Gateways) -> bytes:
    s = gateways.settings
    secret = read_secret(s.qr_secret, s.qr_secret_file)
    assert secret is not None
    return secret


async def unit_qr_link(
    pool: asyncpg.Pool, gateways: Gateways, principal: Principal, unit_id: str
) -> dict[str, str]:
    """The link to print as the unit's QR code (it never changes: a random token made the
    first time, stored for the unit), for a unit payments knows in the caller's scope."""
    unit = await access.unit(pool, principal, unit_id)
    async with pool.acquire() as conn:
        token = await conn.fetchval(
            "WITH made AS (INSERT INTO qr_links (unit_id, token, community_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (unit_id) DO NOTHING RETURNING token) "
            "SELECT token FROM made UNION ALL SELECT token FROM qr_links WHERE unit_id = $1",
            unit_id,
            new_link_token(),
            unit["community_id"],
        )
        if token is None:  # made by a concurrent request after this statement's snapshot
            token = await conn.fetchval("SELECT token FROM qr_links WHERE unit_id = $1", unit_id)
    return {
        "unit_id": unit_id,
        "token": token,
        "url": qr_url(gateways.settings.public_base_url, qr_secret(gateways), token),
    }


async def linked_unit(conn: Any, gateways: Gateways, token: str, sig: str) -> str:
    """The unit of a printed link; ``UnknownCode`` (404) for an unknown token or a wrong
    signature."""
    if not qr_valid(qr_secret(gateways), token, sig):
        raise UnknownCode()
    unit_id: str | None = await conn.fetchval(
        "SELECT unit_id FROM qr_links WHERE token = $1", token
    )
    if unit_id is None:
        raise UnknownCode()
    return unit_id


async def qr_statement(
    pool: asyncpg.Pool, gateways: Gateways, token: str, sig: str, now: datetime
) -> tuple[str, OwedToday]:
    """The unit of a printed code and what its household owes today."""
    async with pool.acquire() as conn:
        unit_id = await linked_unit(conn, gateways, token, sig)
        return unit_id, await owed_today(conn, unit_id, now)


async def limit_orders(
    conn: Any, gateways: Gateways, link: str, client: str, now: datetime
) -> None:
    """One token of the link's bucket (``link``: its kind and token) and one of the client
    address's (``TooManyOrders``, 429, otherwise): orders from the owners' open links, QR
    codes and pay links."""
    s = gateways.settings
    for what, bucket, burst, per_hour in (
        ("code", link, s.qr_orders_per_link_burst, s.qr_orders_per_link_per_hour),
        (
            "address",
            f"qr-client:{client}",
            s.qr_orders_per_client_burst,
            s.qr_orders_per_client_per_hour,
        ),
    ):
        wait = await take(conn, bucket, burst=burst, per_hour=per_hour, now=now)
        if wait is not None:
            raise TooManyOrders(what, wait)


async def order_for_link(
    conn: Any, gateways: Gateways, unit_id: str, ask: LinkPayment, now: datetime
) -> asyncpg.Record:
    """The order an owner's link asks for (``statements.order_statement``): ``NothingOwed``
    (409) when nothing is owed, ``OrderError`` (422) for an invoice that cannot be paid."""
    return await order_statement(
        conn,
        unit_id,
        channel=ask.channel,
        scene=ask.scene,
        invoice_ids=ask.invoice_ids,
        collection=ask.collection,
        now=now,
        ttl=timedelta(seconds=gateways.settings.order_ttl_s),
    )


async def prepay_view(
    pool: asyncpg.Pool, gateways: Gateways, row: asyncpg.Record, ask: LinkPayment, now: datetime
) -> dict[str, Any]:
    """The committed order as the API shows it, with the gateway's prepay answer."""
    view = orders.order_view(row, now)
    client = gateways.clients.get(ask.channel)
    if client is not None:
        view["gateway_payload"] = await prepay(pool, client, row, ask.scene, ask.payer_openid, now)
    return view


async def pay_qr_statement(
    pool: asyncpg.Pool,
    gateways: Gateways,
    token: str,
    sig: str,
    ask: LinkPayment,
    client: str,
    now: datetime,
) -> dict[str, Any]:
    """An order from a printed code (rate-limited per code and per client address), then the
    gateway's prepay (a failure marks the order ``failed``: ``GatewayFailure``)."""
    if gateways.clients.get(ask.channel) is not None:
        check_payer_id(ask.channel, ask.scene, ask.payer_openid)
    async with pool.acquire() as conn, conn.transaction():
        unit_id = await linked_unit(conn, gateways, token, sig)
        await limit_orders(conn, gateways, f"qr-link:{token}", client, now)
        row = await order_for_link(conn, gateways, unit_id, ask, now)
    return await prepay_view(pool, gateways, row, ask, now)
