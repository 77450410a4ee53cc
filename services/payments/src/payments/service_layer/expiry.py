"""Closing expired orders at the gateway (as of an instant): ask first, then close.

For every pending order past its expiry: the gateway is asked for the order's state; a paid
answer is recorded exactly like a notification (``record_gateway_payment``: one payment
whatever else reports it, or an exception for finance); otherwise the order is closed at the
gateway (payment-code orders are reversed) so it can no longer be paid, and marked
``expired``. When the close fails (paid in the meantime, or an error) the gateway is asked once
more; an order that still cannot be settled stays pending for the next run. An order the
gateway never had or already ended (``FINAL_UNPAID``) is expired even if the close is refused.
A payment that still arrives later finds the order expired and goes to finance review.

Replica-safe: orders are claimed with a short lease (``FOR UPDATE SKIP LOCKED`` over the
unleased ones, then the lease committed), so two runs at once never work the same order, and
no database lock is held while a gateway is called. Running it again changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from payments.adapters.clients import GatewayClient
from payments.domain.settlement import GatewayReport
from payments.service_layer.codepay import FINAL_UNPAID as CODEPAY_FINAL_UNPAID
from payments.service_layer.gateway_payments import record_gateway_payment
from propfee.logging import get_logger

log = get_logger(__name__)
#: Gateway states of an order that can no longer be paid (closed, failed, never created).
FINAL_UNPAID = (*CODEPAY_FINAL_UNPAID, "ACQ.TRADE_NOT_EXIST")

_CLAIM = """
UPDATE payment_orders o SET expiry_lease_until = clock_timestamp() + $3::interval
  FROM (SELECT order_id FROM payment_orders
         WHERE status = 'pending' AND expires_at <= $1
           AND (expiry_lease_until IS NULL OR expiry_lease_until < clock_timestamp())
           AND order_id <> ALL($4::text[])
           AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM communities c
                 WHERE c.community_id = payment_orders.community_id AND c.company_id = $5))
           AND ($6::text[] IS NULL OR community_id = ANY($6))
         ORDER BY expires_at, order_id
         LIMIT $2
           FOR UPDATE SKIP LOCKED) due
 WHERE o.order_id = due.order_id
RETURNING o.*
"""

_EXPIRE = """
UPDATE payment_orders SET status = 'expired', closed_at = $2, expiry_lease_until = NULL
 WHERE order_id = $1 AND status = 'pending'
RETURNING order_id
"""


@dataclass
class ExpiryRun:
    as_of: datetime
    outcomes: Counter[str] = field(default_factory=Counter)
    orders: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            **{k: self.outcomes[k] for k in ("expired", "paid", "exception", "left_pending")},
            "orders": self.orders,
        }


async def expire_orders(
    pool: asyncpg.Pool,
    clients: dict[str, GatewayClient],
    as_of: datetime,
    *,
    lease: timedelta,
    batch_size: int = 100,
    concurrency: int = 8,
    scope: tuple[str | None, list[str] | None] = (None, None),
) -> ExpiryRun:
    """Settle every pending order whose expiry is at or before ``as_of`` (which is also the
    instant recorded as the close and as when a payment found by the query was seen).
    ``scope`` is the caller's ``principal.sql_scope()``: only the orders of its communities
    (as payments knows their company); ``(None, None)``: every order."""
    run = ExpiryRun(as_of)
    limit = asyncio.Semaphore(concurrency)
    tried: list[str] = []  # left pending by this run: not claimed again by it
    while True:
        async with pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetch(_CLAIM, as_of, batch_size, lease, tried, *scope)
        if not claimed:
            return run
        tried += [order["order_id"] for order in claimed]

        async def settle(order: asyncpg.Record) -> None:
            async with limit:
                outcome, detail = await _settle_one(
                    pool, clients.get(order["channel"]), order, as_of
                )
            run.outcomes[outcome] += 1
            run.orders.append({"order_id": order["order_id"], "outcome": outcome, **detail})

        await asyncio.gather(*(settle(order) for order in claimed))


async def _settle_one(
    pool: asyncpg.Pool, client: GatewayClient | None, order: asyncpg.Record, as_of: datetime
) -> tuple[str, dict[str, Any]]:
    """expired | paid | exception | left_pending, and what the gateway said."""
    if client is None:
        # Never sent to a gateway (its channel is not configured): nothing to close there.
        return await _expire(pool, order, "not_configured", as_of)
    try:
        for attempt in range(2):
            answer = await client.query(order["out_trade_no"])
            if answer.report is not None:
                return await _record(pool, order, answer.report, answer.state, as_of)
            if attempt == 1:  # the close was refused: ended anyway, or try again next run
                if answer.state in FINAL_UNPAID:
                    return await _expire(pool, order, answer.state, as_of)
                break
            if order["scene"] == "codepay":
                closed = await client.reverse(order["out_trade_no"])
            else:
                closed = await client.close(order)
            if closed or answer.state in FINAL_UNPAID:
                return await _expire(pool, order, answer.state, as_of)
        outcome: tuple[str, dict[str, Any]] = ("left_pending", {"gateway_state": answer.state})
    except Exception as exc:  # the gateway is unreachable or refused: next run tries again
        log.warning(
            "expiry: gateway call failed", order_id=order["order_id"], error=type(exc).__name__
        )
        outcome = ("left_pending", {"error": f"{type(exc).__name__}: {str(exc)[:160]}"})
    await pool.execute(
        "UPDATE payment_orders SET expiry_lease_until = NULL WHERE order_id = $1",
        order["order_id"],
    )
    return outcome


async def _expire(
    pool: asyncpg.Pool, order: asyncpg.Record, gateway_state: str, as_of: datetime
) -> tuple[str, dict[str, Any]]:
    done = await pool.fetchval(_EXPIRE, order["order_id"], as_of)
    # Paid by a notification between the claim and now: the payment stands.
    return ("expired" if done else "paid"), {"gateway_state": gateway_state}


async def _record(
    pool: asyncpg.Pool,
    order: asyncpg.Record,
    report: GatewayReport,
    gateway_state: str,
    as_of: datetime,
) -> tuple[str, dict[str, Any]]:
    """The same path as a notification; an order still pending afterwards (its money went to
    finance review, e.g. paid after the expiry) is expired so it is not asked again."""
    async with pool.acquire() as conn, conn.transaction():
        recorded = await record_gateway_payment(conn, report, as_of)
        await conn.execute(_EXPIRE, order["order_id"], as_of)
    detail = {"gateway_state": gateway_state, "recorded": recorded.__dict__}
    return ("paid" if recorded.outcome == "payment" else "exception"), detail
