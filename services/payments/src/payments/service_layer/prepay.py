"""Asking the gateway to prepay a committed order, and what a failure becomes.

The order is committed before the gateway is called (no transaction is held across the
call). When the call fails, the payer has nothing to pay with, so the order is marked
``failed`` at once (never left ``pending`` for the expiry run, never payable later: money
reported for it goes to finance review) and the caller answers a problem: 503 when the gateway
could not be reached (connection refused, reset, timed out), 502 when it answered with an
error or something that does not verify or parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import httpx

from payments.adapters.clients import GatewayClient
from payments.errors import GatewayFailed, GatewayFailure, GatewayUnreachable
from payments.service_layer.orders import store_gateway_answer
from propfee.logging import get_logger

log = get_logger(__name__)


def gateway_failure(channel: str, exc: BaseException) -> GatewayFailure:
    """503 for a gateway that cannot be reached, 502 for one that answered badly (an error, a
    5xx, an answer that does not verify or parse). Nothing was charged by a prepay; a status
    query that fails changed nothing either."""
    if isinstance(exc, (httpx.TimeoutException, httpx.NetworkError)):
        return GatewayUnreachable(
            f"{channel} could not be reached ({type(exc).__name__}); try again shortly"
        )
    return GatewayFailed(
        f"{channel} answered with an error ({type(exc).__name__}: {str(exc)[:160]})"
    )


async def prepay(
    pool: asyncpg.Pool,
    client: GatewayClient,
    order: asyncpg.Record,
    scene: str,
    openid: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The gateway's answer (stored on the order); ``GatewayFailure`` after marking the order
    ``failed`` when the call fails."""
    try:
        answer = await client.prepay(order, scene, openid)
    except Exception as exc:
        log.warning("prepay failed", channel=order["channel"], error=type(exc).__name__)
        await pool.execute(
            "UPDATE payment_orders SET status = 'failed', closed_at = $2 "
            "WHERE order_id = $1 AND status = 'pending'",
            order["order_id"],
            now,
        )
        failure = gateway_failure(order["channel"], exc)
        failure.detail += "; this order cannot be paid (nothing was charged), make a new one"
        failure.extensions.update(order_id=order["order_id"], order_status="failed")
        raise failure from exc
    async with pool.acquire() as conn:
        await store_gateway_answer(conn, order["order_id"], answer)
    return answer
