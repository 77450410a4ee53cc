"""What the ids in payments' requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community.
Payments knows units and parties from billing's invoices and from its own payments and
orders; a unit it has never heard of may be paid for only in the in-scope community the
request names (``PREPAYMENT``)."""

from propfee.auth import (
    Kind,
    ScopeRegistry,
    column_resolver,
    community_resolver,
    new_ids,
    sql_resolver,
)

_COMPANY = "LEFT JOIN communities c USING (community_id)"


def _known(column: str) -> str:
    """The community of each id in ``column`` of billing's invoices, payments or orders."""
    return (
        f"SELECT DISTINCT ON (k.id) k.id, k.community_id, c.company_id FROM ("
        f" SELECT {column} AS id, community_id, 1 AS rank FROM invoices"
        f"  WHERE {column} = ANY($1::text[]) UNION ALL"
        f" SELECT {column}, community_id, 2 FROM payments WHERE {column} = ANY($1::text[])"
        f" UNION ALL SELECT {column}, community_id, 3 FROM payment_orders"
        f"  WHERE {column} = ANY($1::text[])) k {_COMPANY} ORDER BY k.id, k.rank"
    )


COMMUNITY = Kind("community", community_resolver)
REFUND = Kind(
    "refund",
    sql_resolver(
        "SELECT r.refund_id AS id, p.community_id, c.company_id FROM refunds r "
        "JOIN payments p USING (payment_id) LEFT JOIN communities c "
        "ON c.community_id = p.community_id WHERE r.refund_id = ANY($1::text[])"
    ),
)
UNIT = Kind("unit", sql_resolver(_known("unit_id")))
PARTY = Kind("party", sql_resolver(_known("payer_party_id")))
INVOICE = Kind("invoice", column_resolver("invoices", "invoice_id"))
PAYMENT = Kind("payment", column_resolver("payments", "payment_id"))
RECEIPT = Kind("receipt", column_resolver("payments", "receipt_no"))
ORDER = Kind("order", column_resolver("payment_orders", "order_id"))
#: A pay link's token (``/pay-links/{token}/...``): the link's community. Only staff routes
#: are checked here; the owners' open links (``/p/{token}``, ``/qr/{token}``) are not scoped.
PAY_LINK = Kind("pay link", column_resolver("pay_links", "token"))
#: A merchant account (WeChat Pay mchid, Alipay app_id, UnionPay merId): a company-level record
#: of the company owning it (``service_layer.accounts``); one without a company is the
#: deployment's.
MERCHANT_ACCOUNT = Kind(
    "merchant account",
    sql_resolver(
        "SELECT DISTINCT ON (merchant_id) merchant_id AS id, NULL::text AS community_id, "
        "company_id FROM merchant_accounts WHERE merchant_id = ANY($1::text[]) "
        "ORDER BY merchant_id, configured DESC"
    ),
)

REGISTRY = ScopeRegistry(
    fields={
        "community_id": COMMUNITY,
        "unit_id": UNIT,
        "payer_party_id": PARTY,
        "invoice_id": INVOICE,
        "invoice_ids": INVOICE,
        "payment_id": PAYMENT,
        "refund_id": REFUND,
        "receipt_no": RECEIPT,
        "order_id": ORDER,
        "merchant_id": MERCHANT_ACCOUNT,
        "token": PAY_LINK,
    },
    not_references={
        "exception_id": "gateway-level: resolved by its merchant account's company "
        "(payments.service_layer.access.exception)",
        "discrepancy_id": "gateway-level: resolved by its merchant account's company "
        "(payments.service_layer.access.discrepancy)",
    },
)

#: Money may be taken for a unit (and its payer) payments has not heard of yet: it learns units
#: from billing's invoices, and an owner may prepay before the first one. The unit is then taken
#: to be in the community the request names (which must be in scope); a unit or payer payments
#: knows must be in that community, like every other id.
PREPAYMENT = new_ids("unit_id", "payer_party_id")
