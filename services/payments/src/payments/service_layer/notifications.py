"""Recording what a gateway's authentic notification reports, and what became of it, as the
webhooks answer it: recorded (the gateway's success answer), refused (the notification's
fault: 4xx, never retried into success) or unavailable (payments cannot record now: 5xx, so
that the gateway retries).

What the database refuses of a report is the notification's fault (a value out of range, a
text PostgreSQL cannot hold); anything else there (the database away) is unavailability.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

import asyncpg

from payments.domain.refunds import RefundMismatch, RefundReport
from payments.domain.settlement import GatewayReport
from payments.service_layer.recorder import PaymentRecorder
from payments.service_layer.refunds import confirm_refund
from propfee.logging import get_logger

log = get_logger(__name__)

Outcome = Literal["recorded", "refused", "unavailable", "malformed"]
#: What a notification reports: a payment, or a refund's result (or neither: ignored).
Reports = tuple[GatewayReport | None, RefundReport | None]

REFUSED_BY_DATABASE = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
UNAVAILABLE = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def record_notification(
    pool: asyncpg.Pool,
    recorder: PaymentRecorder,
    gateway: str,
    read: Callable[[], Reports],
    now: datetime,
) -> Outcome:
    """``read`` the verified notification's reports (a field of the wrong type or out of
    range raises: ``malformed``), then record them once: a refund's result in its own
    transaction, payments in groups (``PaymentRecorder``)."""
    try:
        report, refund = read()
        if refund is not None:
            async with pool.acquire() as conn, conn.transaction():
                await confirm_refund(conn, refund)
        elif report is not None:
            await recorder.record(pool, report, now)
    except (*REFUSED_BY_DATABASE, RefundMismatch) as exc:
        log.warning(f"{gateway} notification refused", error=type(exc).__name__)
        return "refused"
    except UNAVAILABLE as exc:  # the database away: the gateway retries
        log.warning(f"{gateway} notification not recorded now", error=type(exc).__name__)
        return "unavailable"
    except Exception as exc:  # a resource field of the wrong type or out of range
        log.warning(f"{gateway} notification malformed", error=type(exc).__name__)
        return "malformed"
    return "recorded"
