"""What the ids in billing's requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community."""

from billing.service_layer.visibility import E_INVOICE_REQUEST_RESOLVER
from propfee.auth import (
    COMPANY,
    Kind,
    ScopeRegistry,
    column_resolver,
    community_resolver,
)

COMMUNITY = Kind("community", community_resolver)
UNIT = Kind("unit", column_resolver("units", "unit_id"))
#: ``"*"`` on shared meter readings: the whole community.
BUILDING = Kind("building", column_resolver("buildings", "building_id"), wildcards=frozenset({"*"}))
INVOICE = Kind("invoice", column_resolver("invoices", "invoice_id"))
PARTY = Kind("party", column_resolver("parties", "party_id"))
PAYMENT = Kind("payment", column_resolver("payments_received", "payment_id"))
RUN = Kind("billing run", column_resolver("billing_runs", "run_id"))
E_INVOICE_REQUEST = Kind("e-invoice request", E_INVOICE_REQUEST_RESOLVER)
WAIVER_REQUEST = Kind("waiver request", column_resolver("late_fee_waiver_requests", "request_id"))

REGISTRY = ScopeRegistry(
    fields={
        "community_id": COMMUNITY,
        "company_id": COMPANY,
        "unit_id": UNIT,
        "building_id": BUILDING,
        "invoice_id": INVOICE,
        "invoice_ids": INVOICE,
        "party_id": PARTY,
        "payer_party_id": PARTY,
        "liable_party_id": PARTY,
        "payment_id": PAYMENT,
        "request_id": E_INVOICE_REQUEST,
        "waiver_request_id": WAIVER_REQUEST,
        "run_id": RUN,
    },
    not_references={
        "tax_id": "a taxpayer's registration number on an e-invoice request",
        "app_user_id": "the owner app's user id: contact data, not a record here",
    },
)
