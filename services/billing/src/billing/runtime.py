"""Billing's process: the shared ServiceRuntime with billing's consumers (payments received
and refunded, dunning's limitation clocks: ``entrypoints.events``) and its start-up check.

Billing has no background work of its own (runs and late-fee assessments are started over
HTTP by a CronJob or staff), so it uses no hook beyond refusing, at construction, what only
development may use: the built-in receipt secret outside development."""

from __future__ import annotations

from billing.entrypoints.events import BATCH_HANDLERS, HANDLERS
from billing.settings import BillingSettings
from propfee.logging import get_logger
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings

log = get_logger(__name__)


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
