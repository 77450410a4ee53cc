"""create_app(): the notifier service as an ASGI app (HTTP API, outbox relay, consumers)."""

from fastapi import FastAPI

from notifier.entrypoints.events import HANDLERS
from notifier.entrypoints.http import router
from notifier.settings import NotifierSettings
from propfee.http import create_service_app
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    runtime = ServiceRuntime(settings, package="notifier", handlers=HANDLERS)
    return create_service_app(
        runtime,
        title="Propfee notifier",
        description="Messages to households from billing's, payments' and dunning's events.",
        routers=[router],
    )
