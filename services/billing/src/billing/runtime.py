"""Billing's process: the shared ServiceRuntime with billing's consumers (payments received
and refunded, dunning's limitation clocks: ``entrypoints.events``) and its start-up check.

Runs and late-fee assessments are started over HTTP by a CronJob or staff; a large run's work
items are billed in the background: ``run_workers`` claimers per process (every replica, every
uvicorn worker) take pending items (``runs.bill_next_item``), woken by a NOTIFY when a run is
created, polling as a fallback. At construction it refuses what only development may use (the
built-in receipt secret outside development); at each ``/metrics`` scrape it counts the
communities whose billing run of the current period is due and absent
(``propfee_billing_runs_missing``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from prometheus_client import Gauge

from billing.entrypoints.events import BATCH_HANDLERS, HANDLERS
from billing.service_layer import runs
from billing.service_layer.run_schedules import count_missing
from billing.settings import BillingSettings
from propfee.business_time import utc_now
from propfee.logging import get_logger
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings

log = get_logger(__name__)

RUNS_MISSING = Gauge(
    "propfee_billing_runs_missing",
    "Communities whose billing run for the current period is due (by their schedule, in their "
    "own today) and absent; counted at each scrape",
    multiprocess_mode="mostrecent",
)


class BillingRuntime(ServiceRuntime):
    def __init__(self, settings: ServiceSettings) -> None:
        if isinstance(settings, BillingSettings):
            settings.check_production()  # outside development: no built-in receipt secret
        super().__init__(
            settings, package="billing", handlers=HANDLERS, batch_handlers=BATCH_HANDLERS
        )
        self._run_wakeup = asyncio.Event()
        self._run_tasks: list[asyncio.Task[None]] = []
        self._run_listener: Any = None

    async def on_started(self) -> None:
        """The claimers of billing run items (``run_workers``), safe on any number of
        replicas; a CronJob's runs and late-fee assessments are HTTP calls."""
        log.info("billing consumers", handlers=len(self.handlers) + len(self.batch_handlers))
        s = self.settings
        workers = s.run_workers if isinstance(s, BillingSettings) else 0
        if workers and self.pool is not None:
            with contextlib.suppress(Exception):  # polling still works without LISTEN
                self._run_listener = await self.pool.acquire()
                await self._run_listener.add_listener(runs.NOTIFY_CHANNEL, self._on_run_notify)
            self._run_tasks = [
                asyncio.create_task(self._claim_items(), name=f"billing-run-items-{n}")
                for n in range(workers)
            ]

    def _on_run_notify(self, *_: Any) -> None:
        self._run_wakeup.set()

    async def _claim_items(self) -> None:
        """Bill pending run items until none is left, then wait for a NOTIFY (or the poll
        interval). An error (the database gone) leaves the item pending; retried later."""
        assert self.pool is not None and isinstance(self.settings, BillingSettings)
        s = self.settings
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                if await runs.bill_next_item(self.pool, chunk=s.run_item_units):
                    backoff = 0.5
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("billing run item failed; will retry", error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._run_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._run_wakeup.wait(), timeout=s.run_poll_interval_s)

    async def on_stopping(self) -> None:
        """Stop claiming: an item in hand is cancelled (its transaction rolls back, the item
        stays pending for another claimer)."""
        for task in self._run_tasks:
            task.cancel()
        for task in self._run_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        conn, self._run_listener = self._run_listener, None
        if conn is not None and self.pool is not None:
            with contextlib.suppress(Exception):
                await conn.remove_listener(runs.NOTIFY_CHANNEL, self._on_run_notify)
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    async def measure(self) -> None:
        """``propfee_billing_runs_missing``, counted from the database at each scrape (a
        scheduler that stopped shows its runs missing). A database that does not answer within
        a second leaves the gauge as it was."""
        if self.pool is None:
            return
        try:
            async with asyncio.timeout(1):
                missing = await count_missing(self.pool, utc_now())
        except Exception as exc:
            log.warning("cannot count missing billing runs for /metrics", error=type(exc).__name__)
            return
        RUNS_MISSING.set(missing)
