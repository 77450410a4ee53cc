"""create_app(): the payments service as an ASGI app (HTTP API, webhooks, relay, consumers)."""

from fastapi import FastAPI

from payments.adapters import scoping
from payments.adapters.gateways import Gateways
from payments.entrypoints import (
    http_bank_withholding,
    http_orders,
    http_pay_links,
    http_payments,
    http_qr,
    http_reconciliation,
    http_refunds,
    http_reports,
    http_review_cases,
    http_webhooks,
)
from payments.runtime import PaymentsRuntime
from payments.service_layer.accounts import configured_accounts
from payments.service_layer.recorder import PaymentRecorder
from payments.settings import PaymentsSettings
from propfee.audit import audit_router
from propfee.auth import secure_app
from propfee.http import create_service_app, get_pool
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    assert isinstance(settings, PaymentsSettings)
    settings.check_production()  # outside development: no built-in secret (refuses to start)
    runtime = PaymentsRuntime(settings, configured_accounts(settings))
    app = create_service_app(
        runtime,
        title="Propfee payments",
        description="Payments received from gateways and the counter: the source of truth for "
        "what was paid. Every endpoint but the probes, the gateways' webhooks and the owners' "
        "QR statement and pay links (authenticated by their signatures) need a bearer token; "
        "`x-propfee-roles` lists the roles each one allows. Errors are RFC 9457 problem "
        "details (`payments.errors`), but the webhooks answer what each gateway expects.",
        routers=[
            # First: gateways' notifications are the hot path, matched before the others.
            http_webhooks.router,
            http_payments.router,
            http_orders.router,
            http_refunds.router,
            http_review_cases.router,
            http_qr.router,
            http_pay_links.router,
            http_bank_withholding.router,
            http_reconciliation.router,
            http_reports.router,
            audit_router(get_pool),
        ],
    )
    app.state.gateways = Gateways.from_settings(settings)
    app.state.payment_recorder = PaymentRecorder()
    return secure_app(app, scope=scoping.REGISTRY)
