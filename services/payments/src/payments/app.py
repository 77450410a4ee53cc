"""create_app(): the payments service as an ASGI app (HTTP API, outbox relay)."""

from fastapi import FastAPI

from payments.entrypoints.http import router
from payments.settings import PaymentsSettings
from propfee.http import create_service_app
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime(settings, package="payments", handlers={})
    return create_service_app(
        runtime,
        title="Propfee payments",
        description="Payments received from gateways and the counter: the source of truth for "
        "what was paid.",
        routers=[router],
    )
