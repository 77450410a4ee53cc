"""create_app(): the payments service as an ASGI app (HTTP API, webhooks, relay, consumers)."""

from fastapi import FastAPI

from payments.adapters.gateways import Gateways
from payments.entrypoints import (
    bank,
    finance,
    orders,
    pay_links,
    qr,
    reconciliation,
    scoping,
    webhooks,
)
from payments.entrypoints.errors import install_problem_handlers
from payments.entrypoints.events import HANDLERS
from payments.entrypoints.http import router
from payments.service_layer.accounts import MerchantAccount, configured_accounts, sync_accounts
from payments.service_layer.recorder import PaymentRecorder
from payments.settings import PaymentsSettings
from propfee.audit import audit_router
from propfee.auth import secure_app
from propfee.http import create_service_app, get_pool
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings


class PaymentsRuntime(ServiceRuntime):
    """The runtime, plus: the configured merchant accounts written at start (their records
    follow the account's company)."""

    def __init__(self, settings: PaymentsSettings, accounts: list[MerchantAccount]) -> None:
        super().__init__(settings, package="payments", handlers=HANDLERS)
        self.accounts = accounts

    async def on_started(self) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            await sync_accounts(conn, self.accounts)


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
        "`x-propfee-roles` lists the roles each one allows.",
        routers=[
            # First: gateways' notifications are the hot path, matched before the others.
            webhooks.router,
            router,
            orders.router,
            finance.router,
            qr.router,
            pay_links.router,
            bank.router,
            reconciliation.router,
            audit_router(get_pool),
        ],
    )
    install_problem_handlers(app)
    app.state.gateways = Gateways.from_settings(settings)
    app.state.payment_recorder = PaymentRecorder()
    return secure_app(app, scope=scoping.REGISTRY)
