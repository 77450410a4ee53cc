"""Notifier's process: the shared ServiceRuntime plus the dispatcher loop and the channels.

Through the runtime's hooks: ``on_started`` (the database, relay and consumers are up, before
the service reports ready) builds the channels and starts the dispatcher; ``on_stopping``
(first on shutdown, the pool still open) stops it, so the batch in hand is committed or rolled
back cleanly, then closes the channels.
"""

from __future__ import annotations

import asyncio
import contextlib

from notifier.adapters.registry import Channels
from notifier.service_layer import handlers, print_jobs, templates
from notifier.service_layer.backlog import dispatch_backlog
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import NotifierSettings
from propfee import metrics
from propfee.logging import get_logger
from propfee.runtime import ServiceRuntime

log = get_logger(__name__)


class NotifierRuntime(ServiceRuntime):
    settings: NotifierSettings

    def __init__(self, settings: NotifierSettings, **kwargs: object) -> None:
        super().__init__(settings, **kwargs)  # type: ignore[arg-type]
        handlers.ESSENTIAL_STAGES = frozenset(settings.essential_stages)
        handlers.CONFIRMATION_CHANNEL = settings.confirmation_channel
        self.channels: Channels | None = None
        self.dispatcher: Dispatcher | None = None
        self._dispatch_stop = asyncio.Event()
        self._dispatch_task: asyncio.Task[None] | None = None
        self._print_tasks: list[asyncio.Task[None]] = []

    async def on_started(self) -> None:
        assert self.pool is not None
        # The built-in templates pass the check a saved one does (wording, sender, dispute
        # contact); with this deployment's SMS settings too, or the operator hears of it.
        refused = templates.builtin_problems(
            self.settings.sms_sign_name,
            self.settings.sms_max_segments,
            self.settings.pay_link_base_url,
        )
        if refused:
            log.error("built-in templates refused by the template check", problems=refused)
        self.channels = Channels.from_settings(self.settings)
        self.dispatcher = Dispatcher(self.pool, self.channels, self.settings)
        if self.settings.dispatcher_enabled:
            self._dispatch_task = asyncio.create_task(
                self.dispatcher.run(self._dispatch_stop), name="notifier-dispatcher"
            )
        self._print_tasks = [
            asyncio.create_task(self._print(), name=f"notifier-print-worker-{n}")
            for n in range(self.settings.print_workers)
        ]

    async def _print(self) -> None:
        """Render pending print-job letters (any process's), a chunk per transaction; idle,
        look again every ``print_interval_s``."""
        while not self._dispatch_stop.is_set():
            worked = False
            try:
                if self.pool is not None:
                    async with self.pool.acquire() as conn:
                        while not self._dispatch_stop.is_set() and await print_jobs.work_chunk(
                            conn, chunk=self.settings.print_chunk
                        ):
                            worked = True
            except Exception as exc:
                log.warning("rendering print jobs failed; will retry", error=repr(exc))
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._dispatch_stop.wait(), timeout=self.settings.print_interval_s
                    )

    async def measure(self) -> None:
        """``propfee_dispatch_backlog{channel}`` at each scrape (whichever process answers:
        it is the database's count, not the dispatcher's)."""
        if self.pool is None:
            return
        for channel, due in (await dispatch_backlog(self.pool)).items():
            metrics.DISPATCH_BACKLOG.labels(channel).set(due)

    async def on_stopping(self) -> None:
        self._dispatch_stop.set()
        for task in self._print_tasks:
            try:
                await asyncio.wait_for(task, timeout=self.settings.shutdown_timeout_s)
            except (TimeoutError, asyncio.CancelledError, Exception):
                task.cancel()
        if self._dispatch_task is not None:
            try:
                await asyncio.wait_for(
                    self._dispatch_task, timeout=self.settings.shutdown_timeout_s
                )
            except (TimeoutError, asyncio.CancelledError, Exception):
                self._dispatch_task.cancel()
        if self.channels is not None:
            with contextlib.suppress(Exception):
                await self.channels.close()
