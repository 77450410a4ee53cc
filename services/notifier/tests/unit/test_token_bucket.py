"""The providers' rate limits: a bucket made by ``per_second(limit)`` never lets more than
``limit`` requests through in any rolling second, and does not throttle far below it.

The clock is simulated (``time.monotonic`` and ``asyncio.sleep`` replaced), so the test
measures the algorithm, not this machine's scheduler.
"""

from __future__ import annotations

import asyncio
import bisect
from types import SimpleNamespace

import pytest

from notifier.adapters import base
from notifier.adapters.base import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-6)  # a real sleep always takes some time
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    # The module's own names only: the event loop keeps the real clock.
    monkeypatch.setattr(base, "time", SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(base, "asyncio", SimpleNamespace(Lock=asyncio.Lock, sleep=fake.sleep))
    return fake


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.mark.parametrize("limit", [1, 10, 100, 500])
async def test_per_second_bucket_stays_under_the_limit_in_every_rolling_second(
    clock: FakeClock, limit: int
) -> None:
    bucket = TokenBucket.per_second(limit)
    sent: list[float] = []

    async def sender(n: int) -> None:
        for _ in range(n):
            await bucket.acquire()
            sent.append(clock.now)

    # Many concurrent senders, as the dispatcher's send gate allows.
    await asyncio.gather(*(sender(limit) for _ in range(8)))
    assert len(sent) == 8 * limit
    assert most_in_any_second(sent) <= limit
    # Not throttled below the bucket's own rate: after the burst, one every 1/rate seconds.
    elapsed = max(sent) - min(sent)
    assert elapsed == pytest.approx((len(sent) - bucket.capacity) / bucket.rate, rel=0.01)
    if limit >= 10:  # and that rate is most of the provider's limit
        assert bucket.rate >= 0.8 * limit


async def test_a_bucket_refills_after_idling_only_up_to_its_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, burst=3)
    clock.now += 3600  # an idle hour does not bank 36,000 requests
    start = clock.now
    for _ in range(3):
        await bucket.acquire()
    assert clock.now == start  # the burst goes at once
    await bucket.acquire()
    assert clock.now == pytest.approx(start + 0.1)  # then one every 1/rate seconds


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
