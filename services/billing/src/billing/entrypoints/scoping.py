"""What the ids in billing's requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community."""

from propfee.auth import COMPANY, Kind, ScopeRegistry, sql_resolver

_IN_COMMUNITY = "JOIN communities c USING (community_id)"

COMMUNITY = Kind(
    "community",
    sql_resolver(
        "SELECT community_id AS id, community_id, company_id FROM communities "
        "WHERE community_id = ANY($1::text[])"
    ),
)
UNIT = Kind(
    "unit",
    sql_resolver(
        f"SELECT u.unit_id AS id, u.community_id, c.company_id FROM units u {_IN_COMMUNITY} "
        "WHERE u.unit_id = ANY($1::text[])"
    ),
)
BUILDING = Kind(
    "building",
    sql_resolver(
        "SELECT b.building_id AS id, b.community_id, c.company_id FROM buildings b "
        f"{_IN_COMMUNITY} "
        "WHERE b.building_id = ANY($1::text[])"
    ),
    wildcards=frozenset({"*"}),
)
INVOICE = Kind(
    "invoice",
    sql_resolver(
        f"SELECT i.invoice_id AS id, i.community_id, c.company_id FROM invoices i {_IN_COMMUNITY} "
        "WHERE i.invoice_id = ANY($1::text[])"
    ),
)
PARTY = Kind(
    "party",
    sql_resolver(
        f"SELECT p.party_id AS id, p.community_id, c.company_id FROM parties p {_IN_COMMUNITY} "
        "WHERE p.party_id = ANY($1::text[])"
    ),
)
PAYMENT = Kind(
    "payment",
    sql_resolver(
        "SELECT p.payment_id AS id, p.community_id, c.company_id FROM payments_received p "
        f"{_IN_COMMUNITY} WHERE p.payment_id = ANY($1::text[])"
    ),
)
E_INVOICE_REQUEST = Kind(
    "e-invoice request",
    sql_resolver(
        "SELECT r.request_id AS id, u.community_id, c.company_id FROM e_invoice_requests r "
        f"JOIN units u USING (unit_id) {_IN_COMMUNITY} WHERE r.request_id = ANY($1::text[])"
    ),
)

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
    },
    not_references={
        "before_id": "the audit trail's paging cursor (rows are filtered by scope in SQL)",
        "tax_id": "a taxpayer's registration number on an e-invoice request",
        "app_user_id": "the owner app's user id: contact data, not a record here",
    },
)
