"""Scanning the payer's payment code (付款码 / 条码支付) at the counter.

The gateway may answer "the payer is entering a password" or not answer at all. Then the
status is queried a few times; if it is still not known, the order is reversed (撤销) so the
payer is never charged without a record. A success that still arrives later finds the order
closed and goes to finance review, never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from payments.adapters.results import CodePayResult
from payments.service_layer.gateway_payments import record_gateway_payment
from propfee.logging import get_logger

log = get_logger(__name__)
FINAL_UNPAID = ("CLOSED", "REVOKED", "PAYERROR", "TRADE_CLOSED", "not_found")


def channel_of_auth_code(code: str) -> str | None:
    """WeChat Pay codes: 18 digits starting 10-15. Alipay: 16-24 digits starting 25-30."""
    if not code.isdigit():
        return None
    if len(code) == 18 and 10 <= int(code[:2]) <= 15:
        return "wechat_pay"
    if 16 <= len(code) <= 24 and 25 <= int(code[:2]) <= 30:
        return "alipay"
    return None


async def collect_with_code(
    pool: asyncpg.Pool,
    client: Any,
    order: asyncpg.Record,
    auth_code: str,
    *,
    attempts: int,
    interval_s: float,
    now: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    """Returns ``{"status": paid|failed|reversed|unknown, ...}``."""
    try:
        result: CodePayResult = await client.pay_with_code(order, auth_code)
    except (httpx.HTTPError, Exception) as exc:  # no answer: we do not know
        log.warning("payment code: no answer; querying", error=type(exc).__name__)
        result = CodePayResult("unknown", None)
    if result.state == "failed":
        await _close(pool, order["order_id"])
        return {"status": "failed", "detail": result.detail}
    report = result.report
    for _ in range(attempts if report is None else 0):
        await sleep(interval_s)
        try:
            answer = await client.query(order["out_trade_no"])
        except Exception as exc:
            log.warning("payment code: query failed", error=type(exc).__name__)
            continue
        if answer.report is not None:
            report = answer.report
            break
        if answer.state in FINAL_UNPAID:
            await _close(pool, order["order_id"])
            return {"status": "failed", "detail": answer.state}
    if report is not None:
        async with pool.acquire() as conn, conn.transaction():
            recorded = await record_gateway_payment(conn, report, now())
        return {"status": "paid", "outcome": recorded.outcome, "id": recorded.record_id}
    for _ in range(3):
        try:
            if await client.reverse(order["out_trade_no"]):
                await _close(pool, order["order_id"])
                return {"status": "reversed"}
        except Exception as exc:
            log.warning("payment code: reversal failed; retrying", error=type(exc).__name__)
        await sleep(interval_s)
    return {"status": "unknown", "detail": "not paid, not reversed: check with the gateway"}


async def _close(pool: asyncpg.Pool, order_id: str) -> None:
    await pool.execute(
        "UPDATE payment_orders SET status = 'closed' WHERE order_id = $1 AND status = 'pending'",
        order_id,
    )
