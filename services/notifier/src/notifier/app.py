"""create_app(): the notifier service as an ASGI app (HTTP API, outbox relay, consumers,
dispatcher)."""

from fastapi import FastAPI

from notifier.entrypoints import scoping
from notifier.entrypoints.events import HANDLERS
from notifier.entrypoints.http_contact_rules import router as contact_rules_router
from notifier.entrypoints.http_letters import router as letters_router
from notifier.entrypoints.http_notifications import router as notifications_router
from notifier.entrypoints.http_parties import router as parties_router
from notifier.entrypoints.http_receipts import router as receipts_router
from notifier.entrypoints.http_templates import router as templates_router
from notifier.entrypoints.http_wechat_push import router as wechat_router
from notifier.runtime import NotifierRuntime
from notifier.settings import NotifierSettings
from propfee.audit import audit_router
from propfee.auth import secure_app
from propfee.http import create_service_app, get_pool
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    if not isinstance(settings, NotifierSettings):
        settings = NotifierSettings(**(settings.model_dump() if settings else {}))
    settings.check_production()  # outside development: no built-in pay-link secret
    runtime = NotifierRuntime(settings, package="notifier", handlers=HANDLERS)
    app = create_service_app(
        runtime,
        title="Propfee notifier",
        description="Messages to households from billing's, payments' and dunning's events: "
        "channels, templates, preferences, quiet hours, delivery proof. Every endpoint but the "
        "probes and the providers' delivery callbacks (authenticated by their signature or "
        "callback token) needs a bearer token; `x-propfee-roles` lists the roles each one "
        "allows.",
        routers=[
            notifications_router,
            letters_router,
            receipts_router,
            wechat_router,
            parties_router,
            templates_router,
            contact_rules_router,
            audit_router(get_pool),
        ],
    )
    return secure_app(app, scope=scoping.REGISTRY)
