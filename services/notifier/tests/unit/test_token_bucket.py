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

from notifier.adapters import base, registry
from notifier.adapters.base import Outbound, SendResult, TokenBucket
from notifier.adapters.registry import Route


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
    monkeypatch.setattr(registry, "time", SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(
        registry, "asyncio", SimpleNamespace(sleep=fake.sleep, wait_for=asyncio.wait_for)
    )
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
    # Not held below the window: it is filled every second, within a second at the end.
    assert bucket.window is not None
    elapsed = max(sent) - min(sent)
    assert elapsed <= (len(sent) - bucket.window) / bucket.window + 1.0
    if limit >= 10:  # and the window is most of the provider's limit
        assert bucket.window >= 0.9 * limit


async def test_time_lost_to_a_stall_is_made_up_within_the_rolling_second(
    clock: FakeClock,
) -> None:
    """The event loop held up for 100 ms (a batch's claim): a plain bucket loses that share
    of the provider's cap; this one sends it in the rest of the second, never over it."""
    bucket = TokenBucket.per_second(500)
    assert bucket.window is not None
    sent: list[float] = []
    start = clock.now
    while clock.now - start < 5.0:
        if len(sent) % 245 == 0:
            clock.now += 0.1  # held up twice a second
        await bucket.acquire()
        sent.append(clock.now)
    assert most_in_any_second(sent) <= bucket.window
    assert len(sent) >= 5 * bucket.window * 0.97


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


async def test_a_throttle_slows_the_bucket_once_then_it_climbs_back(clock: FakeClock) -> None:
    """The provider throttled anyway: the bucket pauses and slows by SLOW; throttles of
    requests already in flight (within SETTLE_S) do not slow it again; it recovers."""
    bucket = TokenBucket.per_second(500)
    full = bucket.rate
    for _ in range(50):
        await bucket.acquire()
    bucket.throttled()
    assert bucket.rate == pytest.approx(full * TokenBucket.SLOW)
    for _ in range(5):  # the other requests of the same bunch
        bucket.throttled()
    assert bucket.rate == pytest.approx(full * TokenBucket.SLOW)
    # It pauses: the next token comes PAUSE_S (and a token's time) later.
    before = clock.now
    await bucket.acquire()
    assert clock.now - before >= TokenBucket.PAUSE_S
    # Sending on for a few seconds brings the rate back to what was configured.
    sent: list[float] = []
    for _ in range(int(full * 5)):
        await bucket.acquire()
        sent.append(clock.now)
    assert bucket.rate == pytest.approx(full)
    assert most_in_any_second(sent) <= 500
    # A throttle after the settling time slows it again, but never below FLOOR.
    for _ in range(200):
        clock.now += TokenBucket.SETTLE_S
        bucket.throttled()
    assert bucket.rate >= full * TokenBucket.FLOOR - 1e-9


class ThrottlingAdapter:
    provider = "fake"

    def __init__(self, throttles: int) -> None:
        self.throttles = throttles
        self.calls = 0

    async def send(self, message: Outbound) -> SendResult:
        self.calls += 1
        if self.calls <= self.throttles:
            return SendResult("retry", self.provider, error="Throttling.User", throttled=True)
        return SendResult("sent", self.provider, message_id=f"m-{self.calls}")


MESSAGE = Outbound(
    notification_id="n-1", channel="sms", address="13900000000", body="b", message_type="x"
)


async def test_a_route_sends_a_throttled_message_again_after_slowing(clock: FakeClock) -> None:
    adapter = ThrottlingAdapter(throttles=2)
    route = Route(adapter, TokenBucket.per_second(100))
    result = await route.send(MESSAGE)
    assert result is not None and (result.outcome, result.message_id) == ("sent", "m-3")
    assert route.bucket is not None and route.bucket.rate < route.bucket.full_rate


async def test_a_route_gives_up_after_its_throttle_tries(clock: FakeClock) -> None:
    adapter = ThrottlingAdapter(throttles=100)
    route = Route(adapter, TokenBucket.per_second(100))
    before = clock.now
    result = await route.send(MESSAGE)
    assert adapter.calls == Route.THROTTLE_TRIES
    assert clock.now - before >= 1.5  # it waited out more than the provider's rolling second
    assert result is not None and result.outcome == "retry" and result.throttled


async def test_a_route_does_not_start_after_its_deadline(clock: FakeClock) -> None:
    adapter = ThrottlingAdapter(throttles=0)
    route = Route(adapter, TokenBucket(rate=1, burst=1))
    await route.send(MESSAGE)  # spends the only token
    assert await route.send(MESSAGE, start_by=clock.now + 0.5) is None  # next token at +1 s
    assert adapter.calls == 1
    result = await route.send(MESSAGE, start_by=clock.now + 1.5)
    assert result is not None and result.outcome == "sent" and adapter.calls == 2


async def test_other_failures_are_returned_at_once(clock: FakeClock) -> None:
    class Failing:
        provider = "fake"
        calls = 0

        async def send(self, message: Outbound) -> SendResult:
            Failing.calls += 1
            return SendResult("retry", self.provider, error="isp.SYSTEM_ERROR")

    route = Route(Failing(), TokenBucket.per_second(100))
    result = await route.send(MESSAGE)
    assert result is not None and result.error == "isp.SYSTEM_ERROR" and Failing.calls == 1
