"""What every channel adapter takes and returns, the per-provider token bucket, and the one
HTTP call the JSON providers share."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp

Outcome = Literal["sent", "delivered", "printing", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message ready to go: the exact text and, for SMS, the provider template values."""

    notification_id: str
    channel: str
    address: str
    body: str
    message_type: str
    subject: str = ""
    sms_params: dict[str, str] = field(default_factory=dict)  # in template order
    template_codes: dict[str, str] = field(default_factory=dict)  # provider -> code
    context: dict[str, Any] = field(default_factory=dict)  # letters: the whole statement


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sent``: accepted, proof comes later (receipt, tracking number); ``delivered``: the
    acceptance is the proof; ``retry``: a transient error; ``failed``: never on this channel."""

    outcome: Outcome
    provider: str
    message_id: str | None = None
    proof: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    document: bytes | None = None
    #: The provider refused for our sending rate (HTTP 429, Alibaba ``Throttling.*``, Tencent
    #: ``RequestLimitExceeded``): nothing was accepted, so sending again is safe once the
    #: bucket has slowed down (:meth:`TokenBucket.throttled`).
    throttled: bool = False


class ChannelAdapter(Protocol):
    provider: str

    async def send(self, message: Outbound) -> SendResult: ...


class TokenBucket:
    """Provider rate limit within this process: ``rate`` per second, bursts up to ``burst``;
    with ``window``, also never more than ``window`` requests in any rolling second."""

    #: When the provider throttles anyway (its clock sees our requests bunched by the network
    #: or a scheduler stall), the bucket slows: its rate falls by ``SLOW`` (never below
    #: ``FLOOR`` of the configured rate), it sends nothing for ``PAUSE_S``, and it climbs back
    #: by ``RECOVERY`` of the configured rate per second without throttles. Throttles answered
    #: within ``SETTLE_S`` of a slow-down were sent before it and do not slow it again.
    SLOW = 0.97
    FLOOR = 0.85
    PAUSE_S = 0.05
    RECOVERY = 0.01
    SETTLE_S = 1.0
    #: ``per_second``'s pace: the bucket may refill this much faster than the rolling window's
    #: share, so a second whose sends were held up (the event loop busy with a batch's claim,
    #: a batch boundary with nothing to send) is made up within the same rolling second
    #: rather than lost. The window alone bounds what the provider sees.
    CATCH_UP = 1.5

    def __init__(self, rate: float, burst: float | None = None, window: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if window is not None and window < 1:
            raise ValueError("window must be at least 1")
        self.full_rate = rate
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.window = window
        self._sent: deque[float] = deque()
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._slowed_at: float | None = None
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed = now - self._updated
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        if self.rate < self.full_rate:
            self.rate = min(self.full_rate, self.rate + elapsed * self.full_rate * self.RECOVERY)
        self._updated = now

    def _window_wait(self) -> float:
        """0 when the rolling second has room, else how long until it has (a slowed bucket's
        window shrinks with its rate)."""
        if self.window is None:
            return 0.0
        now, sent = self._updated, self._sent
        while sent and sent[0] <= now - 1.0:
            sent.popleft()
        room = max(1, math.floor(self.window * self.rate / self.full_rate))
        if len(sent) < room:
            return 0.0
        return sent[len(sent) - room] + 1.0 - now

    async def acquire(self) -> None:
        async with self._lock:  # fair: waiters are served in arrival order
            while True:
                self._refill()
                if self._tokens >= 1:
                    wait = self._window_wait()
                    if wait <= 0:
                        self._tokens -= 1
                        if self.window is not None:
                            self._sent.append(self._updated)
                        return
                else:
                    wait = (1 - self._tokens) / self.rate
                await asyncio.sleep(wait)

    def throttled(self) -> None:
        """The provider refused a request for our rate: slow down (see ``SLOW``)."""
        self._refill()
        if self._slowed_at is not None and self._updated - self._slowed_at < self.SETTLE_S:
            return
        self._slowed_at = self._updated
        self.rate = max(self.full_rate * self.FLOOR, self.rate * self.SLOW)
        self._tokens = min(self._tokens, 0.0) - self.PAUSE_S * self.rate

    @classmethod
    def per_second(cls, limit: float, margin: float = 0.02) -> TokenBucket:
        """Stay under a provider's limit of ``limit`` requests in any rolling second.

        The rolling window spends ``limit * (1 - margin)`` in any second (at least one); the
        bucket paces the sends within it, a burst of 1% of that at most, refilling at
        ``CATCH_UP`` times the window's rate so that time lost to a stall is made up (a plain
        bucket at the window's rate lost about 13% of the provider's cap that way: issue 22).
        The margin absorbs the network and scheduling jitter between our clock and the
        provider's (``NOTIFIER_PROVIDER_RATE_MARGIN`` widens it for a provider further away).
        """
        budget = limit * (1 - margin)
        burst = max(1.0, budget / 100)
        return cls(budget * cls.CATCH_UP, burst, window=max(1, math.floor(budget)))


def http_failure(provider: str, status: int, text: str) -> SendResult:
    """Classify an HTTP error answer: 429 and 5xx are worth a retry, other 4xx are not."""
    outcome: Outcome = "retry" if status == 429 or status >= 500 else "failed"
    return SendResult(
        outcome, provider, error=f"HTTP {status}: {text[:200]}", throttled=status == 429
    )


#: What a provider call raises when the provider could not be reached or did not answer in time.
HTTP_ERRORS = (aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.text)


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request on the process's keep-alive session (aiohttp: under mass sending httpx's
    pool bookkeeping cost the notifier a tenth of its CPU, bench/README.md "The demo"); the
    answer read whole, as UTF-8. Raises one of :data:`HTTP_ERRORS`."""
    sent = dict(headers or {})
    if json_body is not None:
        content = json.dumps(json_body, ensure_ascii=False).encode()
        sent.setdefault("Content-Type", "application/json")
    async with session.request(method, url, params=params, data=content, headers=sent) as r:
        return Answer(r.status, (await r.read()).decode("utf-8", errors="replace"))
