"""Group commit for gateway notifications: the reports that arrive while one transaction is
being recorded go together in the next, set-based (``record_gateway_payments``).

A notification is still answered only after the transaction holding its payment committed.
Nothing waits for a batch to fill: one batch is recorded at a time per process, and whatever
arrived meanwhile is the next batch, so a lone notification goes at once and a burst costs a
few statements per batch instead of per notification. If a batch fails (a malformed report, a
deadlock with another replica), each of its reports is redone alone in its own transaction, so
one bad report fails alone, as without batching.

A batch is recorded in a span of its own (``propfee.tracing.span_after``): the child of the
request's span when it holds one notification, so that the payment's event carries the
request's trace; a batch of several requests starts a trace linked to each of them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from payments.domain.settlement import GatewayReport
from payments.service_layer.gateway_payments import Recorded, record_gateway_payments
from propfee import tracing
from propfee.logging import get_logger
from propfee.tracing import SpanContext

log = get_logger(__name__)

_Item = tuple[GatewayReport, datetime, "asyncio.Future[Recorded]", SpanContext | None]


class PaymentRecorder:
    def __init__(self, max_batch: int = 200) -> None:
        self._max_batch = max_batch
        self._waiting: list[_Item] = []
        self._task: asyncio.Task[None] | None = None

    async def record(
        self, pool: asyncpg.Pool, report: GatewayReport, seen_at: datetime
    ) -> Recorded:
        """What the report became, once the transaction that recorded it has committed."""
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._waiting.append((report, seen_at, future, tracing.current_span_context()))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(pool))
        return await future

    async def _drain(self, pool: asyncpg.Pool) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._record(pool, batch)
        finally:
            self._task = None

    async def _record(self, pool: asyncpg.Pool, batch: list[_Item]) -> None:
        try:
            with tracing.span_after("record gateway payments", [i[3] for i in batch]):
                async with pool.acquire() as conn, conn.transaction():
                    results = await record_gateway_payments(conn, [(i[0], i[1]) for i in batch])
        except asyncio.CancelledError:
            for item in batch:
                item[2].cancel()
            raise
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][2], exc)
                return
            log.warning("payment batch failed; recording one by one", error=type(exc).__name__)
            for item in batch:
                await self._record(pool, [item])
            return
        for item, result in zip(batch, results, strict=True):
            _settle(item[2], result)


def _settle(future: asyncio.Future[Recorded], outcome: Recorded | BaseException) -> None:
    if future.done():  # the request went away (client disconnected, shutdown)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
