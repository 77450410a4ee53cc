"""The group-commit recorder: batches what arrives together, and isolates a failing report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from payments.domain.settlement import GatewayReport
from payments.service_layer import recorder as recorder_module
from payments.service_layer.gateway_payments import Recorded
from payments.service_layer.recorder import PaymentRecorder

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _report(n: int) -> GatewayReport:
    return GatewayReport("wechatpay", "wechat_pay", f"42000{n}", f"T{n}", 100, "CNY", AT)


class _Pool:
    """Enough of asyncpg's pool for the recorder: connections whose transactions do nothing."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        yield self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


async def test_reports_arriving_together_share_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []

    async def record(_conn: Any, reports: Sequence[tuple[GatewayReport, datetime]]) -> Any:
        batches.append(len(reports))
        await asyncio.sleep(0.01)
        return [Recorded("payment", f"pay-{r.transaction_id}", False) for r, _ in reports]

    monkeypatch.setattr(recorder_module, "record_gateway_payments", record)
    recorder = PaymentRecorder(max_batch=4)
    pool: Any = _Pool()
    results = await asyncio.gather(*(recorder.record(pool, _report(n), AT) for n in range(10)))
    assert [r.record_id for r in results] == [f"pay-42000{n}" for n in range(10)]
    assert batches == [4, 4, 2]  # all ten arrived before the first transaction began
    assert (await recorder.record(pool, _report(10), AT)).record_id == "pay-4200010"
    assert batches[-1] == 1  # a lone report goes at once


async def test_a_failing_batch_is_redone_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    async def record(_conn: Any, reports: Sequence[tuple[GatewayReport, datetime]]) -> Any:
        if len(reports) > 1 or reports[0][0].transaction_id == "420003":
            raise ValueError("bad report")
        return [Recorded("payment", f"pay-{r.transaction_id}", False) for r, _ in reports]

    monkeypatch.setattr(recorder_module, "record_gateway_payments", record)
    recorder = PaymentRecorder()
    pool: Any = _Pool()
    first = asyncio.ensure_future(recorder.record(pool, _report(0), AT))
    rest = [asyncio.ensure_future(recorder.record(pool, _report(n), AT)) for n in range(1, 6)]
    assert (await first).record_id == "pay-420000"
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert isinstance(outcomes[2], ValueError)  # report 3 fails alone
    assert [o.record_id for o in outcomes if isinstance(o, Recorded)] == [
        "pay-420001",
        "pay-420002",
        "pay-420004",
        "pay-420005",
    ]
