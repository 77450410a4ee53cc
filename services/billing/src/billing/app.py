"""create_app(): the billing service as an ASGI app (HTTP API, outbox relay, consumers)."""

from fastapi import FastAPI

from billing.entrypoints import scoping
from billing.entrypoints.http_accounts import router as accounts_router
from billing.entrypoints.http_billing_runs import router as billing_runs_router
from billing.entrypoints.http_charges import router as charges_router
from billing.entrypoints.http_communities import router as communities_router
from billing.entrypoints.http_companies import router as companies_router
from billing.entrypoints.http_e_invoices import router as e_invoices_router
from billing.entrypoints.http_fee_schedules import router as fee_schedules_router
from billing.entrypoints.http_invoices import router as invoices_router
from billing.entrypoints.http_ledger_imports import router as ledger_imports_router
from billing.entrypoints.http_lists import router as lists_router
from billing.entrypoints.http_parties import router as parties_router
from billing.entrypoints.http_readings import router as readings_router
from billing.entrypoints.http_receipts import router as receipts_router
from billing.entrypoints.http_reports import router as reports_router
from billing.entrypoints.http_units import router as units_router
from billing.entrypoints.http_waiver_requests import router as waiver_requests_router
from billing.runtime import BillingRuntime
from billing.settings import BillingSettings
from propfee.audit import audit_router
from propfee.auth import secure_app
from propfee.http import create_service_app, get_pool
from propfee.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    runtime = BillingRuntime(settings or BillingSettings())
    app = create_service_app(
        runtime,
        title="Propfee billing",
        description="Registry, fee schedules, billing runs, invoices, late fees and allocation "
        "of payments: the source of truth for what is owed. Every endpoint but the probes "
        "needs a bearer token; `x-propfee-roles` lists the roles each one allows.",
        routers=[
            communities_router,
            companies_router,
            units_router,
            parties_router,
            ledger_imports_router,
            lists_router,
            fee_schedules_router,
            readings_router,
            charges_router,
            billing_runs_router,
            invoices_router,
            waiver_requests_router,
            accounts_router,
            e_invoices_router,
            receipts_router,
            reports_router,
            audit_router(get_pool),
        ],
    )
    return secure_app(app, scope=scoping.REGISTRY)
