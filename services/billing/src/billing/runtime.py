"""Billing's process: the shared ServiceRuntime with billing's consumers (payments received
and refunded, dunning's limitation clocks: ``entrypoints.events``) and its start-up check.

Billing has no background work of its own (runs and late-fee assessments are started over
HTTP by a CronJob or staff). At construction it refuses what only development may use (the
built-in receipt secret outside development); at each ``/metrics`` scrape it counts the
communities whose billing run of the current period is due and absent
(``propfee_billing_runs_missing``)."""

from __future__ import annotations

import asyncio

from prometheus_client import Gauge

from billing.entrypoints.events import BATCH_HANDLERS, HANDLERS
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

    async def on_started(self) -> None:
        """Nothing to start: billing's jobs are HTTP calls (a CronJob's runs and late-fee
        assessments), safe on any number of replicas."""
        log.info("billing consumers", handlers=len(self.handlers) + len(self.batch_handlers))

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
