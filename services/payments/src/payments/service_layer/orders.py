"""Payment orders: the amount fixed from the read model (or given on account), stored once.

The request to the gateway (prepay) happens after the order committed, outside any database
transaction; what the gateway answered is stored on the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from payments.domain.advance import check_prepayment
from payments.domain.orders import (
    OrderError,
    OrderTerms,
    new_out_trade_no,
    order_expiry,
    terms_for_invoices,
    terms_on_account,
)
from payments.domain.owed import amount_owed, end_of_local_day, local_day
from payments.service_layer import invoices


@dataclass(frozen=True)
class OrderRequest:
    unit_id: str
    channel: str  # wechat_pay | alipay | unionpay
    scene: str  # jsapi | native | qr | wap | app | codepay
    invoice_ids: Sequence[str] = ()
    community_id: str | None = None
    payer_party_id: str | None = None
    amount_fen: int | None = None


async def order_terms(conn: asyncpg.Connection, request: OrderRequest, now: datetime) -> OrderTerms:
    """Named invoices: what they owe on the community's day of ``now``, from the read model.
    Otherwise an amount on account, within the advance-collection cap."""
    if request.invoice_ids:
        known = await invoices.unit_invoices(conn, request.unit_id)
        community = next(iter(known.values())).community_id if known else None
        day = local_day(now, await invoices.community_time_zone(conn, community))
        return terms_for_invoices(request.invoice_ids, known, request.unit_id, day)
    if request.amount_fen is None or not request.community_id or not request.payer_party_id:
        raise OrderError(
            "name invoices, or give community_id, payer_party_id and amount_fen on account"
        )
    await check_advance(conn, request.community_id, request.unit_id, request.amount_fen, now)
    return terms_on_account(
        request.community_id, request.unit_id, request.payer_party_id, request.amount_fen
    )


async def check_advance(
    conn: asyncpg.Connection, community_id: str, unit_id: str, amount_fen: int, now: datetime
) -> None:
    """Refuse (``OrderError``) money on account that would put more than the community's
    advance-collection cap on the unit's account (``domain.advance``): orders on account,
    payment-code payments and counter payments that name no invoice."""
    day = local_day(now, await invoices.community_time_zone(conn, community_id))
    open_ = (await invoices.open_invoices(conn, unit_id)).values()
    check_prepayment(
        amount_fen,
        # What an unnamed payment pays today: open invoices but time-barred ones (paid only
        # when named).
        owed_fen=sum(amount_owed(i, day) for i in open_ if not i.time_barred),
        credit_fen=await invoices.credit_on_account(conn, unit_id),
        latest=await invoices.latest_regular_invoice(conn, unit_id),
        cap=await invoices.advance_cap(conn, community_id),
        day=day,
    )


async def create_order(
    conn: asyncpg.Connection,
    request: OrderRequest,
    now: datetime,
    ttl: timedelta,
    terms: OrderTerms | None = None,
) -> asyncpg.Record:
    """Insert a pending order (inside the caller's transaction) and return its row; ``terms``
    when the caller already read them (``order_terms``), e.g. to check the community."""
    terms = terms or await order_terms(conn, request, now)
    day_ends_at = None
    if terms.priced_for_the_day:
        zone = await invoices.community_time_zone(conn, terms.community_id)
        day_ends_at = end_of_local_day(local_day(now, zone), zone)
    row = await conn.fetchrow(
        "INSERT INTO payment_orders (order_id, out_trade_no, community_id, unit_id, "
        "payer_party_id, invoice_ids, amount_fen, channel, scene, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
        f"ord-{uuid.uuid4()}",
        new_out_trade_no(now),
        terms.community_id,
        terms.unit_id,
        terms.payer_party_id,
        list(terms.invoice_ids),
        terms.amount_fen,
        request.channel,
        request.scene,
        now,
        order_expiry(now, ttl, day_ends_at),
    )
    assert row is not None
    return row


async def store_gateway_answer(
    conn: asyncpg.Connection, order_id: str, payload: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE payment_orders SET gateway_payload = $2 WHERE order_id = $1", order_id, payload
    )


def order_view(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """An order as the API shows it; a pending order past its expiry shows as expired."""
    view = dict(row)
    if view["status"] == "pending" and now > view["expires_at"]:
        view["status"] = "expired"
    return view
