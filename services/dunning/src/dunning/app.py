"""create_app(): the dunning service as an ASGI app (HTTP API, outbox relay, consumers,
background sweep)."""

from fastapi import FastAPI

from dunning.entrypoints import (
    http_cases,
    http_evidence,
    http_jobs,
    http_legal,
    http_policies,
    http_reports,
    http_staff,
    scoping,
)
from dunning.entrypoints.events import BATCH_HANDLERS, HANDLERS
from dunning.runtime import DunningRuntime
from dunning.settings import DunningSettings
from propfee.audit import audit_router
from propfee.auth import secure_app
from propfee.http import create_service_app, get_pool
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    if not isinstance(settings, DunningSettings):
        settings = DunningSettings(**(settings.model_dump() if settings else {}))
    runtime = DunningRuntime(
        settings, package="dunning", handlers=HANDLERS, batch_handlers=BATCH_HANDLERS
    )
    app = create_service_app(
        runtime,
        title="Propfee dunning",
        description="Arrears cases built from billing's and payments' events: who is chased, "
        "how and when, within the law. Every endpoint but the probes needs a bearer token; "
        "`x-propfee-roles` lists the roles each one allows.",
        routers=[
            http_cases.router,
            http_policies.router,
            http_staff.router,
            http_legal.router,
            http_evidence.router,
            http_reports.router,
            http_jobs.router,
            audit_router(get_pool),
        ],
    )
    app.state.settings = settings
    return secure_app(app, scope=scoping.REGISTRY)
