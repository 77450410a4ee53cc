"""Dunning's process: the shared ServiceRuntime plus an optional background sweep and the
sweep's claimers.

Through the shared runtime's hooks: ``on_started`` starts the scheduler and the claimers once
the database, relay and consumers are up, ``on_stopping`` stops them while the pool is still
open. The scheduler reads the wall clock and runs the same ``run_sweep`` as ``POST /sweeps``.
A sweep is split into work items; ``sweep_claimers`` loops per process claim any replica's
pending items (``FOR UPDATE SKIP LOCKED``), so a sweep runs on every replica at once, and
sweeps run one after another, so running the scheduler on every replica is safe. After boot
it also publishes, once, the limitation clocks computed before they were published
(migration 0008), and re-derives every stored policy stage's legal precondition from its
actions (issue 18 rule 1).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from dunning.adapters.policies import resync_stage_guards
from dunning.service_layer import jobs
from dunning.service_layer.limitation import publish_unpublished_clocks
from dunning.service_layer.sweep import run_sweep, work_one
from dunning.settings import DunningSettings
from propfee.logging import get_logger
from propfee.runtime import ServiceRuntime

log = get_logger(__name__)


class DunningRuntime(ServiceRuntime):
    settings: DunningSettings

    def __init__(self, settings: DunningSettings, **kwargs: object) -> None:
        super().__init__(settings, **kwargs)  # type: ignore[arg-type]
        self._sweep_stop = asyncio.Event()
        self._sweep_task: asyncio.Task[None] | None = None
        self._clocks_task: asyncio.Task[None] | None = None
        self._claimers: list[asyncio.Task[None]] = []

    async def on_started(self) -> None:
        self._clocks_task = asyncio.create_task(self._publish_clocks(), name="dunning-clocks")
        if self.settings.sweep_interval_s > 0:
            self._sweep_task = asyncio.create_task(self._scheduler(), name="dunning-sweeper")
        self._claimers = [
            asyncio.create_task(self._claim(), name=f"dunning-sweep-claimer-{n}")
            for n in range(self.settings.sweep_claimers)
        ]
        self._claimers += [
            asyncio.create_task(self._work_jobs(), name=f"dunning-job-worker-{n}")
            for n in range(self.settings.job_workers)
        ]

    async def _work_jobs(self) -> None:
        """Do pending bulk-job items (the console's bulk actions), any replica's, a chunk per
        transaction; idle, look again every ``sweep_claim_interval_s``."""
        interval = self.settings.sweep_claim_interval_s
        while not self._sweep_stop.is_set():
            worked = False
            try:
                if self.pool is not None:
                    async with self.pool.acquire() as conn:
                        while not self._sweep_stop.is_set() and await jobs.work_chunk(conn):
                            worked = True
            except Exception as exc:
                log.warning("working bulk jobs failed; will retry", error=repr(exc))
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sweep_stop.wait(), timeout=interval)

    async def _claim(self) -> None:
        """Do pending sweep items, any replica's, one transaction each; idle, look again
        every ``sweep_claim_interval_s``."""
        interval = self.settings.sweep_claim_interval_s
        while not self._sweep_stop.is_set():
            worked = False
            try:
                if self.pool is not None:
                    async with self.pool.acquire() as conn:
                        while not self._sweep_stop.is_set() and await work_one(conn):
                            worked = True
            except Exception as exc:
                log.warning("claiming sweep items failed; will retry", error=repr(exc))
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sweep_stop.wait(), timeout=interval)

    async def _scheduler(self) -> None:
        interval = self.settings.sweep_interval_s
        while not self._sweep_stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_stop.wait(), timeout=interval)
            if self._sweep_stop.is_set() or self.pool is None:
                return
            try:
                async with self.pool.acquire() as conn:
                    await run_sweep(conn, datetime.now(UTC))
            except Exception as exc:
                log.warning("scheduled sweep failed; will retry", error=repr(exc))

    async def _publish_clocks(self) -> None:
        if self.pool is None:
            return
        try:
            async with self.pool.acquire() as conn:
                changed = await resync_stage_guards(conn)
            if changed:
                log.info("policy stages now require the legal precondition", stages=changed)
        except Exception as exc:  # the next start tries again
            log.warning("re-deriving policy stage guards failed", error=repr(exc))
        try:
            await publish_unpublished_clocks(self.pool, at=datetime.now(UTC))
        except Exception as exc:  # the next start tries again; nothing is half-published
            log.warning("publishing unpublished limitation clocks failed", error=repr(exc))

    async def on_stopping(self) -> None:
        self._sweep_stop.set()
        if self._clocks_task is not None and not self._clocks_task.done():
            self._clocks_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._clocks_task
        tasks = [t for t in (self._sweep_task, *self._claimers) if t is not None]
        if tasks:
            # An item under way finishes (its transaction commits) or, cancelled, rolls back
            # and is claimed again by another replica.
            _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
