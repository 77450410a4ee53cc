"""create_app(): the dunning service as an ASGI app (HTTP API, outbox relay, consumers)."""

from fastapi import FastAPI

from dunning.entrypoints.events import HANDLERS
from dunning.entrypoints.http import router
from dunning.settings import DunningSettings
from propfee.http import create_service_app
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or DunningSettings()
    runtime = ServiceRuntime(settings, package="dunning", handlers=HANDLERS)
    return create_service_app(
        runtime,
        title="Propfee dunning",
        description="Arrears cases built from billing's and payments' events: who is chased, "
        "how and when.",
        routers=[router],
    )
